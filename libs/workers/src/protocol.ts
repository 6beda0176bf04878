/**
 * The IPC protocol between a parent and a worker process (child_process.fork
 * with `serialization: 'advanced'`, so tasks, progress and results travel as
 * structured clones). Generic over the task T, the progress P, the result R
 * and the start settings S.
 *
 * 1. worker -> `listening` once its message handler is attached (messages
 *    sent before that would be dropped, so the parent waits for it);
 * 2. parent -> `start` with the worker's index and settings; the worker runs
 *    its start function (e.g. picks a tensor backend) and answers `ready`, or
 *    `start_failed` and exits;
 * 3. parent -> `task` (one at a time), worker -> any number of `progress`,
 *    then `result` or `error` with the same id; parent -> `cancel` aborts the
 *    task's signal;
 * 4. parent -> `shutdown`, or the parent goes away: the worker exits.
 */

/** What a worker reports when it is ready: the compute backend it runs on and why it was chosen. */
export interface WorkerReady {
  backend: string;
  reason: string;
}

/** Parent -> worker. */
export type ToWorker<T, S> =
  | { type: 'start'; worker: number; settings: S }
  | { type: 'task'; id: number; task: T }
  | { type: 'cancel'; id: number }
  | { type: 'shutdown' };

/** Worker -> parent. */
export type FromWorker<P, R> =
  | { type: 'listening' }
  | { type: 'ready'; backend: string; reason: string }
  | { type: 'start_failed'; name: string; message: string }
  | { type: 'progress'; id: number; progress: P }
  | { type: 'result'; id: number; result: R }
  | { type: 'error'; id: number; name: string; message: string };

/** Hooks a work function gets with each task. */
export interface WorkHooks<P> {
  onProgress: (progress: P) => void;
  /** Aborted when the parent cancels the task or shuts the worker down. */
  signal: AbortSignal;
}

/** What a worker process does with one task. */
export type WorkFunction<T, P, R> = (task: T, hooks: WorkHooks<P>) => Promise<R>;

/** Which worker of a pool this process is, and the settings its parent started it with. */
export interface WorkerContext<S> {
  worker: number;
  settings: S;
}
