/**
 * Trainers as local child processes (no cluster): the same entry module the
 * trainer image runs, started with `node --import tsx`. Failure handling
 * mirrors the Kubernetes Job: a failed trainer is replaced until the failure
 * budget is spent, nothing is replaced once one trainer has finished (work
 * queue), and stop() sends SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainerSpawnError } from './errors.js';
import { searchIdLabelValue } from './job-template.js';
import { quantityValue } from './quantity.js';
import { validateLaunchRequest, type LaunchHandle, type LaunchRequest, type LaunchStatus, type ListedLaunch, type TrainerLauncher } from './launcher.js';

export interface LocalProcessLauncherOptions {
  /** The trainer's entry module (e.g. services/child-trainer/src/main.ts). */
  entry: string;
  /** Node flags before the entry. @default ['--import', 'tsx'] */
  execArgv?: string[];
  /** Working directory of the trainers (tsx is resolved from here). @default process.cwd() */
  cwd?: string;
  /**
   * Environment of every trainer, besides what the launcher sets itself
   * (NATS_URL, SEARCH_ID, TRAINER_ID, NAS_BACKEND, the request's env).
   * Nothing is inherited from this process: a trainer runs with exactly the
   * settings its launch names. @default none
   */
  env?: Record<string, string>;
  /** NATS_URL for the trainers (the trainer refuses to start without one). @default none */
  natsUrl?: string;
  /** Failed trainers tolerated before giving up. @default 2 per trainer, as KubernetesLauncher's backoffLimit */
  backoffLimit?: number;
  /** Time between SIGTERM and SIGKILL on stop. @default 10000 */
  stopGraceMs?: number;
  /** The trainers' stdout/stderr. @default 'inherit' */
  stdio?: 'inherit' | 'ignore';
}

interface Trainer {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
}

let launches = 0;

class LocalLaunch implements LaunchHandle {
  readonly id: string;
  get searchId(): string {
    return this.request.searchId;
  }
  private readonly running = new Set<Trainer>();
  private readonly listeners = new Set<(s: LaunchStatus) => void>();
  private succeeded = 0;
  private failed = 0;
  private spawned = 0;
  private ending: { outcome: 'succeeded' | 'failed' | 'stopped'; reason: string } | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  /** Private folder of the search's NATS credentials file (request.natsCreds), removed when the launch ends. */
  private credsDir: string | undefined;

  constructor(
    private readonly request: LaunchRequest,
    private readonly options: LocalProcessLauncherOptions,
    private readonly backoffLimit: number,
  ) {
    this.id = `local/${request.searchId}#${++launches}`;
  }

  async start(): Promise<void> {
    if (this.request.natsCreds !== undefined) {
      this.credsDir = mkdtempSync(join(tmpdir(), 'nasnet-trainer-creds-'));
      writeFileSync(join(this.credsDir, 'trainer.creds'), this.request.natsCreds, { mode: 0o600 });
    }
    try {
      for (let i = 0; i < this.request.trainers; i++) await this.spawnOne();
    } catch (err) {
      await this.terminate({ outcome: 'failed', reason: 'SpawnFailed' });
      throw err;
    }
    if (this.request.deadlineSeconds !== undefined) {
      this.deadline = setTimeout(() => void this.terminate({ outcome: 'failed', reason: 'DeadlineExceeded' }), this.request.deadlineSeconds * 1000);
      this.deadline.unref();
    }
  }

  private spawnOne(): Promise<void> {
    const id = `local-${searchIdLabelValue(this.request.searchId)}-${this.spawned++}`;
    const env: Record<string, string> = { ...this.options.env };
    if (this.options.natsUrl !== undefined) env.NATS_URL = this.options.natsUrl;
    env.SEARCH_ID = this.request.searchId;
    env.TRAINER_ID = id;
    env.TRAINER_STDIN_LIFELINE = 'true';
    if (this.credsDir !== undefined) {
      // The search's own NATS user, never a shared one.
      delete env.NATS_USER;
      delete env.NATS_PASS;
      env.NATS_CREDS = join(this.credsDir, 'trainer.creds');
    }
    if (this.request.backend !== undefined) env.NAS_BACKEND = this.request.backend;
    // What the downward API gives a pod (requests.cpu in whole cores, rounded up): the trainer's thread count.
    // Without a request, the trainers of this launch share this machine's cores, as the local search's workers do.
    env.POD_CPU_REQUEST = String(this.request.cpu !== undefined
      ? Math.max(1, Math.ceil(quantityValue(this.request.cpu)!))
      : Math.max(1, Math.floor(availableParallelism() / Math.max(1, this.request.trainers))));
    // What the downward API gives a pod (limits.memory): the trainer keeps its wasm heap below it.
    if (this.request.memory !== undefined) env.POD_MEMORY_LIMIT_BYTES = String(Math.floor(quantityValue(this.request.memory)!));
    Object.assign(env, this.request.env);
    const child = spawn(process.execPath, [...(this.options.execArgv ?? ['--import', 'tsx']), this.options.entry], {
      cwd: this.options.cwd ?? process.cwd(),
      env,
      // Standard input is the trainer's lifeline (TRAINER_STDIN_LIFELINE): the OS closes it when this
      // process ends, even by SIGKILL, and the trainer then stops instead of living on as an orphan.
      stdio: ['pipe', this.options.stdio ?? 'inherit', this.options.stdio ?? 'inherit'],
    });
    let resolveExit!: () => void;
    const trainer: Trainer = { id, child, exited: new Promise((r) => (resolveExit = r)) };
    return new Promise<void>((resolve, reject) => {
      let started = false;
      child.once('spawn', () => {
        started = true;
        this.running.add(trainer);
        this.changed();
        resolve();
      });
      child.once('error', (cause) => {
        if (!started) reject(new TrainerSpawnError(id, this.options.entry, { cause }));
      });
      child.once('close', (code, signal) => {
        resolveExit();
        if (!started) return;
        this.running.delete(trainer);
        this.exited(code === 0 && signal === null);
      });
    });
  }

