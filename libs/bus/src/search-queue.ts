import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy, type ConsumerConfig,
} from '@nats-io/jetstream';
import type { BusConnection } from './connect.js';
import { SearchQueueError } from './errors.js';
import { CONSUMER_TRAINERS, STREAM_TASKS, taskSubject } from './types.js';

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
 * nas.tasks.<searchId> (nobody will train them). Its trainers notice the
 * consumer is gone and exit 0. Harmless when there is none.
 */
export async function closeSearchQueue(bus: BusConnection, searchId: string): Promise<void> {
  const name = searchQueueName(searchId);
  try {
    await bus.jsm.consumers.delete(STREAM_TASKS, name);
  } catch (err) {
    if (!isNotFound(err)) throw new SearchQueueError(searchId, 'delete', (err as Error).message, { cause: err });
  }
  try {
    await bus.jsm.streams.purge(STREAM_TASKS, { filter: taskSubject(searchId) });
  } catch (err) {
    throw new SearchQueueError(searchId, 'purge', (err as Error).message, { cause: err });
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
