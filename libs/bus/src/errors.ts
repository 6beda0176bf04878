/**
 * Errors of the bus. Decoding errors name the subject the bytes came from
 * and the field that was wrong, so a dead letter says exactly why.
 */

/** Bytes from the bus that are not the message their subject promises. */
export class BusDecodeError extends Error {
  constructor(readonly subject: string, readonly field: string, readonly reason: string, options?: ErrorOptions) {
    super(`undecodable message on '${subject}': ${field}: ${reason}`, options);
    this.name = 'BusDecodeError';
  }
}

/** A domain value that cannot be put on the wire (e.g. a seed above 2^32 - 1 for a uint32 field). */
export class BusEncodeError extends Error {
  constructor(readonly field: string, readonly reason: string, options?: ErrorOptions) {
    super(`cannot encode ${field}: ${reason}`, options);
    this.name = 'BusEncodeError';
  }
}

/** A stream or bucket exists with a setting ensureStreams cannot change in place (e.g. its retention). */
export class StreamConfigConflictError extends Error {
  constructor(readonly stream: string, readonly setting: string, options?: ErrorOptions) {
    super(`stream ${stream} exists with a different ${setting} that cannot be updated; delete it or use another server`, options);
    this.name = 'StreamConfigConflictError';
  }
}

/** A state-store key that cannot be a KV key (or would collide with the store's own chunk keys). */
export class StateStoreKeyError extends Error {
  constructor(readonly key: string, readonly reason: string, options?: ErrorOptions) {
    super(`state store key ${JSON.stringify(key)}: ${reason}`, options);
    this.name = 'StateStoreKeyError';
  }
}

/** A stored state whose bytes do not match its manifest (missing chunk, wrong size or digest). */
export class StateIntegrityError extends Error {
  constructor(readonly key: string, readonly reason: string, options?: ErrorOptions) {
    super(`state ${JSON.stringify(key)} is damaged: ${reason}`, options);
    this.name = 'StateIntegrityError';
  }
}

/** An execute() that was pending when its JetStreamExecutor closed. */
export class ExecutorClosedError extends Error {
  constructor(readonly searchId: string, readonly childId: number, options?: ErrorOptions) {
    super(`executor closed while child ${childId} of search ${searchId} was pending`, options);
    this.name = 'ExecutorClosedError';
  }
}

/** The AbortSignal of an execute() fired; `reason` is the signal's reason when it was an Error. */
export class ChildAbortedError extends Error {
  constructor(readonly searchId: string, readonly childId: number, readonly reason: string, options?: ErrorOptions) {
    super(`child ${childId} of search ${searchId} aborted: ${reason}`, options);
    this.name = 'ChildAbortedError';
  }
}

/** A search's own work queue (consumer trainers-<searchId>) could not be made, read, deleted or purged. */
export class SearchQueueError extends Error {
  constructor(readonly searchId: string, readonly action: 'name' | 'info' | 'create' | 'delete' | 'purge', readonly reason: string, options?: ErrorOptions) {
    super(`work queue of search ${searchId}: ${action}: ${reason}`, options);
    this.name = 'SearchQueueError';
  }
}

/** A trainer launched for a search found no queue for it: the search has ended (or never started). */
export class SearchQueueGoneError extends Error {
  constructor(readonly searchId: string, options?: ErrorOptions) {
    super(`search ${searchId} has no work queue (consumer trainers-${searchId}): it has ended, or never started`, options);
    this.name = 'SearchQueueGoneError';
  }
}

/** The shared consumer `trainers` (nas.tasks.>) was refused: per-search queues exist on this server. */
export class SharedQueueConflictError extends Error {
  constructor(readonly reason: string, options?: ErrorOptions) {
    super(`the shared work queue (consumer trainers on nas.tasks.>) cannot be made: ${reason}; this server gives each search its own queue `
      + '(a controller with a launcher): start trainers with SEARCH_ID, as the launcher does', options);
    this.name = 'SharedQueueConflictError';
  }
}

/** A bus operation kept meeting an unanswering server (an outage longer than its retry bound). */
export class BusRetryExhaustedError extends Error {
  constructor(readonly what: string, readonly tries: number, readonly elapsedMs: number, options?: ErrorOptions) {
    super(`${what}: the NATS server did not answer in ${tries} tries over ${Math.round(elapsedMs / 1000)} s`, options);
    this.name = 'BusRetryExhaustedError';
  }
}

/**
 * A result on a child's subject that the controller refuses: undecodable,
 * for another genotype than the task's, or with a reward outside [0, 1].
 * The child is queued again under a new generation.
 */
export class ResultRejectedError extends Error {
  constructor(readonly subject: string, readonly reason: string, options?: ErrorOptions) {
    super(`result on '${subject}' rejected: ${reason}`, options);
    this.name = 'ResultRejectedError';
  }
}

/** NAS_RESULTS refused a result: its subject (one child's generation) already holds one, and results are written once. */
export class ResultSubjectTakenError extends Error {
  constructor(readonly subject: string, options?: ErrorOptions) {
    super(`result subject '${subject}' already holds a result; the server refuses a second one`, options);
    this.name = 'ResultSubjectTakenError';
  }
}
