import type { ChildProgress, ChildResult, ChildTask, SearchEvent } from '@nasnet/search';

/**
 * The bus contract between controller, child trainers and metrics. Subjects
 * and streams (JetStream):
 *   stream NAS_TASKS   subjects nas.tasks.<searchId>            work queue, one ChildTask per message,
 *                      Nats-Msg-Id = <searchId>.<childId>.<phase>.g<generation>[.e<queue epoch>] with a long
 *                      duplicate window (the epoch, when above 0, counts the purges of the search's queue:
 *                      see search-queue.ts), header Nas-Generation
 *   stream NAS_RESULTS subjects nas.results.<searchId>.<childId>.<generation>  ChildResult, written once per subject
 *                      (discard new per subject: the server refuses a second message)
 *   stream NAS_EVENTS  subjects nas.events.<searchId>           BusEvent (search events, progress, trainer heartbeats)
 *   stream NAS_DLQ     subjects nas.dlq.<kind>                  dead letters: the raw message plus its reason
 *   KV bucket nas_searches  key <searchId>                      the search state (JSON)
 *                           key <searchId>.queue-epoch          the search queue's epoch (JSON, search-queue.ts)
 *   KV bucket nas_cancels   key <searchId> or <searchId>.<childId>  cancellation markers (value: the reason)
 *   KV bucket nas_transfers key <transferId> (+ <transferId>=events)  the transfer service's transfers (JSON)
 * Messages are protobuf (nas.v1) where the contract has a message, JSON otherwise:
 * ChildTask and ChildResult are nas.v1 messages; BusEvent is JSON (nas.v1.SearchEvent
 * cannot carry the domain SearchEvent without loss: phase changes, duplicateOf,
 * clipFraction), and so are dead letters' reasons (headers).
 */
export const STREAM_TASKS = 'NAS_TASKS';
export const STREAM_RESULTS = 'NAS_RESULTS';
export const STREAM_EVENTS = 'NAS_EVENTS';
export const STREAM_DLQ = 'NAS_DLQ';
export const KV_SEARCHES = 'nas_searches';
export const KV_CANCELS = 'nas_cancels';
/** The transfer service's transfers (JobRegistry entries); the transfer service creates it itself. */
export const KV_TRANSFERS = 'nas_transfers';
export const CONSUMER_TRAINERS = 'trainers';

export const taskSubject = (searchId: string) => `nas.tasks.${searchId}`;
/**
 * Where generation `generation` of a child answers: nas.results.<searchId>.<childId>.<generation>,
 * written once (NAS_RESULTS discards a second message per subject). A child queued again (its result
 * was refused, or it was cancelled and is resumed) gets the next generation, so a new subject and a
 * new Nats-Msg-Id. Generation 0 is the subject without a generation, where builds before generations
 * answered; it is still read, never written by the controller's tasks.
 */
export const resultSubject = (searchId: string, childId: number, generation = 0) =>
  (generation > 0 ? `nas.results.${searchId}.${childId}.${generation}` : `nas.results.${searchId}.${childId}`);
/** Header of a task naming its generation (absent: 0). Only the controller may publish tasks, so trainers trust it. */
export const HEADER_GENERATION = 'Nas-Generation';
export const eventSubject = (searchId: string) => `nas.events.${searchId}`;
export const dlqSubject = (kind: string) => `nas.dlq.${kind}`;
/** Cancellation marker of a whole search (no childId) or of one child, in KV_CANCELS. */
export const cancelKey = (searchId: string, childId?: number) => (childId === undefined ? searchId : `${searchId}.${childId}`);
/** BusEvents without a searchId (trainer heartbeats, queue gauges) go to nas.events.system, so no search may be called that. */
export const SYSTEM_EVENTS = 'system';

/** Everything that travels on nas.events.*: what the controller and trainers tell the world. */
export type BusEvent =
  | { kind: 'search'; searchId: string; sequence: number; timeMs: number; event: SearchEvent }
  | { kind: 'search_state'; searchId: string; timeMs: number; state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'; trainers?: number }
  | { kind: 'child_progress'; searchId: string; timeMs: number; trainer: string; progress: ChildProgress }
  | { kind: 'child_attempt'; searchId: string; timeMs: number; trainer: string; childId: number; attempt: number; redelivered: boolean }
  | { kind: 'trainer_heartbeat'; timeMs: number; trainer: string; busy: boolean }
  | { kind: 'queue'; timeMs: number; pending: number; inFlight: number };

/** One task handed to a trainer, with the acknowledgement controls of its delivery. */
export interface TaskDelivery {
  task: ChildTask;
  /** 1 on first delivery. */
  attempt: number;
  /** NAS_TASKS sequence of the task's message: names this queueing of the child (a re-queued child gets a new one). */
  streamSequence: number;
  /** The task's generation (header Nas-Generation; 0 when absent): its result goes to resultSubject(searchId, childId, generation). */
  generation: number;
  /** Training attempts allowed; a failure at attempt === maxAttempts is final. */
  maxAttempts: number;
  /** Extends the ack deadline while a long child trains. */
  working(): void;
  ack(): Promise<void>;
  /** Give it back for redelivery after delayMs. */
  nak(delayMs: number): void;
  /** Never redeliver (poison or final failure). */
  term(reason: string): Promise<void>;
}

export interface StateStore<T> {
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** Where a subscription to the event stream starts. */
export interface EventSubscribeOptions {
  /** Only this search's events (nas.events.<searchId>); all events when unset. */
  searchId?: string;
  /** Replay every stored event first. @default false (only new events) */
  deliverAll?: boolean;
  /** Replay the stored events published at or after this time (unix ms); wins over deliverAll. */
  fromTimeMs?: number;
  /** Called with an event that could not be decoded (it is skipped). @default ignore */
  onError?: (err: Error) => void;
  /** Status lines of the subscription itself (following again after a reconnect). @default a line on stderr */
  log?: (line: string) => void;
}

export interface EventSubscription {
  close(): Promise<void>;
}

/** Publishes and follows BusEvents: NATS in a cluster, memory in the embedded mode. */
export interface EventBus {
  publish(event: BusEvent): Promise<void>;
  subscribe(handler: (event: BusEvent) => void, options?: EventSubscribeOptions): Promise<EventSubscription>;
}

export type { ChildProgress, ChildResult, ChildTask, SearchEvent };
