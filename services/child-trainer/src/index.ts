import { fileURLToPath } from 'node:url';

/** Path of the module a local worker process runs (for LocalWorkerPool's `entry`). */
export const LOCAL_WORKER_ENTRY = fileURLToPath(new URL('./local-worker.ts', import.meta.url));
