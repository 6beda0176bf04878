/**
 * A whole search cluster on real processes for the fault tests: one
 * nats-server, the controller, the metrics service and child trainers, each
 * its own process started from its real entry point, plus an observer
 * connection of the test's own that follows the event stream, counts every
 * result published and reads the search states from KV.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectBus, decodeChildResult, ensureStreams, KvStateStore, NatsEventBus,
  type BusConnection, type BusEvent, type EventSubscription,
} from '@nasnet/bus';
import { startNatsServer, type NatsServerOptions, type NatsTestServer } from '@nasnet/bus/testing';
import { readStoredSearch, type StoredSearch } from '@nasnet/controller-service';
import type { Subscription } from '@nats-io/transport-node';
import { freePort, ROOT, startService, type ServiceProcess } from './processes.js';

const TOKEN = 'faults-token';
const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `everyMs` until it returns a value other than undefined; throws after `timeoutMs` with `what()`. */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: () => string, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch {
      value = undefined; // the bus may be restarting: ask again
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(everyMs);
  }
}

/** Every BusEvent on NAS_EVENTS, from the start of the stream, as the test process sees it. */
export class EventLog {
  readonly events: BusEvent[] = [];
  readonly undecodable: Error[] = [];
  /** The subscription's own status lines (following again after a reconnect). */
  readonly notes: string[] = [];
  private constructor(private sub?: EventSubscription) {}

  static async follow(bus: BusConnection): Promise<EventLog> {
    const log = new EventLog();
    log.sub = await new NatsEventBus(bus).subscribe((e) => log.events.push(e), { deliverAll: true, onError: (err) => log.undecodable.push(err), log: (line) => log.notes.push(line) });
    return log;
  }

  /** child_attempt events, optionally of one search. */
  attempts(searchId?: string): Array<Extract<BusEvent, { kind: 'child_attempt' }>> {
    return this.events.filter((e): e is Extract<BusEvent, { kind: 'child_attempt' }> => e.kind === 'child_attempt' && (searchId === undefined || e.searchId === searchId));
  }

  /**
   * The first event matching `pred`, waiting for it up to `timeoutMs`;
   * gives up at once when an event matching `failOn` arrives first (the
   * search ended, say). `what` is called only to word a failure.
   */
  waitFor<E extends BusEvent>(pred: (e: BusEvent) => e is E, timeoutMs: number, what: () => string, failOn?: (e: BusEvent) => boolean): Promise<E>;
  waitFor(pred: (e: BusEvent) => boolean, timeoutMs: number, what: () => string, failOn?: (e: BusEvent) => boolean): Promise<BusEvent>;
  async waitFor(pred: (e: BusEvent) => boolean, timeoutMs: number, what: () => string, failOn?: (e: BusEvent) => boolean): Promise<BusEvent> {
    let failed: BusEvent | undefined;
    const found = await until(() => {
      for (const e of this.events) {
        if (pred(e)) return e;
        if (failOn?.(e)) { failed = e; return null; }
      }
      return undefined;
    }, timeoutMs, what, 50);
    if (found === null) throw new Error(`gave up waiting for ${what()}: ${JSON.stringify(failed)} came first`);
    return found;
  }

  /** True for the event that ends a search (its final search_state). */
  static searchEnded(searchId: string): (e: BusEvent) => boolean {
    return (e) => e.kind === 'search_state' && e.searchId === searchId && e.state !== 'running' && e.state !== 'pending';
  }

  async close(): Promise<void> {
    await this.sub?.close().catch(() => {});
  }
}

/**
 * Every ChildResult published on nas.results.> while it listens (a core
 * subscription, so it sees each publish, although NAS_RESULTS keeps only the
 * last one per child), by `<searchId>.<childId>`.
 */
export class ResultTap {
  readonly bySubject = new Map<string, Array<{ trainer?: string; status: string; attempts?: number }>>();
  /** Messages on nas.results.> that did not decode (the fuzz test publishes some on purpose). */
  undecodable = 0;
  private constructor(private readonly sub: Subscription) {}

