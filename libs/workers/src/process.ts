import { fork, type ChildProcess } from 'node:child_process';
import {
  WorkerBusyError, WorkerCancelledError, WorkerClosedError, WorkerCrashedError, WorkerStartError, WorkerTaskError,
} from './errors.js';
import type { FromWorker, ToWorker, WorkerReady } from './protocol.js';

export type WorkerStream = 'stdout' | 'stderr';

export interface WorkerProcessOptions<T, S> {
  /** Module the process runs; it must call `serveWorker(...)`. */
  entry: string;
  /** This worker's index in its pool (handed to the worker's start function). @default 0 */
  worker?: number;
  /** Sent to the worker's start function (e.g. which tensor backend to use). */
  settings?: S;
  /** The process's whole environment. @default this process's environment */
  env?: NodeJS.ProcessEnv;
  /** Node options of the process. @default ['--import', 'tsx'] (the workspace runs TypeScript through tsx) */
  execArgv?: string[];
  /**
   * After a cancel, SIGKILL the process if the task has not ended within
   * this many ms (a work function that never looks at its signal).
   * @default never
   */
  killAfterMs?: number;
  /** Called once when the worker's start function has finished. */
  onReady?: (ready: WorkerReady) => void;
  /** Every line the process writes to stdout or stderr. */
  onLog?: (line: string, stream: WorkerStream) => void;
  /** Called once when the process has ended (after every task it held was settled). */
  onExit?: (code: number | null, signal: string | null) => void;
  /** How errors name a task. @default 'task <n>' */
  describeTask?: (task: T) => string;
}

export interface RunHooks<P> {
  onProgress?: (progress: P) => void;
  /** Abort to cancel: the worker's signal is aborted (and the process killed after killAfterMs, if set). */
  signal?: AbortSignal;
}

interface Current<T, P, R> {
  id: number;
  task: T;
  label: string;
  hooks: RunHooks<P>;
  sent: boolean;
  killTimer?: NodeJS.Timeout;
  settle: (outcome: { result: R } | { error: Error }) => void;
}

/** Lines kept for a crash report. */
const TAIL_LINES = 3;

/**
 * One forked worker process (`serialization: 'advanced'`) that does one task
 * at a time; it stays up between tasks until close(). A process that dies
 * settles its current task with WorkerCrashedError (with the last stderr
 * lines), so a crash or a leak ends with the process, never the parent.
 */
export class WorkerProcess<T, P, R, S = undefined> {
  readonly worker: number;
  private readonly options: WorkerProcessOptions<T, S>;
  private readonly proc: ChildProcess;
  private readonly ended: Promise<void>;
  private ready = false;
  private listening = false;
  private exit?: { code: number | null; signal: string | null };
  private startError?: WorkerStartError;
  private closing = false;
  private current?: Current<T, P, R>;
  private nextId = 1;
  private readonly stderrTail: string[] = [];

