/**
 * The controller of the load benchmark (test/bench/load.ts), in its own
 * process so its CPU time and memory are its own: runController() as
 * main.ts runs it (bus, KV state store, JetStream executor, gRPC), driven
 * over IPC. Messages:
 *   parent -> { type: 'submit', spec }         submit a search
 *   child  -> { type: 'ready' }                 after runController resolved
 *   child  -> { type: 'submitted', id, ... }    with the CPU time used so far
 *   child  -> { type: 'finished', id, ... }     the run state, CPU time and peak RSS
 * Environment: NATS_URL.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runController } from '@nasnet/controller-service';
import type { SearchSpecInput } from '@nasnet/search';

/** What the controller reports about its own process. */
export interface ControllerUsage {
  /** process.cpuUsage(), microseconds since the process started. */
  userMicros: number;
  systemMicros: number;
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Largest resident set size so far (getrusage ru_maxrss), bytes. */
  maxRssBytes: number;
  heapUsedBytes: number;
  /** Event-loop delay since the search was submitted (perf_hooks, 10 ms resolution): how long ready work waited for the loop. */
  loopDelayMs?: { p50: number; p99: number; max: number };
}

export type ControllerMessage =
  | { type: 'ready' }
  | { type: 'submitted'; id: string; atMs: number; usage: ControllerUsage }
  | { type: 'finished'; id: string; atMs: number; runState: string; message?: string; usage: ControllerUsage }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'submit'; spec: SearchSpecInput };

const loopDelay = monitorEventLoopDelay({ resolution: 10 });

function usage(): ControllerUsage {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  return {
    userMicros: cpu.user, systemMicros: cpu.system, rssBytes: mem.rss, maxRssBytes: process.resourceUsage().maxRSS * 1024, heapUsedBytes: mem.heapUsed,
    ...(loopDelay.count > 0 ? { loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } } : {}),
  };
}

function send(m: ControllerMessage): void {
  process.send!(m);
}

if (!process.send) {
  process.stderr.write('load-controller: start me from test/bench/load.ts (needs an IPC channel)\n');
  process.exit(2);
}
const natsUrl = process.env.NATS_URL;
if (!natsUrl) {
  process.stderr.write('load-controller: NATS_URL is required\n');
  process.exit(2);
}

const controller = await runController({
  nats: { url: natsUrl }, host: '127.0.0.1', grpcPort: 0, httpPort: -1, launcher: 'none',
  log: (line) => process.stderr.write(`[controller] ${line}\n`),
});
process.on('message', (raw: ParentMessage) => {
  if (raw.type !== 'submit') return;
  void (async () => {
    const stored = await controller.manager.submit(raw.spec);
    loopDelay.reset();
    loopDelay.enable();
    send({ type: 'submitted', id: stored.id, atMs: Date.now(), usage: usage() });
    const done = await controller.manager.finished(stored.id);
    loopDelay.disable();
    send({ type: 'finished', id: stored.id, atMs: Date.now(), runState: done.runState, ...(done.message ? { message: done.message } : {}), usage: usage() });
  })().catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
process.on('disconnect', () => {
  void controller.close().finally(() => process.exit(0));
});
send({ type: 'ready' });
