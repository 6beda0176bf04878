import { headers as natsHeaders } from '@nats-io/transport-node';
import type { ChildResult, ChildTask } from '@nasnet/search';
import { encodeChildResult } from './codec.js';
import type { BusConnection } from './connect.js';
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
 * restarted controller finds it). `msgId` (Nats-Msg-Id) lets a publisher
 * retry a publish whose acknowledgement it lost without storing it twice.
 */
export async function publishChildResult(
  bus: BusConnection, task: Pick<ChildTask, 'searchId' | 'hash'>, result: ChildResult, options: { msgId?: string } = {},
): Promise<void> {
  await bus.js.publish(resultSubject(task.searchId, result.childId), encodeChildResult(result, { searchId: task.searchId, genotypeHash: task.hash }),
    options.msgId ? { msgID: options.msgId } : undefined);
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
