/**
 * The controller of the load benchmark (test/bench/load.ts), in its own
 * process so its CPU time and memory are its own: runController() as
 * main.ts runs it (bus, KV state store, JetStream executor, gRPC), driven
 * over IPC. Messages:
 *   parent -> { type: 'submit', spec }         submit a search
 *   child  -> { type: 'ready' }                 after runController resolved
 *   child  -> { type: 'submitted', id, ... }    with the CPU time used so far
 *   child  -> { type: 'finished', id, ... }     the run state, CPU time and peak RSS
 * Environment: NATS_URL; LOAD_BENCH_STATE_TIMES=1 also times every put of
 * a search state (KvStateStore.put, wrapped here; a save puts the changed
 * segments of children and then the head, each counted): how long each held
 * the event loop (serialising it) and how long it took in all.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KvStateStore } from '@nasnet/bus';
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
  /** With LOAD_BENCH_STATE_TIMES=1: state saves, the event-loop time each held (ms), and their total time (ms). */
  stateSaves?: { count: number; blockingMs: { p50: number; max: number; sum: number }; totalMs: { p50: number; max: number } };
}

export type ControllerMessage =
  | { type: 'ready' }
  | { type: 'submitted'; id: string; atMs: number; usage: ControllerUsage }
  | { type: 'finished'; id: string; atMs: number; runState: string; message?: string; usage: ControllerUsage }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'submit'; spec: SearchSpecInput };

const loopDelay = monitorEventLoopDelay({ resolution: 10 });

/** [blocking, total] ms of each state save since the search was submitted. */
const saves: Array<[number, number]> = [];
if (process.env.LOAD_BENCH_STATE_TIMES === '1') {
  const put = KvStateStore.prototype.put;
  KvStateStore.prototype.put = function timedPut(this: KvStateStore<unknown>, key: string, value: unknown): Promise<void> {
    const t0 = performance.now();
    const p = put.call(this, key, value);
    const t1 = performance.now(); // the synchronous part: serialising and hashing the state
    void p.finally(() => saves.push([t1 - t0, performance.now() - t0])).catch(() => {});
    return p;
  } as typeof put;
}

function saveStats(): ControllerUsage['stateSaves'] {
  if (saves.length === 0) return undefined;
  const pick = (k: 0 | 1) => saves.map((s) => s[k]).sort((a, b) => a - b);
  const blocking = pick(0), total = pick(1);
  const r = (x: number) => Math.round(x);
  return {
    count: saves.length,
    blockingMs: { p50: r(blocking[blocking.length >> 1]!), max: r(blocking.at(-1)!), sum: r(blocking.reduce((a, b) => a + b, 0)) },
    totalMs: { p50: r(total[total.length >> 1]!), max: r(total.at(-1)!) },
  };
}

function usage(): ControllerUsage {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  return {
    userMicros: cpu.user, systemMicros: cpu.system, rssBytes: mem.rss, maxRssBytes: process.resourceUsage().maxRSS * 1024, heapUsedBytes: mem.heapUsed,
    ...(loopDelay.count > 0 ? { loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } } : {}),
    ...(saves.length > 0 ? { stateSaves: saveStats() } : {}),
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
    saves.length = 0;
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
