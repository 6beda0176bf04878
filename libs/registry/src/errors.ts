/** Errors of the job registry. Each names the job (or key) and what was wrong. */

/** The store refused or could not be reached for a write or read the caller needs (submit, get of a stored job). */
export class JobStoreError extends Error {
  constructor(readonly kind: string, readonly jobId: string, readonly operation: 'submit' | 'read', options?: ErrorOptions) {
    const cause = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? 'unknown error');
    super(operation === 'submit'
      ? `${kind} ${jobId} was not accepted: storing it failed (${cause}); nothing was registered, try again`
      : `${kind} ${jobId} could not be read from the store: ${cause}`, options);
    this.name = 'JobStoreError';
  }
}

/** No job with this id (in memory or in the store). */
export class JobNotFoundError extends Error {
  constructor(readonly kind: string, readonly jobId: string) {
    super(`${kind} '${jobId}' not found`);
    this.name = 'JobNotFoundError';
  }
}

/** A page token this registry did not issue. */
export class InvalidPageTokenError extends Error {
  constructor(readonly token: string) {
    super(`page_token '${token.slice(0, 40)}' is not a token this server issued`);
    this.name = 'InvalidPageTokenError';
  }
}

/** A stored value that is not a job (recovery quarantines it). */
export class JobDecodeError extends Error {
  constructor(readonly key: string, readonly field: string, readonly reason: string) {
    super(`stored job '${key}': ${field}: ${reason}`);
    this.name = 'JobDecodeError';
  }
}

/** An operation that needs a job in memory and running (emit, setState) on one that is not. */
export class JobNotLiveError extends Error {
  constructor(readonly kind: string, readonly jobId: string, readonly reason: string) {
    super(`${kind} ${jobId}: ${reason}`);
    this.name = 'JobNotLiveError';
  }
}

/** A job's stored list segments do not match its stored head (missing, torn by a concurrent write, or not a segment). */
export class JobListError extends Error {
  constructor(readonly key: string, readonly reason: string) {
    super(`stored list segment '${key}': ${reason}`);
    this.name = 'JobListError';
  }
}
