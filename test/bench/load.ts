/**
 * Load benchmark of the distributed search: a real nats-server, the real
 * controller (runController, in its own process so its CPU time and peak
 * memory are measured alone) and many simulated trainers (runTrainerLoop,
 * the trainer's own loop, spread over a few processes, load-trainers.ts,
 * each sharing a few NATS connections) whose "training" sleeps a random
 * 50-500 ms and reports a reward that is a known function of the genotype.
 *
 *   npm run bench:load                      20,000 children, 500 trainers, random, then PPO on 1,000
 *   npm run bench:load -- --children 2000 --trainers 100 --strategy ppo --ppo-children 0
 *
 * Options: --children N, --trainers N, --strategy random|ppo|evolution,
 * --connections N (trainer connections in all, default 4), --trainer-processes N
 * (processes the trainers are spread over, default one per core),
 * --warmup-children N (a random search of N children through the same
 * controller and trainers before the measured one, not measured, default
 * 1000; 0 measures from cold processes), --min-delay-ms,
 * --max-delay-ms, --ppo-children N (a second run with PPO; 0 = none,
 * default 1000 when --strategy is not ppo), --seed, --timeout-s, --verbose,
 * --json (stdout is then one JSON object; the readable lines go to stderr).
 * LOAD_BENCH_CONTROLLER_ARGS adds node flags to the controller (profiling),
 * LOAD_BENCH_TRAINER_ARGS to the trainer processes;
 * LOAD_BENCH_STATE_TIMES=1 times the controller's state saves (load-controller.ts);
 * LOAD_BENCH_TRACE=<file> writes each child's queued, published and started times (CSV; the
 * PPO run's to <file>.ppo).
 *
 * Why a warm-up: a controller and a trainer fleet are long-running processes;
 * a fresh one runs its first children through cold code (no JIT yet) and a
 * growing heap, and here 250 simulated trainers per process went through
 * that at once in the first second, which a fleet of one trainer per pod
 * never does. The warm-up's children are left out of every figure and
 * check except the trainers' own counts, which cover both searches.
 *
 * After each run it checks that nothing was lost or duplicated: the final
 * search state in KV holds exactly N distinct trained children, each with
 * the reward its genotype earns; every child was trained exactly once; the
 * tasks stream saw N tasks and the results stream N results. Prints
 * human-readable lines, then one JSON line (the last line) with every figure:
 * at the top those of the first run (dispatchP99Ms, childrenPerSecond, lost,
 * duplicated), then every run in full, with the load average it ran under.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  connectBus, decodeBusEvent, KvStateStore, STREAM_RESULTS, STREAM_TASKS,
  type BusConnection,
} from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import type { TrainerLoopStats } from '@nasnet/child-trainer';
import { readStoredSearch } from '@nasnet/controller-service';
import type { SearchSpecInput } from '@nasnet/search';
import { syntheticReward } from '../support/fake-train.js';
import type { ControllerMessage, ControllerUsage, ParentMessage } from './load-controller.js';
import type { FleetCommand, FleetMessage, FleetReport } from './load-trainers.js';

/** The benchmark could not run, or a check of its outcome failed. */
export class LoadBenchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LoadBenchError';
  }
}

interface RunOptions {
  children: number;
  trainers: number;
  strategy: 'random' | 'ppo' | 'evolution';
  connections: number;
  trainerProcesses: number;
  warmupChildren: number;
  /** Where the per-child times go (LOAD_BENCH_TRACE; the PPO run's to <file>.ppo). */
  traceFile?: string;
  minDelayMs: number;
  maxDelayMs: number;
  seed: number;
  timeoutS: number;
  verbose: boolean;
}

interface Latency { p50: number; p90: number; p99: number; max: number; samples: number }

