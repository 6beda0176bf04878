import { fork, type ChildProcess } from 'node:child_process';
import type { ChildExecutor, ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import type { FromWorker, ToWorker } from './protocol.js';

export interface WorkerPoolOptions {
  /** Worker processes. @default 1 */
  workers: number;
  /** Module each worker runs; it must call `serveWorker(train)`. */
  entry: string;
  /** Extra environment for the workers (e.g. NAS_BACKEND). */
  env?: Record<string, string>;
  /** A task whose worker died is given to another worker this many times. @default 1 */
  retries: number;
  /** Called once per worker when its backend is up. */
  onReady?: (worker: number, backend: string, reason: string) => void;
  /** Lines a worker writes to stderr. */
  onLog?: (worker: number, line: string) => void;
}

export class WorkerCrashedError extends Error {
  constructor(readonly worker: number, readonly childId: number, detail: string, options?: ErrorOptions) {
    super(`worker ${worker} died while training child ${childId}: ${detail}`, options);
    this.name = 'WorkerCrashedError';
  }
}

interface Job {
  task: ChildTask;
  onProgress?: (p: ChildProgress) => void;
  signal?: AbortSignal;
  resolve: (r: ChildResult) => void;
  reject: (e: Error) => void;
  attempts: number;
}

interface Slot {
  index: number;
  proc?: ChildProcess;
  job?: Job;
  stderrTail: string;
}

/**
 * Trains children in local worker processes, one task per process at a time
 * (each process owns its tensor engine, so a crash or a leak stays there).
 * A worker that dies is replaced and its task retried on a fresh one.
 */
export class LocalWorkerPool implements ChildExecutor {
  private readonly options: WorkerPoolOptions;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(options: Partial<WorkerPoolOptions> & Pick<WorkerPoolOptions, 'entry'>) {
    this.options = { workers: 1, retries: 1, ...options };
    if (!Number.isInteger(this.options.workers) || this.options.workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${this.options.workers}`);
    }
    this.slots = Array.from({ length: this.options.workers }, (_, index) => ({ index, stderrTail: '' }));
  }

  get size(): number {
    return this.slots.length;
  }

  execute(task: ChildTask, hooks: { onProgress?: (p: ChildProgress) => void; signal?: AbortSignal } = {}): Promise<ChildResult> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<ChildResult>((resolve, reject) => {
      if (hooks.signal?.aborted) return reject(new Error('cancelled before start'));
      const onAbort = () => this.cancel(job);
      const done = () => hooks.signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        task, attempts: 0, ...hooks,
        resolve: (r) => { done(); resolve(r); },
        reject: (e) => { done(); reject(e); },
      };
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  private cancel(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      job.reject(new Error('cancelled'));
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    if (slot?.proc) this.send(slot, { type: 'cancel', childId: job.task.childId });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      job.attempts += 1;
      if (!slot.proc) this.spawn(slot);
      this.send(slot, { type: 'task', task: job.task });
    }
  }

  private spawn(slot: Slot): void {
    const proc = fork(this.options.entry, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...this.options.env, NAS_WORKER_INDEX: String(slot.index) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    slot.proc = proc;
    slot.stderrTail = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      slot.stderrTail = (slot.stderrTail + chunk).slice(-2000);
      for (const line of chunk.split('\n')) if (line.trim()) this.options.onLog?.(slot.index, line);
    });
    proc.on('message', (msg: FromWorker) => this.onMessage(slot, msg));
    proc.on('exit', (code, signal) => this.onExit(slot, proc, code, signal));
  }

  private send(slot: Slot, msg: ToWorker): void {
    slot.proc?.send(msg);
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    const job = slot.job;
    switch (msg.type) {
      case 'ready':
        this.options.onReady?.(slot.index, msg.backend, msg.reason);
        return;
      case 'progress':
        if (job && job.task.childId === msg.childId) job.onProgress?.(msg.progress);
        return;
      case 'result':
      case 'error':
        if (!job || job.task.childId !== msg.childId) return;
        slot.job = undefined;
        if (msg.type === 'result') job.resolve({ ...msg.result, trainer: `local-worker-${slot.index}` });
        else job.reject(new Error(msg.message));
        this.pump();
        return;
    }
  }

  private onExit(slot: Slot, proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.proc !== proc) return;
    slot.proc = undefined;
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      const tail = slot.stderrTail.trim().split('\n').slice(-3).join(' | ');
      const detail = `${signal ? `signal ${signal}` : `exit code ${code}`}${tail ? ` (${tail})` : ''}`;
      if (!this.closed && job.attempts <= this.options.retries && !job.signal?.aborted) {
        this.queue.unshift(job);
      } else {
        job.reject(new WorkerCrashedError(slot.index, job.task.childId, detail));
      }
    }
    if (!this.closed) this.pump();
  }

  /** Stops every worker; queued tasks are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('worker pool closed'));
    await Promise.all(
      this.slots.map((slot) => new Promise<void>((resolve) => {
        const proc = slot.proc;
        if (!proc || proc.exitCode !== null) return resolve();
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        proc.once('exit', () => { clearTimeout(timer); resolve(); });
        try { proc.send({ type: 'shutdown' } satisfies ToWorker); } catch { proc.kill('SIGKILL'); }
      })),
    );
  }
}
