/**
 * A share of the load benchmark's simulated trainer fleet (test/bench/load.ts),
 * in a process of its own: a real fleet has an event loop per trainer, and
 * 500 trainers on one loop made each delivery wait behind the others' work
 * (the bench process's event-loop delay was the largest part of the
 * dispatch latency). Each trainer is the product's own runTrainerLoop with
 * fakeTrain. Driven over IPC:
 *   parent -> { type: 'start', ... }   connect, start the trainers
 *   child  -> { type: 'started' }       every trainer loop is running
 *   child  -> { type: 'progress', started }  children started so far, every few seconds
 *   parent -> { type: 'measure' }       start measuring CPU time and event-loop delay, forget earlier children
 *   parent -> { type: 'stop' }          stop the trainers (abort), then report
 *   child  -> { type: 'report', ... }   what each trainer did, and when each child started
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setMaxListeners } from 'node:events';
import { connectBus, type BusConnection } from '@nasnet/bus';
import { runTrainerLoop, type TrainerLoopStats } from '@nasnet/child-trainer';
import { deriveSeed, Rng } from '@nasnet/random';
import { fakeTrain } from '../support/fake-train.js';

export interface FleetStart {
  type: 'start';
  natsUrl: string;
  /** Trainers first .. first + count - 1 (named sim-<i>, seeded by i). */
  first: number;
  count: number;
  connections: number;
  seed: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export type FleetCommand = FleetStart | { type: 'measure' } | { type: 'stop' };

export interface FleetReport {
  type: 'report';
  /** [childId, Date.now() when a trainer started it], the first start of each child. */
  started: Array<[number, number]>;
  /** [childId, how many times it was started]. */
  times: Array<[number, number]>;
  stats: TrainerLoopStats[];
  /** CPU seconds (user + system) since 'measure'. */
  cpuSeconds: number;
  /** Event-loop delay since 'measure', ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

export type FleetMessage = { type: 'started' } | { type: 'progress'; started: number } | FleetReport | { type: 'error'; message: string };

function send(m: FleetMessage): void {
  process.send!(m);
}

if (!process.send) {
  process.stderr.write('load-trainers: start me from test/bench/load.ts (needs an IPC channel)\n');
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const startedAt = new Map<number, number>();
const times = new Map<number, number>();
const stop = new AbortController();
setMaxListeners(0, stop.signal);
const buses: BusConnection[] = [];
let loops: Array<Promise<TrainerLoopStats>> = [];
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let cpu0 = process.cpuUsage();
let progress: NodeJS.Timeout | undefined;

async function start(o: FleetStart): Promise<void> {
  for (let c = 0; c < o.connections; c++) {
    // No async stack traces: every request would build two Error objects (see load.ts).
    buses.push(await connectBus(o.natsUrl, { name: `bench-trainers-${o.first}-${c}`, log, asyncTraces: false }));
  }
  loops = Array.from({ length: o.count }, (_, k) => {
    const i = o.first + k;
    const rng = new Rng(deriveSeed(o.seed, 'trainer', i));
    // A signal per trainer, as a real one has (EventTarget scans all listeners on each add).
    const own = new AbortController();
    stop.signal.addEventListener('abort', () => own.abort(), { once: true });
    return runTrainerLoop({
      bus: buses[k % buses.length]!, trainerId: `sim-${i}`, signal: own.signal, log,
      train: fakeTrain({
        delayMs: () => rng.uniform(o.minDelayMs, o.maxDelayMs),
        onStart: (task, at) => {
          if (!startedAt.has(task.childId)) startedAt.set(task.childId, at);
          times.set(task.childId, (times.get(task.childId) ?? 0) + 1);
        },
      }),
    });
  });
  progress = setInterval(() => send({ type: 'progress', started: startedAt.size }), 5000);
  progress.unref();
  send({ type: 'started' });
}

async function finish(): Promise<void> {
  if (progress) clearInterval(progress);
  loopDelay.disable();
  const cpu = process.cpuUsage(cpu0);
  stop.abort();
  const stats = await Promise.all(loops);
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  send({
    type: 'report', started: [...startedAt], times: [...times], stats,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loopDelayMs: loopDelay.count > 0 ? { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } : { p50: 0, p99: 0, max: 0 },
  });
  for (const b of buses) await b.close().catch(() => {});
}

process.on('message', (m: FleetCommand) => {
  const fail = (err: unknown) => send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  if (m.type === 'start') start(m).catch(fail);
  else if (m.type === 'measure') {
    // The measured search starts: a warm-up search's children (same ids) are forgotten.
    startedAt.clear();
    times.clear();
    cpu0 = process.cpuUsage();
    loopDelay.reset();
    loopDelay.enable();
  } else if (m.type === 'stop') finish().catch(fail);
});
process.on('disconnect', () => {
  stop.abort();
  void Promise.allSettled(loops).then(async () => {
    for (const b of buses) await b.close().catch(() => {});
    process.exit(0);
  });
});
