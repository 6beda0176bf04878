/** The worker process ended (crash, kill, out of memory) before it answered a task, or before it was ready. */
export class WorkerCrashedError extends Error {
  constructor(
    readonly worker: number,
    readonly code: number | null,
    readonly signal: string | null,
    /** The last lines the process wrote to stderr, joined by ' | ' ('' when none). */
    readonly stderrTail: string,
    task: string,
    options?: ErrorOptions,
  ) {
    super(`worker ${worker} exited with ${signal ? `signal ${signal}` : `code ${code}`} while ${task}${stderrTail ? ` (${stderrTail})` : ''}`, options);
    this.name = 'WorkerCrashedError';
  }
}

/** The worker's start function threw (e.g. the tensor backend it was asked for is not available). */
export class WorkerStartError extends Error {
  constructor(readonly worker: number, readonly remoteName: string, remoteMessage: string, options?: ErrorOptions) {
    super(`worker ${worker} could not start: ${remoteName}: ${remoteMessage}`, options);
    this.name = 'WorkerStartError';
  }
}

/**
 * The work function threw in the worker. The error keeps the class name it
 * had there (`name`, also in `remoteName`), so callers can report
 * `${err.name}: ${err.message}` as if it had been thrown in their process.
 */
export class WorkerTaskError extends Error {
  readonly remoteName: string;

  constructor(remoteName: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = remoteName;
    this.remoteName = remoteName;
  }
}

/** The task's signal was aborted before it finished. */
export class WorkerCancelledError extends Error {
  constructor(task: string, when: 'before start' | 'while running', options?: ErrorOptions) {
    super(`${task} cancelled ${when}`, options);
    this.name = 'WorkerCancelledError';
  }
}

/** The pool or the process was closed before the task finished (or was handed a task after closing). */
export class WorkerClosedError extends Error {
  constructor(what: string, task: string, options?: ErrorOptions) {
    super(`${what} closed before ${task} finished`, options);
    this.name = 'WorkerClosedError';
  }
}

/** A WorkerProcess was handed a second task while it still worked on one. */
export class WorkerBusyError extends Error {
  constructor(worker: number, task: string) {
    super(`worker ${worker} is busy: ${task} must wait for the current task`);
    this.name = 'WorkerBusyError';
  }
}
