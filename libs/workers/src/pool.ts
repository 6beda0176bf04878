import { WorkerCancelledError, WorkerClosedError, WorkerCrashedError } from './errors.js';
import { WorkerProcess, type RunHooks, type WorkerStream } from './process.js';

export interface WorkerPoolOptions<T, S> {
  /** Module each worker runs; it must call `serveWorker(...)`. */
  entry: string;
  /** Worker processes. @default 1 */
  workers: number;
  /** Handed to every worker's start function (e.g. which tensor backend to use). */
  settings?: S;
  /** The workers' whole environment. @default this process's environment */
  env?: NodeJS.ProcessEnv;
  /** A task whose worker died is given to a fresh worker this many times. @default 1 */
  retries: number;
  /** After a cancel, SIGKILL a worker whose task has not ended within this many ms (it is replaced). @default never */
  killAfterMs?: number;
  /** On close, SIGKILL a worker that has not exited within this many ms. @default 3000 */
  closeGraceMs: number;
  /** Called once per worker process when its start function has finished. */
  onReady?: (worker: number, backend: string, reason: string) => void;
  /** Lines a worker writes to stdout or stderr. */
  onLog?: (worker: number, line: string, stream: WorkerStream) => void;
  /** How errors name a task (e.g. `child 13`). @default 'task <n>' */
  describeTask?: (task: T) => string;
}

interface Job<T, P, R> {
  task: T;
  hooks: RunHooks<P>;
  attempts: number;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

interface Slot<T, P, R, S> {
  index: number;
  proc?: WorkerProcess<T, P, R, S>;
  job?: Job<T, P, R>;
}

/**
 * Does tasks in a fixed number of local worker processes, one task per
 * process at a time (each process owns its tensor engine, so a crash or a
 * leak stays there). A worker that dies is replaced and its task retried on
 * a fresh one, up to `retries` times.
 *
 * ```ts
 * const pool = new WorkerPool<ChildTask, ChildProgress, ChildResult>({ workers: 2, entry });
 * const result = await pool.execute(task, { onProgress, signal });
 * await pool.close();
 * ```
 */
export class WorkerPool<T, P, R, S = undefined> {
  private readonly options: WorkerPoolOptions<T, S>;
  private readonly slots: Slot<T, P, R, S>[];
  private readonly queue: Job<T, P, R>[] = [];
  private closed = false;

  constructor(options: Partial<WorkerPoolOptions<T, S>> & Pick<WorkerPoolOptions<T, S>, 'entry'>) {
    this.options = { workers: 1, retries: 1, closeGraceMs: 3000, ...options };
    if (!Number.isInteger(this.options.workers) || this.options.workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${this.options.workers}`);
    }
    if (!Number.isInteger(this.options.retries) || this.options.retries < 0) {
      throw new RangeError(`retries must be a non-negative integer, got ${this.options.retries}`);
    }
    this.slots = Array.from({ length: this.options.workers }, (_, index) => ({ index }));
  }

  get size(): number {
    return this.slots.length;
  }

  /** Queues `task`; resolves with its result, rejects with one of the Worker*Error classes. */
  execute(task: T, hooks: RunHooks<P> = {}): Promise<R> {
    const label = () => this.options.describeTask?.(task) ?? 'task';
    if (this.closed) return Promise.reject(new WorkerClosedError('worker pool', label()));
    if (hooks.signal?.aborted) return Promise.reject(new WorkerCancelledError(label(), 'before start', { cause: hooks.signal.reason }));
    return new Promise<R>((resolve, reject) => {
      const onAbort = () => {
        // A queued task leaves the queue here; a running one is cancelled by its WorkerProcess.
        const queued = this.queue.indexOf(job);
        if (queued < 0) return;
        this.queue.splice(queued, 1);
        job.reject(new WorkerCancelledError(label(), 'before start', { cause: hooks.signal?.reason }));
      };
      const done = () => hooks.signal?.removeEventListener('abort', onAbort);
      const job: Job<T, P, R> = {
        task, hooks, attempts: 0,
        resolve: (r) => { done(); resolve(r); },
        reject: (e) => { done(); reject(e); },
      };
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.closed || this.queue.length === 0) return;
      if (slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      job.attempts += 1;
      const proc = slot.proc?.alive ? slot.proc : this.spawn(slot);
      proc.run(job.task, job.hooks).then(
        (result) => { slot.job = undefined; job.resolve(result); },
        (err: Error) => {
          slot.job = undefined;
          const retry = err instanceof WorkerCrashedError && !this.closed && job.attempts <= this.options.retries && !job.hooks.signal?.aborted;
          if (retry) this.queue.unshift(job);
          else job.reject(err);
        },
      ).finally(() => this.pump());
    }
  }

  private spawn(slot: Slot<T, P, R, S>): WorkerProcess<T, P, R, S> {
    const { entry, settings, env, killAfterMs, describeTask, onReady, onLog } = this.options;
    const proc: WorkerProcess<T, P, R, S> = new WorkerProcess<T, P, R, S>({
      entry, settings, env, killAfterMs, describeTask, worker: slot.index,
      onReady: (ready) => onReady?.(slot.index, ready.backend, ready.reason),
      onLog: (line, stream) => onLog?.(slot.index, line, stream),
      onExit: () => { if (slot.proc === proc) slot.proc = undefined; },
    });
    slot.proc = proc;
    return proc;
  }

  /** Stops every worker; queued tasks and tasks in hand are rejected with WorkerClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new WorkerClosedError('worker pool', this.options.describeTask?.(job.task) ?? 'task'));
    await Promise.all(this.slots.map((slot) => slot.proc?.close(this.options.closeGraceMs)));
  }
}
