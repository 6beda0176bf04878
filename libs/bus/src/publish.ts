import { JetStreamApiError } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { ChildResult, ChildTask } from '@nasnet/search';
import { encodeChildResult } from './codec.js';
import type { BusConnection } from './connect.js';
import { ResultSubjectTakenError } from './errors.js';
import { dlqSubject, resultSubject } from './types.js';

/** Headers of a dead letter; its body is the original message's bytes. */
export const DLQ_HEADERS = {
  reason: 'Nas-Dlq-Reason',
  subject: 'Nas-Dlq-Subject',
  stream: 'Nas-Dlq-Stream',
  streamSequence: 'Nas-Dlq-Stream-Seq',
  deliveries: 'Nas-Dlq-Deliveries',
  by: 'Nas-Dlq-By',
} as const;

/**
 * Publishes a child's result where its executor waits (and where a
 * restarted controller finds it): resultSubject(searchId, childId,
 * generation), the generation of the task being answered
 * (TaskDelivery.generation; the executor waits on no other, so a trainer
 * must pass it: 0, the default, is the subject of builds before generations). `msgId` (Nats-Msg-Id) lets a publisher
 * retry a publish whose acknowledgement it lost without storing it twice.
 * Throws ResultSubjectTakenError when the subject already holds a result
 * (NAS_RESULTS keeps the first one per subject and refuses the rest).
 */
export async function publishChildResult(
  bus: BusConnection, task: Pick<ChildTask, 'searchId' | 'hash'>, result: ChildResult, options: { generation?: number; msgId?: string } = {},
): Promise<void> {
  const subject = resultSubject(task.searchId, result.childId, options.generation ?? 0);
  try {
    await bus.js.publish(subject, encodeChildResult(result, { searchId: task.searchId, genotypeHash: task.hash }),
      options.msgId ? { msgID: options.msgId } : undefined);
  } catch (err) {
    if (isSubjectFull(err)) throw new ResultSubjectTakenError(subject, { cause: err });
    throw err;
  }
}

/** JetStream's answer to a message over max_msgs_per_subject with discard new per subject. */
function isSubjectFull(err: unknown): boolean {
  return err instanceof JetStreamApiError && /maximum messages per subject exceeded/i.test(err.message);
}

/** What a dead letter records besides the raw bytes. */
export interface DeadLetter {
  kind: string;
  data: Uint8Array;
  reason: string;
  subject: string;
  stream?: string;
  streamSequence?: number;
  deliveries?: number;
  /** Process that gave up on it (trainer id). */
  by?: string;
  /**
   * Nats-Msg-Id of the dead letter, so one bad message seen twice (a trainer
   * that died between dead-lettering and terming it, a controller that met
   * a bad result both in its lookup and in its consumer) is stored once
   * within NAS_DLQ's duplicate window.
   * @default `<stream>.<streamSequence>` when both are given, else none
   */
  msgId?: string;
}

/** Header values are one line: newlines and other control characters become spaces. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 4000);

/** Publishes a message nobody could process to nas.dlq.<kind>, with why in the Nas-Dlq-* headers. */
export async function publishDeadLetter(bus: BusConnection, letter: DeadLetter): Promise<void> {
  const h = natsHeaders();
  h.set(DLQ_HEADERS.reason, oneLine(letter.reason));
  h.set(DLQ_HEADERS.subject, oneLine(letter.subject));
  if (letter.stream) h.set(DLQ_HEADERS.stream, letter.stream);
  if (letter.streamSequence !== undefined) h.set(DLQ_HEADERS.streamSequence, String(letter.streamSequence));
  if (letter.deliveries !== undefined) h.set(DLQ_HEADERS.deliveries, String(letter.deliveries));
  if (letter.by) h.set(DLQ_HEADERS.by, oneLine(letter.by));
  const msgID = letter.msgId ?? (letter.stream && letter.streamSequence !== undefined ? `${letter.stream}.${letter.streamSequence}` : undefined);
  await bus.js.publish(dlqSubject(letter.kind), letter.data, { headers: h, ...(msgID ? { msgID } : {}) });
}
