import { fileURLToPath } from 'node:url';
import type { BackendName } from '@nasnet/engine';
import type { ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { WorkerPool, type WorkerPoolOptions, type WorkFunction } from '@nasnet/workers';

/** Trains one child: runChildTask in production; the cluster trainer loop and the tests take any such function. */
export type TrainFunction = WorkFunction<ChildTask, ChildProgress, ChildResult>;

/** What a local worker process is started with. */
export interface TrainerWorkerSettings {
  /** Tensor backend of the worker. @default initBackend's default */
  backend?: BackendName;
  /**
   * Threads each worker's wasm backend trains on (initBackend's `threads`).
   * @default initBackend's default (every core this process may use)
   */
  threads?: number;
}

/** Path of the module a local worker process runs (serves the @nasnet/workers protocol with runChildTask). */
export const LOCAL_WORKER_ENTRY = fileURLToPath(new URL('./local-worker.ts', import.meta.url));

/** The `trainer` a local worker writes into its results. */
export function localWorkerName(worker: number): string {
  return `local-worker-${worker}`;
}

/**
 * Local worker processes that train children: the executor of the embedded
 * (single-machine) search. A WorkerPool over ChildTask, ChildProgress and
 * ChildResult running LOCAL_WORKER_ENTRY, so it is a ChildExecutor.
 *
 * ```ts
 * const pool = new LocalWorkerPool({ workers: 2, settings: { backend: 'wasm' } });
 * const result = await pool.execute(task, { onProgress, signal });
 * await pool.close();
 * ```
 */
export class LocalWorkerPool extends WorkerPool<ChildTask, ChildProgress, ChildResult, TrainerWorkerSettings | undefined> {
  constructor(options: Partial<WorkerPoolOptions<ChildTask, TrainerWorkerSettings | undefined>> = {}) {
    super({ entry: LOCAL_WORKER_ENTRY, describeTask: (task) => `child ${task.childId}`, ...options });
  }
}