  constructor(options: WorkerProcessOptions<T, S>) {
    this.options = options;
    this.worker = options.worker ?? 0;
    this.proc = fork(options.entry, [], {
      execArgv: options.execArgv ?? ['--import', 'tsx'],
      ...(options.env ? { env: options.env } : {}),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.readLines('stdout');
    this.readLines('stderr');
    this.proc.on('message', (msg: FromWorker<P, R>) => this.onMessage(msg));
    this.ended = new Promise<void>((resolve) => {
      let done = false;
      const end = (code: number | null, signal: string | null) => {
        if (done) return;
        done = true;
        this.onEnd(code, signal);
        resolve();
      };
      // 'close' comes after stdout and stderr are drained, so the crash report has the last lines.
      this.proc.on('close', (code, signal) => end(code, signal));
      this.proc.on('error', (err) => {
        this.options.onLog?.(`worker process error: ${err.message}`, 'stderr');
        if (this.proc.pid === undefined) end(null, null); // never started: no 'close' will follow
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** True until the process has ended or failed to start. */
  get alive(): boolean {
    return !this.exit && !this.startError && !this.closing;
  }

  /** True while a task is in hand. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Does `task` in the worker; resolves with its result, rejects with one of the Worker*Error classes. */
  run(task: T, hooks: RunHooks<P> = {}): Promise<R> {
    const label = this.options.describeTask?.(task) ?? `task ${this.nextId}`;
    if (this.current) return Promise.reject(new WorkerBusyError(this.worker, label));
    if (this.startError) return Promise.reject(this.startError);
    if (this.exit) return Promise.reject(this.crashed(label));
    if (this.closing) return Promise.reject(new WorkerClosedError(`worker ${this.worker}`, label));
    if (hooks.signal?.aborted) return Promise.reject(new WorkerCancelledError(label, 'before start', { cause: hooks.signal.reason }));
    return new Promise<R>((resolve, reject) => {
      const onAbort = () => this.cancel();
      const current: Current<T, P, R> = {
        id: this.nextId++, task, label, hooks, sent: false,
        settle: (outcome) => {
          if (this.current !== current) return;
          this.current = undefined;
          hooks.signal?.removeEventListener('abort', onAbort);
          if (current.killTimer) clearTimeout(current.killTimer);
          if ('result' in outcome) resolve(outcome.result);
          else reject(outcome.error);
        },
      };
      this.current = current;
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.dispatch();
    });
  }

  /**
   * Asks the worker to stop (its signal aborts, it exits); SIGKILLs it after
   * graceMs. A task still in hand is rejected at once with WorkerClosedError.
   */
  async close(graceMs = 3000): Promise<void> {
    this.closing = true;
    const current = this.current;
    if (current) current.settle({ error: new WorkerClosedError(`worker ${this.worker}`, current.label) });
    if (!this.exit) {
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
      timer.unref();
      if (this.proc.connected) this.send({ type: 'shutdown' });
      else this.proc.kill('SIGKILL');
      await this.ended;
      clearTimeout(timer);
    }
  }

  private cancel(): void {
    const current = this.current;
    if (!current) return;
    const reason = current.hooks.signal?.reason;
    if (!current.sent) {
      current.settle({ error: new WorkerCancelledError(current.label, 'before start', { cause: reason }) });
      return;
    }
    this.send({ type: 'cancel', id: current.id });
    if (this.options.killAfterMs !== undefined && !current.killTimer) {
      current.killTimer = setTimeout(() => this.proc.kill('SIGKILL'), this.options.killAfterMs);
      current.killTimer.unref();
    }
  }

  private dispatch(): void {
    const current = this.current;
    if (!this.ready || !current || current.sent) return;
    current.sent = true;
    this.send({ type: 'task', id: current.id, task: current.task });
  }

  private send(msg: ToWorker<T, S>): void {
    // A closed channel is reported by 'close' (which settles the task); nothing to do here.
    if (this.proc.connected) this.proc.send(msg, undefined, {}, () => {});
  }

  private onMessage(msg: FromWorker<P, R>): void {
    const current = this.current;
    switch (msg.type) {
      case 'listening':
        if (this.listening) return;
        this.listening = true;
        this.send({ type: 'start', worker: this.worker, settings: this.options.settings as S });
        return;
      case 'ready':
        this.ready = true;
        this.options.onReady?.({ backend: msg.backend, reason: msg.reason });
        this.dispatch();
        return;
      case 'start_failed':
        this.startError = new WorkerStartError(this.worker, msg.name, msg.message);
        current?.settle({ error: this.startError });
        return;
      case 'progress':
        if (current?.id === msg.id) current.hooks.onProgress?.(msg.progress);
        return;
      case 'result':
        if (current?.id === msg.id) current.settle({ result: msg.result });
        return;
      case 'error': {
        if (current?.id !== msg.id) return;
        const error = new WorkerTaskError(msg.name, msg.message);
        current.settle({
          error: current.hooks.signal?.aborted ? new WorkerCancelledError(current.label, 'while running', { cause: error }) : error,
        });
        return;
      }
    }
  }

  private onEnd(code: number | null, signal: string | null): void {
    this.exit = { code, signal };
    const current = this.current;
    if (current) {
      let error: Error;
      if (current.hooks.signal?.aborted) error = new WorkerCancelledError(current.label, 'while running', { cause: this.crashed(current.label) });
      else if (this.startError) error = this.startError;
      else error = this.crashed(current.label);
      current.settle({ error });
    }
    this.options.onExit?.(code, signal);
  }

  private crashed(label: string): WorkerCrashedError {
    const { code, signal } = this.exit ?? { code: null, signal: null };
    return new WorkerCrashedError(this.worker, code, signal, this.stderrTail.join(' | '), this.ready ? `working on ${label}` : `starting (before ${label})`);
  }

  private readLines(stream: WorkerStream): void {
    const source = this.proc[stream];
    if (!source) return;
    source.setEncoding('utf8');
    let partial = '';
    const emit = (line: string) => {
      if (!line.trim()) return;
      if (stream === 'stderr') {
        this.stderrTail.push(line.trim());
        if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift();
      }
      this.options.onLog?.(line, stream);
    };
    source.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) emit(line);
    });
    source.on('end', () => { emit(partial); partial = ''; });
  }
}
