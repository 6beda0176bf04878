/**
 * The child-trainer process of a cluster (its container's entry point):
 * reads its environment once (config.ts lists the variables; a bad one is
 * reported in one line naming it, exit code 2), starts the tensor backend,
 * connects to NATS, makes sure the streams exist, then trains children from
 * the work queue until SIGTERM or SIGINT, when it hands the current child
 * back and exits.
 */
import { hostname } from 'node:os';
import { ConfigError } from '@nasnet/config';
import { initBackend } from '@nasnet/engine';
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend registers our gradients
import { runChildTask } from '@nasnet/trainer';
import { connectBus, ensureStreams } from '@nasnet/bus';
import { trainerConfigFromEnv, type TrainerConfig } from './config.js';
import { runTrainerLoop } from './jetstream-worker.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
let config: TrainerConfig;
try {
  config = trainerConfigFromEnv(process.env, { hostname: hostname(), pid: process.pid });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`trainer: ${err.message}\n`);
  process.exit(2);
}
const choice = await initBackend(config.backend, { log, ...(config.wasmHeapLimitMb ? { wasmHeapLimitBytes: config.wasmHeapLimitMb * 1024 * 1024 } : {}) });
log(`trainer ${config.trainerId}${config.searchId ? ` (launched for search ${config.searchId})` : ''}: backend ${choice.backend} (${choice.reason})`);

const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    log(`trainer ${config.trainerId}: ${sig}, handing back the current child`);
    stop.abort(new Error(sig));
  });
}

const bus = await connectBus(config.nats.url, {
  name: `nasnet-trainer-${config.trainerId}`, log,
  ...(config.nats.user ? { user: config.nats.user } : {}), ...(config.nats.pass ? { pass: config.nats.pass } : {}),
  ...(config.natsToken ? { token: config.natsToken } : {}),
});
await ensureStreams(bus.jsm);
const stats = await runTrainerLoop({
  bus, trainerId: config.trainerId, train: runChildTask, signal: stop.signal,
  heartbeatMs: config.heartbeatMs, ackWaitMs: config.ackWaitMs, maxAttempts: config.maxAttempts, log,
});
log(`trainer ${config.trainerId}: stopped after ${JSON.stringify(stats)}`);
await bus.close();
process.exit(0);
