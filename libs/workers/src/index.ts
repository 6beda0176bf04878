/**
 * Worker processes: a parent forks a module that calls serveWorker(), hands
 * it tasks one at a time and gets progress and a result (or an error that
 * keeps its class name) back over IPC. Generic over the task, progress,
 * result and start settings; knows nothing of what the work is. A process
 * that dies settles its task with WorkerCrashedError; a pool replaces it and
 * retries the task.
 *
 * ```ts
 * // worker.ts
 * serveWorker<Task, Progress, Result, Settings>({
 *   start: async ({ settings }) => initBackend(settings.backend),   // reported as ready
 *   work: (task, { onProgress, signal }) => doTask(task, onProgress, signal),
 * });
 *
 * // parent: a pool of long-lived workers ...
 * const pool = new WorkerPool<Task, Progress, Result, Settings>({ workers: 2, entry: WORKER_ENTRY, settings });
 * const result = await pool.execute(task, { onProgress, signal });
 * await pool.close();
 * // ... or one process for one task
 * const proc = new WorkerProcess<Task, Progress, Result, Settings>({ entry: WORKER_ENTRY, settings, killAfterMs: 5000 });
 * try { return await proc.run(task, { onProgress, signal }); } finally { await proc.close(); }
 * ```
 */
export { WorkerPool } from './pool.js';
export type { WorkerPoolOptions } from './pool.js';
export { WorkerProcess } from './process.js';
export type { RunHooks, WorkerProcessOptions, WorkerStream } from './process.js';
export { serveWorker } from './serve.js';
export type { ServeWorkerOptions } from './serve.js';
export type { FromWorker, ToWorker, WorkFunction, WorkHooks, WorkerContext, WorkerReady } from './protocol.js';
export {
  WorkerBusyError, WorkerCancelledError, WorkerClosedError, WorkerCrashedError, WorkerStartError, WorkerTaskError,
} from './errors.js';
