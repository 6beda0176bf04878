import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy, type ConsumerConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { BusConnection } from './connect.js';
import { SearchQueueError } from './errors.js';
import { CONSUMER_TRAINERS, KV_SEARCHES, STREAM_TASKS, taskSubject } from './types.js';

const MS = 1_000_000; // nanoseconds per millisecond: consumer durations are nanoseconds

/**
 * Per-search work queues: the children of search S are published on
 * nas.tasks.<S> (JetStreamExecutor); the controller gives S its own durable
 * pull consumer `trainers-<S>` filtered on that subject when S starts, and
 * deletes it (purging what is left of S's tasks) when S ends. The trainers
 * launched for S (SEARCH_ID) bind to that consumer only, so S's children go
 * to S's trainers with S's image, GPUs and memory, and each search is served
 * by its own trainers at the same time as the others.
 *
 * NAS_TASKS is a work-queue stream: its consumers' filters must not overlap,
 * so the shared consumer `trainers` (nas.tasks.>, trainers without SEARCH_ID,
 * a controller with no launcher) and per-search consumers cannot live on one
 * server at the same time; whichever is created second is refused, and
 * SearchQueueError says why.
 *
 * Queue epochs. A task's Nats-Msg-Id (JetStreamExecutor) is remembered for
 * NAS_TASKS's duplicate window (24 h), so a restarted controller queueing an
 * in-flight child again queues nothing twice. But a purge removes the tasks
 * and not the ids: a child purged before any trainer took it, queued again
 * when its search resumes, would carry the same id and be dropped. So every
 * search has a queue epoch in nas_searches (key `<searchId>.queue-epoch`,
 * JSON `{"epoch":n,"purging":bool}`; absent: 0), which closeSearchQueue
 * raises when it purges; the executor reads it when it starts following the
 * search and names it in the id (`...g<generation>.e<epoch>`, the old form
 * for epoch 0). Same epoch, same ids: no purge in between, nothing queued
 * twice; a new epoch after a purge: ids JetStream has not seen.
 */
export const SEARCH_QUEUE_PREFIX = `${CONSUMER_TRAINERS}-`;

/** Consumer names may not hold '.', '*', '>', whitespace or path separators (nats-server). */
const NAME_SAFE = /^[-_A-Za-z0-9]{1,200}$/;

/** The durable consumer of search `searchId`'s trainers: `trainers-<searchId>`. */
export function searchQueueName(searchId: string): string {
  if (!NAME_SAFE.test(searchId)) throw new SearchQueueError(searchId, 'name', 'a search id with a queue of its own must be 1 to 200 characters of A-Z a-z 0-9 - _');
  return `${SEARCH_QUEUE_PREFIX}${searchId}`;
}

