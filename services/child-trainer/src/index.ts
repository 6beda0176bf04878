import { fileURLToPath } from 'node:url';

/** Path of the module a local worker process runs (for LocalWorkerPool's `entry`). */
export const LOCAL_WORKER_ENTRY = fileURLToPath(new URL('./local-worker.ts', import.meta.url));

/** Path of the cluster trainer process (JetStream work queue), the container's entry point. */
export const JETSTREAM_TRAINER_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
export { runTrainerLoop } from './jetstream-worker.js';
export type { TrainFunction, TrainerLoopOptions, TrainerLoopStats } from './jetstream-worker.js';
export { trainerConfigFromEnv, VARIABLES } from './config.js';
export type { TrainerConfig } from './config.js';