interface RunReport {
  strategy: string;
  children: number;
  trainers: number;
  wallSeconds: number;
  childrenPerSecond: number;
  /** child_queued (controller) -> the trainer starts training it. */
  dispatchLatencyMs: Latency;
  /** child_queued -> the task is on the wire (the controller's part). */
  queuedToPublishedMs: Latency;
  /** Task on the wire -> the trainer starts it (JetStream delivery, the trainer's cancel check). */
  publishedToStartedMs: Latency;
  controller: {
    cpuSeconds: number; cpuShare: number; peakRssMiB: number; rssAtEndMiB: number; heapAtEndMiB: number;
    /** How long ready work waited for the controller's event loop during the search. */
    loopDelayMs?: { p50: number; p99: number; max: number };
    /** With LOAD_BENCH_STATE_TIMES=1 (see load-controller.ts). */
    stateSaves?: ControllerUsage['stateSaves'];
  };
  /** CPU seconds of the bench's processes: the trainer processes and this one (the watcher). */
  benchProcessCpuSeconds: number;
  /**
   * Event-loop delay of this process, where the watcher runs: time a
   * published task or an event waited for the loop before the watcher saw
   * it (it stamps the task's "published" time).
   */
  benchLoopDelayMs: { p50: number; p99: number; max: number };
  /**
   * The trainer processes' event-loop delay (the worst p50, p99 and max
   * among them): time a delivered task waited for the loop before its
   * trainer saw it (a real fleet has a loop per trainer).
   */
  trainerLoopDelayMs: { p50: number; p99: number; max: number };
  trainerProcesses: number;
  natsServerCpuSeconds: number;
  stateBytes: number;
  /** Budgeted children with no ok result in the final state. */
  lost: number;
  /** Extra trainings, tasks and results beyond one per child. */
  duplicated: number;
  /** Load average (1, 5, 15 min) when the run started and when it ended. */
  loadAverage: { start: number[]; end: number[] };
  policyUpdates?: { count: number; meanMs: number; p50Ms: number; maxMs: number; totalSeconds: number };
  checks: Record<string, boolean>;
  /** Why checks failed (only when one did). */
  problems?: string[];
}

/** The event kinds the watcher reads, as they appear in the events' JSON. */
const QUEUED_BYTES = Buffer.from('"child_queued"'), HEARTBEAT_BYTES = Buffer.from('"trainer_heartbeat"');

const CONTROLLER_ENTRY = fileURLToPath(new URL('./load-controller.ts', import.meta.url));
const FLEET_ENTRY = fileURLToPath(new URL('./load-trainers.ts', import.meta.url));
const MIB = 1024 * 1024;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (fields 14 and 15, in clock ticks). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * A process of the bench (the controller, a share of the trainers), driven
 * over IPC: a promise per awaited message type, its stderr kept for errors.
 * `argsVariable` names the environment variable with extra node flags for
 * it (profiling), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
class BenchProcess<In, Out extends { type: string }> {
  readonly proc: ChildProcess;
  private readonly waiting = new Map<Out['type'], Array<(m: Out) => void>>();
  private failures: Array<(e: Error) => void> = [];
  private stderr = '';
  private exited = false;