  private exited(ok: boolean): void {
    if (this.stopping) {
      // Killed by stop() or by the end of the launch: not the trainer's failure.
      this.changed();
      return;
    }
    if (ok) this.succeeded++;
    else this.failed++;
    if (!ok && this.failed > this.backoffLimit) {
      void this.terminate({ outcome: 'failed', reason: 'BackoffLimitExceeded' });
      return;
    }
    // Work queue: once a trainer has finished, the others finish on their own.
    if (!ok && this.succeeded === 0) {
      this.spawnOne().catch(() => {
        this.failed++;
        void this.terminate({ outcome: 'failed', reason: 'SpawnFailed' });
      });
    }
    if (this.running.size === 0 && this.succeeded > 0) this.ending = { outcome: 'succeeded', reason: 'Complete' };
    if (this.running.size === 0 && this.ending) this.removeCreds();
    this.changed();
  }

  private terminate(ending: { outcome: 'succeeded' | 'failed' | 'stopped'; reason: string }): Promise<void> {
    if (this.stopping) return this.stopping;
    this.ending ??= ending;
    if (this.deadline) clearTimeout(this.deadline);
    const grace = this.options.stopGraceMs ?? 10_000;
    this.stopping = (async () => {
      const trainers = [...this.running];
      for (const t of trainers) t.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const t of this.running) t.child.kill('SIGKILL');
      }, grace);
      await Promise.all(trainers.map((t) => t.exited));
      clearTimeout(timer);
      this.removeCreds();
      this.changed();
    })();
    return this.stopping;
  }

  private removeCreds(): void {
    if (this.credsDir === undefined) return;
    rmSync(this.credsDir, { recursive: true, force: true });
    this.credsDir = undefined;
  }

  private snapshot(): LaunchStatus {
    const status: LaunchStatus = { active: this.running.size, succeeded: this.succeeded, failed: this.failed, done: false };
    if (this.ending && this.running.size === 0) {
      status.done = true;
      status.outcome = this.ending.outcome;
      status.reason = this.ending.reason;
    }
    return status;
  }

  private changed(): void {
    const s = this.snapshot();
    for (const l of this.listeners) l(s);
  }

  async status(): Promise<LaunchStatus> {
    return this.snapshot();
  }

  watch(onChange: (status: LaunchStatus) => void): () => void {
    let lastKey: string | undefined;
    const listener = (s: LaunchStatus): void => {
      const key = JSON.stringify(s);
      if (key === lastKey) return;
      lastKey = key;
      onChange(s);
    };
    this.listeners.add(listener);
    listener(this.snapshot());
    return () => void this.listeners.delete(listener);
  }

  stop(): Promise<void> {
    return this.terminate({ outcome: 'stopped', reason: 'Stopped' });
  }
}

/** Launches trainers as child processes of this one. */
export class LocalProcessLauncher implements TrainerLauncher {
  /** Launches of this launcher; a finished one is dropped once listed. */
  private readonly launches = new Set<LocalLaunch>();

  constructor(private readonly options: LocalProcessLauncherOptions) {}

  /** This launcher's launches (its own child processes: a restarted controller sees none of the old ones). */
  async list(): Promise<ListedLaunch[]> {
    const out: ListedLaunch[] = [];
    for (const launch of this.launches) {
      const status = await launch.status();
      if (status.done) this.launches.delete(launch);
      out.push({ searchId: launch.searchId, status, handle: launch });
    }
    return out;
  }

  async launch(request: LaunchRequest): Promise<LaunchHandle> {
    validateLaunchRequest(request);
    try {
      await stat(this.options.entry);
    } catch (cause) {
      throw new TrainerSpawnError(`local-${searchIdLabelValue(request.searchId)}-0`, this.options.entry, { cause });
    }
    const launch = new LocalLaunch(request, this.options, this.options.backoffLimit ?? 2 * request.trainers);
    await launch.start();
    this.launches.add(launch);
    return launch;
  }
}
