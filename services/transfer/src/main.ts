/**
 * Process entry of the transfer service. Environment (read only here):
 * TRANSFER_PORT (default 50052), TRANSFER_HOST (default 0.0.0.0, to be
 * reachable in a pod), TRANSFER_STATE_FILE (keep transfers across restarts),
 * TRANSFER_MAX_CONCURRENT (default 1), NAS_BACKEND (passed to the training
 * processes), CONTROLLER_ADDR (+ CONTROLLER_TOKEN): where a search_id's best
 * cell is looked up. Stops cleanly on SIGINT / SIGTERM.
 */
import { DEFAULT_TRANSFER_PORT, startTransferServer } from './server.js';
import { controllerSearchBest } from './controller-client.js';

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`${name}=${raw} is not an integer >= ${min}\n`);
    process.exit(2);
  }
  return value;
}

const server = await startTransferServer({
  host: process.env['TRANSFER_HOST'] || '0.0.0.0',
  port: intEnv('TRANSFER_PORT', DEFAULT_TRANSFER_PORT, 0),
  maxConcurrent: intEnv('TRANSFER_MAX_CONCURRENT', 1, 1),
  ...(process.env['TRANSFER_STATE_FILE'] ? { stateFile: process.env['TRANSFER_STATE_FILE'] } : {}),
  ...(process.env['CONTROLLER_ADDR'] ? { resolveSearchBest: controllerSearchBest(process.env['CONTROLLER_ADDR'], process.env['CONTROLLER_TOKEN']) } : {}),
});
process.stdout.write(`transfer service listening on ${server.address}\n`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`${signal}: stopping the transfer service\n`);
  server.close().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
