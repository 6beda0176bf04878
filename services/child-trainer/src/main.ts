/**
 * The child-trainer process of a cluster (its container's entry point):
 * starts the tensor backend (NAS_BACKEND, default auto), connects to NATS
 * (NATS_URL), makes sure the streams exist, then trains children from the
 * work queue until SIGTERM or SIGINT, when it hands the current child back
 * and exits. Settings: see trainerSettingsFromEnv.
 */
import { hostname } from 'node:os';
import { initBackend } from '@nasnet/engine';
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend registers our gradients
import { runChildTask } from '@nasnet/trainer';
import { connectBus, ensureStreams } from '@nasnet/bus';
import { runTrainerLoop, trainerSettingsFromEnv } from './jetstream-worker.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const settings = trainerSettingsFromEnv(process.env, { hostname: hostname(), pid: process.pid });
const choice = await initBackend(undefined, { log, ...(settings.wasmHeapLimitMb ? { wasmHeapLimitBytes: settings.wasmHeapLimitMb * 1024 * 1024 } : {}) });
log(`trainer ${settings.trainerId}: backend ${choice.backend} (${choice.reason})`);

const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    log(`trainer ${settings.trainerId}: ${sig}, handing back the current child`);
    stop.abort(new Error(sig));
  });
}

const bus = await connectBus(settings.natsUrl, {
  name: `nasnet-trainer-${settings.trainerId}`, log,
  ...(settings.user ? { user: settings.user } : {}), ...(settings.pass ? { pass: settings.pass } : {}),
  ...(settings.token ? { token: settings.token } : {}),
});
await ensureStreams(bus.jsm);
const stats = await runTrainerLoop({
  bus, trainerId: settings.trainerId, train: runChildTask, signal: stop.signal,
  heartbeatMs: settings.heartbeatMs, ackWaitMs: settings.ackWaitMs, maxAttempts: settings.maxAttempts, log,
});
log(`trainer ${settings.trainerId}: stopped after ${JSON.stringify(stats)}`);
await bus.close();
process.exit(0);