  constructor(entry: string, argsVariable: string, private readonly what: string, verbose: boolean, env: NodeJS.ProcessEnv = process.env) {
    this.proc = fork(entry, [], {
      execArgv: ['--import', 'tsx', ...(process.env[argsVariable]?.split(/\s+/).filter(Boolean) ?? [])], env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-8000);
      if (verbose) process.stderr.write(chunk);
    });
    this.proc.on('message', (m: Out) => {
      this.onMessage(m);
      const list = this.waiting.get(m.type) ?? [];
      this.waiting.delete(m.type);
      for (const resolve of list) resolve(m);
      if (m.type === 'error') this.failWith(new LoadBenchError(`${what}: ${(m as { message?: string }).message ?? ''}`));
    });
    this.proc.once('exit', (code, signal) => {
      this.exited = true;
      this.failWith(new LoadBenchError(`${what} process exited (${code ?? signal}); its last output:\n${this.stderr}`));
    });
  }

  /** Sees every message first (subclasses). */
  protected onMessage(_m: Out): void {}

  private failWith(err: Error): void {
    for (const reject of this.failures) reject(err);
    this.failures = [];
  }

  /** The next message of `type`. */
  next<T extends Out['type']>(type: T): Promise<Extract<Out, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new LoadBenchError(`${this.what} process is gone; its last output:\n${this.stderr}`));
      const list = this.waiting.get(type) ?? [];
      list.push(resolve as (m: Out) => void);
      this.waiting.set(type, list);
      this.failures.push(reject);
    });
  }

  send(m: In): void {
    this.proc.send(m as object);
  }

  /** Sends `command` and waits for the next message of type `reply`. */
  ask<T extends Out['type']>(command: In, reply: T): Promise<Extract<Out, { type: T }>> {
    const answer = this.next(reply);
    this.send(command);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.disconnect();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

/** The controller (load-controller.ts). LOAD_BENCH_CONTROLLER_ARGS: extra node flags for it. */
class ControllerProcess extends BenchProcess<ParentMessage, ControllerMessage> {
  constructor(natsUrl: string, verbose: boolean) {
    super(CONTROLLER_ENTRY, 'LOAD_BENCH_CONTROLLER_ARGS', 'controller', verbose, { ...process.env, NATS_URL: natsUrl });
  }
}

/** A process running a share of the simulated trainers (load-trainers.ts). LOAD_BENCH_TRAINER_ARGS: extra node flags for it. */
class FleetProcess extends BenchProcess<FleetCommand, FleetMessage> {
  /** Children its trainers started so far (its last progress message). */
  started = 0;

  constructor(verbose: boolean) {
    super(FLEET_ENTRY, 'LOAD_BENCH_TRAINER_ARGS', 'trainer', verbose);
  }

  protected override onMessage(m: FleetMessage): void {
    if (m.type === 'progress') this.started = m.started;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new LoadBenchError(`${what} took longer than ${ms / 1000} s`)), ms); }),
  ]);
}

