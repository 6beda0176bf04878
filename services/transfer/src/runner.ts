import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TransferJob, TransferOutcome, TransferProgressInfo } from '@nasnet/transfer';
import { TransferWorkerExitedError } from './errors.js';

/** Path of the module a training process runs. */
export const TRANSFER_WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));

export type RunnerLogLevel = 'info' | 'warn' | 'error';

export interface TransferRunHooks {
  onProgress: (progress: TransferProgressInfo) => void;
  onLog?: (level: RunnerLogLevel, line: string) => void;
  signal: AbortSignal;
  /** NAS_BACKEND of the training ('' = auto). */
  backend?: string;
}

/** Trains one transfer somewhere (a child process here; a Kubernetes Job elsewhere). */
export interface TransferRunner {
  run(job: TransferJob, hooks: TransferRunHooks): Promise<TransferOutcome>;
  /** Stops everything still running. */
  close(): Promise<void>;
}

/** Parent -> training process. */
export type ToTransferWorker = { type: 'run'; job: TransferJob } | { type: 'cancel' };
/** Training process -> parent. */
export type FromTransferWorker =
  | { type: 'ready'; backend: string; reason: string }
  | { type: 'progress'; progress: TransferProgressInfo }
  | { type: 'result'; outcome: TransferOutcome }
  | { type: 'error'; name: string; message: string };

export interface ProcessRunnerOptions {
  /** Module the process runs. @default TRANSFER_WORKER_ENTRY */
  entry?: string;
  /** Extra environment (e.g. NAS_BACKEND). */
  env?: Record<string, string>;
  /** After a cancel, SIGKILL the process if it has not exited within this many ms. @default 5000 */
  killAfterMs?: number;
}

/** An error rebuilt from a training process's report, keeping its class name. */
class TransferWorkerError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Trains each transfer in its own forked Node process (tsx loader, `serialization: 'advanced'`),
 * so training never blocks the gRPC server's event loop and a crash or a
 * leak ends with the process. Cancelling sends `cancel` (training stops
 * between steps), then SIGKILLs after killAfterMs.
 */
export class ProcessTransferRunner implements TransferRunner {
  private readonly options: Required<ProcessRunnerOptions>;
  private readonly live = new Set<ReturnType<typeof fork>>();

  constructor(options: ProcessRunnerOptions = {}) {
    this.options = { entry: TRANSFER_WORKER_ENTRY, env: {}, killAfterMs: 5000, ...options };
  }

  run(job: TransferJob, hooks: TransferRunHooks): Promise<TransferOutcome> {
    return new Promise<TransferOutcome>((resolve, reject) => {
      if (hooks.signal.aborted) return reject(new Error('cancelled before start'));
      const env: Record<string, string | undefined> = { ...process.env, ...this.options.env };
      if (hooks.backend) env['NAS_BACKEND'] = hooks.backend;
      const proc = fork(this.options.entry, [], {
        execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced',
      });
      this.live.add(proc);
      let settled = false;
      let stderrTail = '';
      let killTimer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        hooks.signal.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => {
        try { proc.send({ type: 'cancel' } satisfies ToTransferWorker); } catch { /* already gone */ }
        killTimer = setTimeout(() => proc.kill('SIGKILL'), this.options.killAfterMs);
        killTimer.unref();
      };
      hooks.signal.addEventListener('abort', onAbort, { once: true });
      const lines = (level: RunnerLogLevel) => (chunk: Buffer | string) => {
        const text = chunk.toString();
        if (level === 'warn') stderrTail = (stderrTail + text).slice(-2000);
        for (const line of text.split('\n')) if (line.trim()) hooks.onLog?.(level, line);
      };
      proc.stdout?.on('data', lines('info'));
      proc.stderr?.on('data', lines('warn'));
      proc.on('message', (msg: FromTransferWorker) => {
        switch (msg.type) {
          case 'ready':
            hooks.onLog?.('info', `training process ${proc.pid} uses the ${msg.backend} backend (${msg.reason})`);
            proc.send({ type: 'run', job } satisfies ToTransferWorker);
            return;
          case 'progress':
            if (!settled) hooks.onProgress(msg.progress);
            return;
          case 'result':
            finish(() => resolve(msg.outcome));
            return;
          case 'error':
            finish(() => reject(new TransferWorkerError(msg.name, msg.message)));
            return;
        }
      });
      proc.on('error', (err) => finish(() => reject(err)));
      proc.on('exit', (code, sig) => {
        this.live.delete(proc);
        if (killTimer) clearTimeout(killTimer);
        const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
        finish(() => reject(hooks.signal.aborted ? new Error('cancelled') : new TransferWorkerExitedError(code, sig, tail)));
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((proc) => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    })));
  }
}