  static async open(bus: BusConnection): Promise<ResultTap> {
    let tap: ResultTap | undefined;
    const pending: Array<{ data: Uint8Array; subject: string }> = [];
    const sub = bus.nc.subscribe('nas.results.>', {
      callback: (err, msg) => {
        if (err) return;
        if (tap) tap.take(msg.data, msg.subject);
        else pending.push({ data: msg.data, subject: msg.subject });
      },
    });
    await bus.nc.flush();
    tap = new ResultTap(sub);
    for (const m of pending) tap.take(m.data, m.subject);
    return tap;
  }

  private take(data: Uint8Array, subject: string): void {
    try {
      const { result, searchId } = decodeChildResult(data, subject);
      const key = `${searchId}.${result.childId}`;
      const list = this.bySubject.get(key) ?? [];
      list.push({ status: result.status, ...(result.trainer ? { trainer: result.trainer } : {}), ...(result.attempts ? { attempts: result.attempts } : {}) });
      this.bySubject.set(key, list);
    } catch {
      this.undecodable++;
    }
  }

  /** Results published for one child of one search. */
  of(searchId: string, childId: number): Array<{ trainer?: string; status: string; attempts?: number }> {
    return this.bySubject.get(`${searchId}.${childId}`) ?? [];
  }

  close(): void {
    try {
      this.sub.unsubscribe();
    } catch {
      // the connection is closed already: so is the subscription
    }
  }
}

export interface TrainerEnv {
  /** @default '2000' */
  ACK_WAIT_MS?: string;
  /** @default '300' */
  HEARTBEAT_MS?: string;
  /** @default '3' */
  MAX_DELIVER?: string;
  [name: string]: string | undefined;
}

/**
 * The processes of one test file. Everything started through it is killed
 * by close(), which the test file calls in `after`.
 */
export class Cluster {
  readonly services: ServiceProcess[] = [];
  controller?: ServiceProcess;
  metrics?: { proc: ServiceProcess; port: number };
  grpcPort = 0;
  private readonly dir: string;
  private stateStore?: KvStateStore<unknown>;
  private specs = 0;

  private constructor(readonly nats: NatsTestServer, readonly bus: BusConnection) {
    this.dir = mkdtempSync(join(tmpdir(), 'nas-faults-'));
  }

  /** Starts nats-server and connects the observer (which retries fast, so a server restart costs it little). */
  static async start(natsOptions: NatsServerOptions = {}): Promise<Cluster> {
    const nats = await startNatsServer(natsOptions);
    const bus = await connectBus(nats.url, { name: 'faults-observer', log: () => {}, reconnectTimeWaitMs: 250 });
    // As every service does at start-up, so the observer can follow the streams before the controller runs.
    await ensureStreams(bus.jsm);
    return new Cluster(nats, bus);
  }

  /** A scratch folder removed by close(). */
  get scratch(): string {
    return this.dir;
  }

  /** Starts the controller (no launcher, trainers are ours) and waits for its "ready" line. */
  async startController(name = 'controller', env: Record<string, string> = {}): Promise<ServiceProcess> {
    this.grpcPort ||= await freePort();
    const proc = startService(name, 'services/controller/src/main.ts', {
      NATS_URL: this.nats.url, GRPC_PORT: String(this.grpcPort), HTTP_PORT: '-1', HOST: '127.0.0.1', CONTROLLER_TOKEN: TOKEN, NASNET_LAUNCHER: 'none',
      ...env,
    });
    this.services.push(proc);
    this.controller = proc;
    await proc.waitFor(/ready: gRPC (\d+)/, 60_000);
    return proc;
  }