/** One search through a fresh server, controller and trainer fleet. */
async function runOnce(o: RunOptions, log: (line: string) => void): Promise<RunReport> {
  // A fresh server per run: stream sequence numbers then count this run's messages alone.
  const nats: NatsTestServer = await startNatsServer({ maxPayloadBytes: 8 * MIB });
  const buses: BusConnection[] = [];
  let controller: ControllerProcess | undefined;
  const fleet: FleetProcess[] = [];
  try {
    controller = new ControllerProcess(nats.url, o.verbose);
    await withTimeout(controller.next('ready'), 60_000, 'controller start');

    // Watch the events: when the controller queued each child (per search: a warm-up search's child ids
    // are the measured one's too), and which trainers are up. No async stack traces on the bench's
    // connections: every request would build two Error objects (the controller's connection does the same).
    const watcher = await connectBus(nats.url, { name: 'bench-watch', log, asyncTraces: false });
    buses.push(watcher);
    const queuedBySearch = new Map<string, Map<number, number>>();
    const publishedBySearch = new Map<string, Map<number, number>>();
    const of = (bySearch: Map<string, Map<number, number>>, searchId: string) => {
      let m = bySearch.get(searchId);
      if (!m) bySearch.set(searchId, (m = new Map()));
      return m;
    };
    const heartbeats = new Set<string>();
    watcher.nc.subscribe('nas.events.>', {
      callback: (err, msg) => {
        if (err) return;
        // Decode only the two kinds wanted (a byte search is far cheaper than decoding): every
        // cycle spent here delays the "published" stamp of the next task.
        const bytes = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
        if (bytes.indexOf(QUEUED_BYTES) < 0 && bytes.indexOf(HEARTBEAT_BYTES) < 0) return;
        const e = decodeBusEvent(msg.data, msg.subject);
        if (e.kind === 'search' && e.event.type === 'child_queued' && e.event.phase === 'search') of(queuedBySearch, e.searchId).set(e.event.childId, e.timeMs);
        else if (e.kind === 'trainer_heartbeat') heartbeats.add(e.trainer);
      },
    });
    // A core subscription sees each task as the controller publishes it (Nats-Msg-Id <searchId>.<childId>.<phase>.g<generation>).
    watcher.nc.subscribe('nas.tasks.>', {
      callback: (err, msg) => {
        if (err) return;
        const [searchId, child] = (msg.headers?.get('Nats-Msg-Id') ?? '').split('.');
        const childId = Number(child);
        if (!searchId || !Number.isInteger(childId)) return;
        const published = of(publishedBySearch, searchId);
        if (!published.has(childId)) published.set(childId, Date.now());
      },
    });

    // The trainers, spread over trainerProcesses processes (load-trainers.ts) with their share of the connections.
    const processes = Math.min(o.trainerProcesses, o.trainers);
    for (let k = 0; k < processes; k++) fleet.push(new FleetProcess(o.verbose));
    await withTimeout(Promise.all(fleet.map((f, k) => {
      const first = Math.floor((k * o.trainers) / processes), next = Math.floor(((k + 1) * o.trainers) / processes);
      return f.ask({
        type: 'start', natsUrl: nats.url, first, count: next - first, connections: Math.max(1, Math.round(o.connections / processes)),
        seed: o.seed, minDelayMs: o.minDelayMs, maxDelayMs: o.maxDelayMs,
      }, 'started');
    })), 120_000, `${processes} trainer processes starting`);
    await withTimeout((async () => { while (heartbeats.size < o.trainers) await new Promise((r) => setTimeout(r, 50)); })(), 120_000, `${o.trainers} trainers starting`);
    log(`${o.trainers} trainers up in ${processes} processes (${o.connections} connections in all)`);

    // The warm-up search: the same controller and trainers, not measured (see --warmup-children).
    if (o.warmupChildren > 0) {
      log(`warm-up: ${o.warmupChildren} children (random), not measured`);
      const warmFinished = controller.next('finished');
      controller.send({
        type: 'submit', spec: {
          name: 'load-warmup', dataset: 'synthetic', strategy: 'random', seed: o.seed + 1,
          budget: { architectures: o.warmupChildren, concurrency: o.trainers }, recipe: { epochs: 1 },
        },
      });
      const warm = await withTimeout(warmFinished, o.timeoutS * 1000, 'the warm-up search');
      if (warm.runState !== 'succeeded') throw new LoadBenchError(`warm-up search ${warm.id} ended ${warm.runState}: ${warm.message ?? ''}`);
    }
    // The streams' counts before the measured search: its own tasks and results are what comes after.
    const tasks0 = (await watcher.jsm.streams.info(STREAM_TASKS)).state;
    const results0 = (await watcher.jsm.streams.info(STREAM_RESULTS)).state;
    log(`submitting ${o.children} children (${o.strategy})`);

    const spec: SearchSpecInput = {
      name: `load-${o.strategy}`, dataset: 'synthetic', strategy: o.strategy, seed: o.seed,
      budget: { architectures: o.children, concurrency: o.trainers },
      recipe: { epochs: 1 },
    };
    const load0 = loadavg();
    const benchCpu0 = process.cpuUsage();
    const benchLoop = monitorEventLoopDelay({ resolution: 10 });
    benchLoop.enable();
    for (const f of fleet) f.send({ type: 'measure' });
    const natsCpu0 = processCpuSeconds(nats.pid);
    const submitted = controller.next('submitted');
    const finished = controller.next('finished');
    controller.send({ type: 'submit', spec });
    const sub = await withTimeout(submitted, 60_000, 'submit');
    let lastCount = -1;
    const progress = setInterval(() => {
      const started = fleet.reduce((n, f) => n + f.started, 0);
      if (started !== lastCount) log(`  ${started} / ${o.children} children picked up`);
      lastCount = started;
    }, 10_000);
    let fin: Extract<ControllerMessage, { type: 'finished' }>;
    try {
      fin = await withTimeout(finished, o.timeoutS * 1000, 'the search');
    } finally {
      clearInterval(progress);
    }
    const benchCpu = process.cpuUsage(benchCpu0);
    benchLoop.disable();
    const loopMs = (ns: number) => round(ns / 1e6);
    const benchLoopDelayMs = { p50: loopMs(benchLoop.percentile(50)), p99: loopMs(benchLoop.percentile(99)), max: loopMs(benchLoop.max) };
    const load1 = loadavg();
    const natsCpu = processCpuSeconds(nats.pid) - natsCpu0;
    if (fin.runState !== 'succeeded') throw new LoadBenchError(`search ${sub.id} ended ${fin.runState}: ${fin.message ?? ''}`);
    const queuedAt = of(queuedBySearch, sub.id), publishedAt = of(publishedBySearch, sub.id);
    const wallSeconds = (fin.atMs - sub.atMs) / 1000;

    const reports: FleetReport[] = await withTimeout(Promise.all(fleet.map((f) => f.ask({ type: 'stop' }, 'report'))), 60_000, 'stopping the trainers');
    const stats: TrainerLoopStats[] = reports.flatMap((r) => r.stats);
    // When each child first started, and how often; the processes' trainers take disjoint tasks.
    const startedAt = new Map<number, number>();
    const trainedTimes = new Map<number, number>();
    for (const r of reports) {
      for (const [id, at] of r.started) if (!(at >= (startedAt.get(id) ?? Infinity))) startedAt.set(id, at);
      for (const [id, n] of r.times) trainedTimes.set(id, (trainedTimes.get(id) ?? 0) + n);
    }
    const worst = (k: 'p50' | 'p99' | 'max') => Math.max(...reports.map((r) => r.loopDelayMs[k]));
    const trainerLoopDelayMs = { p50: worst('p50'), p99: worst('p99'), max: worst('max') };
    const fleetCpuSeconds = reports.reduce((n, r) => n + r.cpuSeconds, 0);

    // ---- nothing lost, nothing duplicated
    const checkBus = await connectBus(nats.url, { name: 'bench-check', log });
    buses.push(checkBus);
    const store = await KvStateStore.open<unknown>(checkBus);
    const stored = await readStoredSearch(store, sub.id);
    if (!stored?.loop) throw new LoadBenchError(`search ${sub.id} has no stored state`);
    const stateBytes = Buffer.byteLength(JSON.stringify(stored));
    const search = stored.loop.entries.filter((e) => e.phase === 'search');
    const trained = search.filter((e) => e.duplicateOf === undefined);
    const tasks = await checkBus.jsm.streams.info(STREAM_TASKS);
    const results = await checkBus.jsm.streams.info(STREAM_RESULTS);
    const checks: Record<string, boolean> = {
      [`state holds exactly ${o.children} trained children`]: trained.length === o.children,
      'their genotypes are distinct': new Set(trained.map((e) => e.hash)).size === trained.length,
      'each has an ok result with the reward of its own genotype': trained.every((e) => e.result?.status === 'ok' && e.result.reward === syntheticReward(e.genotype) && /^sim-\d+$/.test(e.result.trainer ?? '')),
      'every trained child was trained exactly once': trainedTimes.size === o.children && [...trainedTimes.values()].every((n) => n === 1)
        && trained.every((e) => trainedTimes.get(e.childId) === 1),
      // Counted over the warm-up search too: the loops' counts span both.
      'the trainers published one result per child (no retries, no failures)': stats.reduce((n, s) => n + s.trained, 0) === o.children + o.warmupChildren
        && stats.every((s) => s.failed === 0 && s.retried === 0 && s.cancelled === 0),
      [`NAS_TASKS received ${o.children} tasks and holds none`]: tasks.state.last_seq - tasks0.last_seq === o.children && tasks.state.messages === 0,
      [`NAS_RESULTS received ${o.children} results, one per child`]: results.state.last_seq - results0.last_seq === o.children
        && results.state.messages - results0.messages === o.children,
    };

    // What went wrong, for a failed check.
    const notOk = trained.filter((e) => e.result?.status !== 'ok');
    const reasons = new Map<string, number>();
    for (const e of notOk) {
      const why = `${e.result?.status ?? 'no result'}: ${(e.result?.reason ?? '').replace(/\d+/g, 'N').slice(0, 160)}`;
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    const problems = [
      ...[...reasons].map(([why, n]) => `${n} children ${why}`),
      ...(trainedTimes.size !== o.children ? [`${trainedTimes.size} children reached a trainer`] : []),
      ...[...trainedTimes].filter(([, n]) => n > 1).slice(0, 5).map(([id, n]) => `child ${id} trained ${n} times`),
      `trainers: ${JSON.stringify(stats.reduce((a, s) => ({ trained: a.trained + s.trained, failed: a.failed + s.failed, retried: a.retried + s.retried, cancelled: a.cancelled + s.cancelled, handedBack: a.handedBack + s.handedBack })))}`,
      `NAS_TASKS last_seq ${tasks.state.last_seq} (${tasks0.last_seq} before), messages ${tasks.state.messages}; NAS_RESULTS last_seq ${results.state.last_seq} (${results0.last_seq} before), messages ${results.state.messages} (${results0.messages} before)`,
    ];
    // LOAD_BENCH_TRACE=<file>: one line per child (id, queued, published, started; epoch ms), to see where in a run the slow ones fall.
    if (o.traceFile) {
      const lines = trained.map((e) => `${e.childId},${queuedAt.get(e.childId) ?? ''},${publishedAt.get(e.childId) ?? ''},${startedAt.get(e.childId) ?? ''}`);
      writeFileSync(o.traceFile, `childId,queuedMs,publishedMs,startedMs\n${lines.join('\n')}\n`);
    }
    const span = (from: Map<number, number>, to: Map<number, number>) => trained
      .map((e) => (to.get(e.childId) ?? Number.NaN) - (from.get(e.childId) ?? Number.NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const summary = (sorted: number[]) => ({
      p50: round(percentile(sorted, 0.5)), p90: round(percentile(sorted, 0.9)), p99: round(percentile(sorted, 0.99)), max: round(sorted.at(-1) ?? Number.NaN), samples: sorted.length,
    });
    const cpu = (u: ControllerUsage) => (u.userMicros + u.systemMicros) / 1e6;
    const lost = Math.max(0, o.children - trained.filter((e) => e.result?.status === 'ok').length);
    const duplicated = [...trainedTimes.values()].reduce((n, times) => n + times - 1, 0)
      + Math.max(0, tasks.state.last_seq - tasks0.last_seq - o.children) + Math.max(0, results.state.last_seq - results0.last_seq - o.children);
    const controllerCpu = cpu(fin.usage) - cpu(sub.usage);
    const report: RunReport = {
      strategy: o.strategy, children: o.children, trainers: o.trainers,
      wallSeconds: round(wallSeconds, 2),
      childrenPerSecond: round(o.children / wallSeconds),
      dispatchLatencyMs: summary(span(queuedAt, startedAt)),
      queuedToPublishedMs: summary(span(queuedAt, publishedAt)),
      publishedToStartedMs: summary(span(publishedAt, startedAt)),
      controller: {
        cpuSeconds: round(controllerCpu, 2), cpuShare: round(controllerCpu / wallSeconds, 2),
        peakRssMiB: round(fin.usage.maxRssBytes / MIB), rssAtEndMiB: round(fin.usage.rssBytes / MIB), heapAtEndMiB: round(fin.usage.heapUsedBytes / MIB),
        ...(fin.usage.loopDelayMs ? { loopDelayMs: fin.usage.loopDelayMs } : {}),
        ...(fin.usage.stateSaves ? { stateSaves: fin.usage.stateSaves } : {}),
      },
      benchProcessCpuSeconds: round((benchCpu.user + benchCpu.system) / 1e6 + fleetCpuSeconds, 2),
      benchLoopDelayMs,
      trainerLoopDelayMs,
      trainerProcesses: processes,
      natsServerCpuSeconds: round(natsCpu, 2),
      stateBytes,
      lost,
      duplicated,
      loadAverage: { start: load0.map((x) => round(x, 2)), end: load1.map((x) => round(x, 2)) },
      checks,
      ...(Object.values(checks).every(Boolean) ? {} : { problems }),
    };
    const updates = stored.loop.updates.map((u) => u.updateMs).sort((a, b) => a - b);
    if (updates.length) {
      const total = updates.reduce((a, b) => a + b, 0);
      report.policyUpdates = {
        count: updates.length, meanMs: round(total / updates.length), p50Ms: round(percentile(updates, 0.5)), maxMs: round(updates.at(-1)!), totalSeconds: round(total / 1000, 2),
      };
    }
    return report;
  } finally {
    await Promise.allSettled(fleet.map((f) => f.stop()));
    await controller?.stop();
    for (const b of buses.reverse()) await b.close().catch(() => {});
    await nats.stop();
  }
}

function latency(l: Latency): string {
  return `p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms`;
}

function describe(r: RunReport): string[] {
  const lines = [
    `${r.strategy}: ${r.children} children on ${r.trainers} simulated trainers in ${r.wallSeconds} s = ${r.childrenPerSecond} children/s`,
    `  dispatch latency (child_queued -> trainer starts it): ${latency(r.dispatchLatencyMs)}`,
    `    controller part (child_queued -> task published):  ${latency(r.queuedToPublishedMs)}`,
    `    delivery part (task published -> trainer starts):  ${latency(r.publishedToStartedMs)}`,
    `  controller: ${r.controller.cpuSeconds} CPU s (${Math.round(r.controller.cpuShare * 100)}% of one core), peak RSS ${r.controller.peakRssMiB} MiB, RSS at end ${r.controller.rssAtEndMiB} MiB`,
    `  bench processes (${r.trainerProcesses} of trainers, the watcher): ${r.benchProcessCpuSeconds} CPU s; event-loop delay of the trainers' (worst) p50 ${r.trainerLoopDelayMs.p50} ms, p99 ${r.trainerLoopDelayMs.p99} ms, max ${r.trainerLoopDelayMs.max} ms, of the watcher's p50 ${r.benchLoopDelayMs.p50} ms, p99 ${r.benchLoopDelayMs.p99} ms, max ${r.benchLoopDelayMs.max} ms; nats-server: ${r.natsServerCpuSeconds} CPU s; final state ${round(r.stateBytes / MIB, 2)} MiB of JSON`,
    ...(r.controller.stateSaves ? [`  state saves: ${r.controller.stateSaves.count}, each held the event loop p50 ${r.controller.stateSaves.blockingMs.p50} ms, max ${r.controller.stateSaves.blockingMs.max} ms (${r.controller.stateSaves.blockingMs.sum} ms in all); took p50 ${r.controller.stateSaves.totalMs.p50} ms, max ${r.controller.stateSaves.totalMs.max} ms`] : []),
    ...(r.controller.loopDelayMs ? [`  controller event-loop delay: p50 ${r.controller.loopDelayMs.p50} ms, p99 ${r.controller.loopDelayMs.p99} ms, max ${r.controller.loopDelayMs.max} ms`] : []),
    `  lost ${r.lost}, duplicated ${r.duplicated}; load average ${r.loadAverage.start.join(' ')} at the start, ${r.loadAverage.end.join(' ')} at the end`,
  ];
  if (r.policyUpdates) {
    const u = r.policyUpdates;
    lines.push(`  policy updates: ${u.count}, mean ${u.meanMs} ms, p50 ${u.p50Ms} ms, max ${u.maxMs} ms, ${u.totalSeconds} s in all`);
  }
  for (const [what, ok] of Object.entries(r.checks)) lines.push(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  for (const p of r.problems ?? []) lines.push(`    ${p}`);
  return lines;
}

function intOption(values: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new LoadBenchError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      children: { type: 'string' }, trainers: { type: 'string' }, strategy: { type: 'string' }, connections: { type: 'string' }, 'trainer-processes': { type: 'string' },
      'warmup-children': { type: 'string' },
      'min-delay-ms': { type: 'string' }, 'max-delay-ms': { type: 'string' }, 'ppo-children': { type: 'string' },
      seed: { type: 'string' }, 'timeout-s': { type: 'string' }, verbose: { type: 'boolean' }, json: { type: 'boolean' },
    },
  });
  const strategy = (values.strategy ?? 'random') as RunOptions['strategy'];
  if (!['random', 'ppo', 'evolution'].includes(strategy)) throw new LoadBenchError(`--strategy must be random, ppo or evolution, got ${strategy}`);
  const base: RunOptions = {
    children: intOption(values, 'children', 20_000, 1),
    trainers: intOption(values, 'trainers', 500, 1),
    strategy,
    connections: intOption(values, 'connections', 4, 1),
    // One trainer process per core: on 2 cores 2 processes gave a lower p99 than 4 (each process
    // also warms its own JIT and collects its own garbage) or 1 (every delivery behind 500 trainers' work).
    trainerProcesses: intOption(values, 'trainer-processes', availableParallelism(), 1),
    warmupChildren: intOption(values, 'warmup-children', 1000, 0),
    minDelayMs: intOption(values, 'min-delay-ms', 50, 0),
    maxDelayMs: intOption(values, 'max-delay-ms', 500, 0),
    seed: intOption(values, 'seed', 1, 0),
    timeoutS: intOption(values, 'timeout-s', 540, 1),
    verbose: values.verbose ?? false,
    ...(process.env.LOAD_BENCH_TRACE ? { traceFile: process.env.LOAD_BENCH_TRACE } : {}),
  };
  if (base.maxDelayMs < base.minDelayMs) throw new LoadBenchError('--max-delay-ms must be at least --min-delay-ms');
  const ppoChildren = intOption(values, 'ppo-children', strategy === 'ppo' ? 0 : 1000, 0);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  // With --json, stdout carries the JSON object alone.
  const say = values.json ? log : (line: string) => console.log(line);
  const runs: RunReport[] = [];
  runs.push(await runOnce(base, log));
  for (const line of describe(runs[0]!)) say(line);
  if (ppoChildren > 0) {
    runs.push(await runOnce({ ...base, strategy: 'ppo', children: ppoChildren, ...(base.traceFile ? { traceFile: `${base.traceFile}.ppo` } : {}) }, log));
    for (const line of describe(runs[1]!)) say(line);
  }
  const ok = runs.every((r) => Object.values(r.checks).every(Boolean));
  const first = runs[0]!;
  console.log(JSON.stringify({
    bench: 'load', ok, node: process.version, cpus: cpus().length,
    dispatchP99Ms: first.dispatchLatencyMs.p99, childrenPerSecond: first.childrenPerSecond, lost: first.lost, duplicated: first.duplicated,
    ...(runs[1] ? { ppoChildrenPerSecond: runs[1].childrenPerSecond } : {}),
    runs,
  }));
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:load failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
