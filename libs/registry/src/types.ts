/**
 * Where a registry keeps its jobs: a key-value store of JSON values. The
 * bus lib's KvStateStore (JetStream KV) and MemoryStateStore have this
 * shape; the registry names it itself so it depends on no transport.
 */
export interface StateStore<T> {
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** Life-cycle of a job. */
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** States a job never leaves. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'failed', 'cancelled']);

export const isFinal = (state: JobState): boolean => FINAL_STATES.has(state);

/** What the registry keeps of every job, whatever the service. */
export interface JobFields<Spec> {
  id: string;
  /** Order of acceptance (1, 2, ...): newest-first listing and page tokens use it. */
  number: number;
  /** The client's idempotency key: a second submit with it returns this job. */
  requestId?: string;
  /** Who submitted it (the name of the caller's token). */
  submitter?: string;
  createdAtMs: number;
  updatedAtMs: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  runState: JobState;
  /** Why it failed or was cancelled. */
  message?: string;
  /** Sequence number of the job's latest event (0: none yet). */
  lastSequence: number;
  spec: Spec;
}

/**
 * A stored job: the common fields plus the service's own status fields,
 * side by side in one flat JSON object (so a stored search reads as
 * `{ id, runState, loop, ... }`). The service's fields must not reuse the
 * common names.
 */
export type Job<Spec, Status extends object> = Status & JobFields<Spec>;

/** One numbered event of a job. */
export interface JobEvent<Event> {
  jobId: string;
  /** 1, 2, ... per job, never reused (also across restarts). */
  sequence: number;
  timeMs: number;
  event: Event;
}

/** What a watcher receives: the job's events in order, then `'end'` once the job is final. */
export type JobWatcher<Event> = (e: JobEvent<Event> | 'end') => void;

/** A stored entry recovery could not use: left for an operator, never started. */
export interface QuarantinedEntry {
  /** The key it was stored under. */
  key: string;
  /** Why it could not be used. */
  reason: string;
  /** When it was quarantined (unix ms). */
  atMs: number;
  /**
   * Where its value is now: the quarantine key it was moved to, or its own
   * key when it could not be read at all (it stays where it was).
   */
  location: string;
}

/** One page of a listing, newest first. */
export interface JobPage<J> {
  jobs: J[];
  /** Give it back to get the next page; '' on the last page. */
  nextPageToken: string;
}

export interface ListQuery<S extends string = JobState> {
  /** Only jobs in one of these states; empty or unset = all. */
  states?: readonly S[];
  /** @default the registry's defaultPageSize; larger values are cut to its maxPageSize */
  pageSize?: number;
  /** nextPageToken of the previous page. */
  pageToken?: string;
}

/** What recover() found. */
export interface RecoveryReport<J> {
  /** Jobs that were pending or running: in memory again, for the service to start. */
  unfinished: J[];
  /** Finished jobs found (they stay in the store and are read when asked for). */
  finished: number;
  /** Entries set aside during this recovery and earlier ones. */
  quarantined: QuarantinedEntry[];
}