  /** Starts the metrics service on a free port and waits until it serves. */
  async startMetrics(): Promise<{ proc: ServiceProcess; port: number }> {
    const port = await freePort();
    const proc = startService('metrics', 'services/metrics/src/main.ts', { NATS_URL: this.nats.url, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1' });
    this.services.push(proc);
    await proc.waitFor(/serving http/, 60_000);
    this.metrics = { proc, port };
    return this.metrics;
  }

  /**
   * Starts a child trainer on the wasm backend with a short ack deadline
   * (2 s: a vanished trainer's child comes back quickly) and frequent
   * heartbeats; `env` adds or overrides variables.
   */
  startTrainer(id: string, env: TrainerEnv = {}): ServiceProcess {
    const vars: Record<string, string> = { NATS_URL: this.nats.url, TRAINER_ID: id, NAS_BACKEND: 'wasm', ACK_WAIT_MS: '2000', HEARTBEAT_MS: '300', MAX_DELIVER: '3' };
    for (const [k, v] of Object.entries(env)) if (v !== undefined) vars[k] = v;
    const proc = startService(id, 'services/child-trainer/src/main.ts', vars);
    this.services.push(proc);
    return proc;
  }

  /**
   * Starts a trainer per id (as startTrainer, all with `env`) and waits for
   * each one's first heartbeat on `events`: they are connected and taking work.
   */
  async startTrainersReady(events: EventLog, ids: readonly string[], env: TrainerEnv = {}): Promise<ServiceProcess[]> {
    const procs = ids.map((id) => this.startTrainer(id, env));
    for (const id of ids) {
      await events.waitFor((e) => e.kind === 'trainer_heartbeat' && e.trainer === id, 60_000, () => `${id}'s first heartbeat\n${this.diagnostics()}`);
    }
    return procs;
  }

  /** Submits a search with nasctl over gRPC; `spec` is the YAML lines of a nas.v1.SearchSpec. Returns its id. */
  async submit(spec: string[]): Promise<string> {
    const file = join(this.dir, `spec-${++this.specs}.yaml`);
    writeFileSync(file, spec.join('\n'));
    const args = ['services/nasctl/bin/nasctl.mjs', 'search', 'submit', file, '--json', '--server', `127.0.0.1:${this.grpcPort}`, '--token', TOKEN];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const line = out.split('\n').find((l) => l.startsWith('{"searchId"'));
    if (code !== 0 || !line) throw new Error(`nasctl search submit exited ${code}:\n${out}\n${this.diagnostics()}`);
    return (JSON.parse(line) as { searchId: string }).searchId;
  }

  /** The search's state as the controller last stored it in KV. */
  async stored(searchId: string): Promise<StoredSearch | undefined> {
    this.stateStore ??= await KvStateStore.open<unknown>(this.bus);
    // Its children are stored in segments beside it: read them joined.
    return readStoredSearch(this.stateStore, searchId);
  }

  /** Waits until the stored state satisfies `pred`; gives up at once if the search ends without satisfying it. */
  async waitForStored(searchId: string, pred: (s: StoredSearch) => boolean, timeoutMs: number, what: string): Promise<StoredSearch> {
    let ended: StoredSearch | undefined;
    const found = await until(async () => {
      const s = await this.stored(searchId);
      if (!s) return undefined;
      if (pred(s)) return s;
      if (FINAL_STATES.has(s.runState)) { ended = s; return null; }
      return undefined;
    }, timeoutMs, () => `${what} (search ${searchId})\n${this.diagnostics()}`, 250);
    if (found === null) throw new Error(`search ${searchId} ended ${ended!.runState} (${ended!.message ?? ''}) before ${what}\n${this.diagnostics()}`);
    return found;
  }

  /** The text of /metrics. */
  async scrape(): Promise<string> {
    if (!this.metrics) throw new Error('the metrics service was not started');
    return (await fetch(`http://127.0.0.1:${this.metrics.port}/metrics`)).text();
  }

  /** The tail of every process's output, for failure messages. */
  diagnostics(chars = 2500): string {
    return [...this.services.map((s) => `--- ${s.name} (exit ${s.proc.exitCode ?? s.proc.signalCode ?? 'running'}):\n${s.output().slice(-chars)}`),
      `--- nats-server:\n${this.nats.log().slice(-1000)}`].join('\n');
  }

  /** Kills every process, closes the observer, stops nats-server and removes the scratch folder. */
  async close(): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop('SIGKILL')));
    await this.bus.nc.close().catch(() => {});
    await this.nats.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One sample of a Prometheus text exposition, e.g. value(text, 'nasnet_children_trained_total', { search: id }). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === want) return Number(m[3]);
  }
  return undefined;
}
