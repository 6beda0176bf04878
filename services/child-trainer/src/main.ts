/**
 * The child-trainer process of a cluster (its container's entry point):
 * reads its environment once (config.ts lists the variables; a bad one is
 * reported in one line naming it, exit code 2), starts the tensor backend,
 * connects to NATS (logging where; NATS_CONNECT_ATTEMPTS attempts with
 * back-off, then exit 1 with the reason), makes sure the streams exist, then
 * trains children from the work queue until SIGTERM or SIGINT, when it hands
 * the current child back and exits 0 (at once when it holds none).
 */
import { availableParallelism, hostname } from 'node:os';
import { ConfigError } from '@nasnet/config';
import { initBackend } from '@nasnet/engine';
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend registers our gradients
import { runChildTask } from '@nasnet/trainer';
import { connectBus, ensureStreams, natsAuthOptions, type BusConnection } from '@nasnet/bus';
import { effectiveWasmHeapLimitMb, trainerConfigFromEnv, wasmThreadsFor, type TrainerConfig } from './config.js';
import { connectWithRetry, NatsUnreachableError, runTrainerLoop } from './jetstream-worker.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
let config: TrainerConfig;
let heapLimitMb: number | undefined;
try {
  config = trainerConfigFromEnv(process.env, { hostname: hostname(), pid: process.pid });
  heapLimitMb = effectiveWasmHeapLimitMb(config);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`trainer: ${err.message}\n`);
  process.exit(2);
}
const who = `trainer ${config.trainerId}`;

// SIGTERM (a pod being stopped) ends the process promptly in every phase:
// before the loop it exits at once; in the loop the current child is handed
// back and the loop returns. Whatever hangs after that (a child that does not
// wind down, a drain to a dead server) meets the grace timer; a second signal
// exits at once.
const STOP_GRACE_MS = 10_000;
const stop = new AbortController();
let looping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stop.signal.aborted) {
      log(`${who}: second ${sig}, exiting now`);
      process.exit(1);
    }
    stop.abort(new Error(sig));
    if (!looping) {
      log(`${who}: ${sig} before training started, exiting`);
      process.exit(0);
    }
    log(`${who}: ${sig}, stopping (a child in training is handed back)`);
    setTimeout(() => {
      log(`${who}: still running ${STOP_GRACE_MS} ms after ${sig}, exiting`);
      process.exit(1);
    }, STOP_GRACE_MS).unref();
  });
}

// Started by a local launcher (TRAINER_STDIN_LIFELINE): standard input is a pipe
// from it, which the OS closes when that process ends, however it ends. A
// SIGKILLed controller sends no SIGTERM to its trainers; without this they
// would outlive it, reconnecting to a bus that may be gone, forever.
if (config.stdinLifeline) {
  let gone = false;
  const lost = () => {
    if (gone) return;
    gone = true;
    log(`${who}: the process that started it is gone (standard input closed)`);
    process.emit('SIGTERM', 'SIGTERM');
  };
  process.stdin.on('data', () => {});
  for (const event of ['end', 'close', 'error'] as const) process.stdin.once(event, lost);
  // Only the pipe's end matters: it must not keep the process alive by itself.
  (process.stdin as { unref?: () => void }).unref?.();
}

const choice = await initBackend(config.backend, {
  log, threads: wasmThreadsFor(config, availableParallelism()),
  ...(heapLimitMb ? { wasmHeapLimitBytes: heapLimitMb * 1024 * 1024 } : {}),
});
log(`${who}${config.searchId ? ` (launched for search ${config.searchId})` : ''}: backend ${choice.backend} (${choice.reason})`
  + `${heapLimitMb ? `, wasm heap limit ${heapLimitMb} MiB${config.podMemoryLimitBytes ? ` (pod memory limit ${Math.round(config.podMemoryLimitBytes / 1048576)} MiB)` : ''}` : ''}`);

// Bounded: NATS_CONNECT_ATTEMPTS attempts, then exit 1 with the reason.
let bus: BusConnection | undefined;
try {
  bus = await connectWithRetry({
    url: config.nats.url, attempts: config.connectAttempts, firstDelayMs: config.connectDelayMs, log, who,
    connect: () => connectBus(config.nats.url, {
      name: `nasnet-trainer-${config.trainerId}`, log, waitOnFirstConnect: false,
      ...natsAuthOptions(config.nats),
      ...(config.natsToken ? { token: config.natsToken } : {}),
    }),
  });
} catch (err) {
  if (!(err instanceof NatsUnreachableError)) throw err;
  log(`${who}: ${err.message}; exiting`);
  process.exit(1);
}
if (!bus) process.exit(0); // only when stopped, which exits in the handler above
looping = true;
await ensureStreams(bus.jsm);
const stats = await runTrainerLoop({
  bus, trainerId: config.trainerId, train: runChildTask, signal: stop.signal,
  ...(config.searchId !== undefined ? { searchId: config.searchId } : {}),
  heartbeatMs: config.heartbeatMs, ackWaitMs: config.ackWaitMs, maxAttempts: config.maxAttempts, log,
});
log(`${who}: stopped after ${JSON.stringify(stats)}`);
await bus.close();
process.exit(0);