export interface SearchQueueOptions {
  /** A delivery not acked or marked working() within this time goes to another trainer of the search. @default 30000 */
  ackWaitMs?: number;
  /** Training attempts per child (the consumer allows one more delivery, see TrainerConsumer). @default 5 */
  maxAttempts?: number;
  /** Redelivery delays after a vanished trainer. @default [ackWaitMs] (see TrainerConsumerOptions.backoffMs) */
  backoffMs?: number[];
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/**
 * Creates search `searchId`'s consumer, or leaves an existing one as it is
 * (a restarted controller resuming the search). Throws SearchQueueError
 * when the server refuses it (the shared `trainers` consumer exists, see
 * above).
 */
export async function openSearchQueue(bus: BusConnection, searchId: string, options: SearchQueueOptions = {}): Promise<void> {
  const name = searchQueueName(searchId);
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const want: Partial<ConsumerConfig> = {
    durable_name: name,
    description: `NASNet child trainers of search ${searchId}: one ChildTask per pull, explicit ack`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: taskSubject(searchId),
    ack_wait: Math.round(ackWaitMs * MS),
    max_deliver: maxAttempts + 1,
    // One delay: Debian's server (2.9) lengthens nak delays by backoff[n] - backoff[0] (see TrainerConsumerOptions).
    backoff: (options.backoffMs ?? [ackWaitMs]).slice(0, maxAttempts).map((ms) => Math.round(ms * MS)),
    max_waiting: 2048,
  };
  try {
    await bus.jsm.consumers.info(STREAM_TASKS, name);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw new SearchQueueError(searchId, 'info', (err as Error).message, { cause: err });
  }
  // No consumer: the search is not served now (it starts, or resumes after it ended). A close that
  // raised the epoch but stopped before its purge finished left the older epochs' tasks behind:
  // purge them before the trainers come, or a resumed child would be trained under both epochs.
  await finishPendingPurge(bus, searchId);
  try {
    await bus.jsm.consumers.add(STREAM_TASKS, want);
  } catch (err) {
    const message = (err as Error).message;
    const why = /not unique|multiple/i.test(message)
      ? `${message}: the shared '${CONSUMER_TRAINERS}' consumer (trainers started without SEARCH_ID, a controller with NASNET_LAUNCHER=none) exists on this server; `
        + 'stop those trainers and delete it, or run this controller with NASNET_LAUNCHER=none'
      : message;
    throw new SearchQueueError(searchId, 'create', why, { cause: err });
  }
}

/**
 * Deletes search `searchId`'s consumer and purges the tasks left on
 * nas.tasks.<searchId> (nobody will train them), raising the search's queue
 * epoch (see above) so that the children purged here are queued again under
 * new ids if the search resumes. Its trainers notice the consumer is gone
 * and exit 0. Harmless when there is none; each call raises the epoch.
 */
export async function closeSearchQueue(bus: BusConnection, searchId: string): Promise<void> {
  const name = searchQueueName(searchId);
  try {
    await bus.jsm.consumers.delete(STREAM_TASKS, name);
  } catch (err) {
    if (!isNotFound(err)) throw new SearchQueueError(searchId, 'delete', (err as Error).message, { cause: err });
  }
  // A crash before this point leaves the tasks and the epoch as they were: a resume trains the
  // tasks left and its re-dispatches carry their ids, which the duplicate window drops.
  // The epoch goes up before the purge, marked `purging` until the purge is done. Purging first
  // would lose children: a crash between the two leaves no tasks and the old epoch, whose ids
  // JetStream drops. Raising first, a crash leaves the old epoch's tasks in the stream under a new
  // epoch; the `purging` mark makes the next openSearchQueue (a resumed search, before any new task
  // is published) purge them, so a child is neither lost nor trained twice. (An executor that reads
  // a record still marked purging, with no openSearchQueue before it: a controller without
  // launcher, uses its epoch: the leftovers may then be trained as well, never lost.)
  const epochs = await epochBucket(bus, searchId, 'purge');
  let marked: EpochRecord;
  for (let tries = 0; ; tries++) {
    const current = await wrapRead(searchId, 'purge', readEpochRecord(epochs, searchId, 'purge'));
    try {
      marked = await writeEpochRecord(epochs, searchId, { epoch: current.epoch + 1, purging: true }, current.revision);
      break;
    } catch (err) {
      // Another controller raised it meanwhile (compare and set on the revision): raise from its value.
      if (isWrongLastSequence(err) && tries < 3) continue;
      throw new SearchQueueError(searchId, 'purge', `raising the queue epoch: ${(err as Error).message}`, { cause: err });
    }
  }
  await purgeTasks(bus, searchId);
  await settleEpochRecord(epochs, searchId, marked);
}

/** Key of a search's queue epoch in nas_searches: dotted, so KvStateStore.keys() never lists it as a search. */
export function queueEpochKey(searchId: string): string {
  return `${searchId}.queue-epoch`;
}

interface EpochRecord {
  epoch: number;
  /** Raised by a close whose purge is not known to have finished. */
  purging: boolean;
  /** KV revision of the entry (0: none yet). */
  revision: number;
}

type EpochAction = 'info' | 'purge';

/** The nas_searches bucket (binding it asks the server nothing; ensureStreams creates it). */
async function epochBucket(bus: BusConnection, searchId: string, action: EpochAction): Promise<KV> {
  try {
    return await new Kvm(bus.js).open(KV_SEARCHES);
  } catch (err) {
    throw new SearchQueueError(searchId, action, `opening the ${KV_SEARCHES} bucket for the queue epoch: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The record in the bucket. A failed read throws the client's error as it
 * is (the executor retries a transient one through an outage); an entry
 * that is no record throws SearchQueueError.
 */
async function readEpochRecord(kv: KV, searchId: string, action: EpochAction): Promise<EpochRecord> {
  const key = queueEpochKey(searchId);
  const entry = await kv.get(key);
  if (!entry || entry.operation !== 'PUT') return { epoch: 0, purging: false, revision: entry?.revision ?? 0 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry.string());
  } catch (err) {
    throw new SearchQueueError(searchId, action, `${KV_SEARCHES} ${key} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const { epoch, purging } = (parsed ?? {}) as { epoch?: unknown; purging?: unknown };
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new SearchQueueError(searchId, action, `${KV_SEARCHES} ${key}: epoch must be a non-negative integer, got ${JSON.stringify(epoch)}`);
  }
  if (typeof purging !== 'boolean') throw new SearchQueueError(searchId, action, `${KV_SEARCHES} ${key}: purging must be a boolean, got ${JSON.stringify(purging)}`);
  return { epoch, purging, revision: entry.revision };
}

/** A failed read of the record as SearchQueueError (what openSearchQueue and closeSearchQueue throw). */
async function wrapRead(searchId: string, action: EpochAction, read: Promise<EpochRecord>): Promise<EpochRecord> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof SearchQueueError) throw err;
    throw new SearchQueueError(searchId, action, `reading ${KV_SEARCHES} ${queueEpochKey(searchId)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the record if the entry still has `revision`; returns it with its new revision. */
async function writeEpochRecord(kv: KV, searchId: string, record: Omit<EpochRecord, 'revision'>, revision: number): Promise<EpochRecord> {
  const value = JSON.stringify({ epoch: record.epoch, purging: record.purging });
  return { ...record, revision: await kv.put(queueEpochKey(searchId), value, { previousSeq: revision }) };
}

/** Clears the `purging` mark of `record` once its purge is done, unless someone moved the entry on meanwhile (theirs stands). */
async function settleEpochRecord(kv: KV, searchId: string, record: EpochRecord): Promise<void> {
  try {
    await writeEpochRecord(kv, searchId, { epoch: record.epoch, purging: false }, record.revision);
  } catch (err) {
    if (isWrongLastSequence(err)) return;
    throw new SearchQueueError(searchId, 'purge', `clearing the purging mark of the queue epoch: ${(err as Error).message}`, { cause: err });
  }
}

async function purgeTasks(bus: BusConnection, searchId: string): Promise<void> {
  try {
    await bus.jsm.streams.purge(STREAM_TASKS, { filter: taskSubject(searchId) });
  } catch (err) {
    throw new SearchQueueError(searchId, 'purge', (err as Error).message, { cause: err });
  }
}

/** Purges what a close that stopped between raising the epoch and purging left behind (see closeSearchQueue). */
async function finishPendingPurge(bus: BusConnection, searchId: string): Promise<void> {
  const epochs = await epochBucket(bus, searchId, 'info');
  const record = await wrapRead(searchId, 'info', readEpochRecord(epochs, searchId, 'info'));
  if (!record.purging) return;
  await purgeTasks(bus, searchId);
  await settleEpochRecord(epochs, searchId, record);
}

/**
 * Search `searchId`'s queue epoch (0 when none was recorded, or the
 * nas_searches bucket does not exist: no close can have raised it there).
 * Throws the client's error when the read fails (JetStreamExecutor retries
 * a transient one), SearchQueueError when the entry is no epoch record.
 */
export async function readQueueEpoch(bus: BusConnection, searchId: string): Promise<number> {
  const kv = await epochBucket(bus, searchId, 'info');
  try {
    return (await readEpochRecord(kv, searchId, 'info')).epoch;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return 0;
    throw err;
  }
}

/** The searches that have a queue of their own now. */
export async function listSearchQueues(bus: BusConnection): Promise<string[]> {
  const ids: string[] = [];
  for await (const info of bus.jsm.consumers.list(STREAM_TASKS)) {
    if (info.name.startsWith(SEARCH_QUEUE_PREFIX)) ids.push(info.name.slice(SEARCH_QUEUE_PREFIX.length));
  }
  return ids;
}

/** Whether search `searchId`'s consumer exists (false: the search ended, or never had one). */
export async function searchQueueExists(bus: BusConnection, searchId: string): Promise<boolean> {
  try {
    await bus.jsm.consumers.info(STREAM_TASKS, searchQueueName(searchId));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Deletes the shared `trainers` consumer, if there is one (a controller that
 * gives every search its own queue starts on a server a shared-queue setup
 * used before); true when there was one.
 */
export async function deleteSharedQueue(bus: BusConnection): Promise<boolean> {
  try {
    await bus.jsm.consumers.delete(STREAM_TASKS, CONSUMER_TRAINERS);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
