/**
 * Local worker processes that train children: the executor of the embedded
 * (single-machine) search.
 *
 * ```ts
 * const pool = new LocalWorkerPool({ workers: 2, entry: trainerWorkerEntry });
 * const result = await pool.execute(task, { onProgress });
 * await pool.close();
 * ```
 */
export { LocalWorkerPool, WorkerCrashedError } from './pool.js';
export type { WorkerPoolOptions } from './pool.js';
export { serveWorker } from './serve.js';
export type { ToWorker, FromWorker, TrainFunction } from './protocol.js';
