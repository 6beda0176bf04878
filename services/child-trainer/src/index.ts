import { fileURLToPath } from 'node:url';

/** Path of the cluster trainer process (JetStream work queue), the container's entry point. */
export const JETSTREAM_TRAINER_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
export { runTrainerLoop } from './jetstream-worker.js';
export type { TrainerLoopOptions, TrainerLoopStats } from './jetstream-worker.js';
export { trainerConfigFromEnv, VARIABLES } from './config.js';
export type { TrainerConfig } from './config.js';
// Declared once, in @nasnet/trainer (the local worker processes of the embedded search take the same function).
export type { TrainFunction } from '@nasnet/trainer';
