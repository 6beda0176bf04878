import { fileURLToPath } from 'node:url';
import type { TransferJob, TransferOutcome, TransferProgressInfo } from '@nasnet/transfer';
import { WorkerCancelledError, WorkerCrashedError, WorkerProcess } from '@nasnet/workers';
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

/** What a training process is started with (the worker's start settings). */
export interface TransferWorkerSettings {
  /** Tensor backend; unset: the engine's default. */
  backend?: string;
}

export interface ProcessRunnerOptions {
  /** Module the process runs (it serves the @nasnet/workers protocol). @default TRANSFER_WORKER_ENTRY */
  entry?: string;
  /** The processes' whole environment. @default this process's environment */
  env?: NodeJS.ProcessEnv;
  /** After a cancel, SIGKILL the process if it has not ended within this many ms. @default 5000 */
  killAfterMs?: number;
  /** Backend of a transfer whose spec names none (the service's NAS_BACKEND). @default auto */
  backend?: string;
}

/**
 * Trains each transfer in its own worker process (@nasnet/workers), so
 * training never blocks the gRPC server's event loop and a crash or a leak
 * ends with the process. Cancelling aborts the worker's signal (training
 * stops between steps), then SIGKILLs after killAfterMs. A process that dies
 * fails the transfer with TransferWorkerExitedError; an error thrown in the
 * process keeps its class name.
 */
export class ProcessTransferRunner implements TransferRunner {
  private readonly options: Required<Omit<ProcessRunnerOptions, 'env' | 'backend'>> & Pick<ProcessRunnerOptions, 'env' | 'backend'>;
  private readonly live = new Set<WorkerProcess<TransferJob, TransferProgressInfo, TransferOutcome, TransferWorkerSettings>>();

  constructor(options: ProcessRunnerOptions = {}) {
    this.options = { entry: TRANSFER_WORKER_ENTRY, killAfterMs: 5000, ...options };
  }

  async run(job: TransferJob, hooks: TransferRunHooks): Promise<TransferOutcome> {
    if (hooks.signal.aborted) throw new WorkerCancelledError('the transfer', 'before start', { cause: hooks.signal.reason });
    const backend = hooks.backend || this.options.backend;
    const proc = new WorkerProcess<TransferJob, TransferProgressInfo, TransferOutcome, TransferWorkerSettings>({
      entry: this.options.entry,
      env: this.options.env,
      killAfterMs: this.options.killAfterMs,
      settings: backend ? { backend } : {},
      describeTask: () => 'the transfer',
      onReady: ({ backend, reason }) => hooks.onLog?.('info', `training process ${proc.pid} uses the ${backend} backend (${reason})`),
      onLog: (line, stream) => hooks.onLog?.(stream === 'stdout' ? 'info' : 'warn', line),
    });
    this.live.add(proc);
    try {
      return await proc.run(job, { onProgress: hooks.onProgress, signal: hooks.signal });
    } catch (err) {
      if (err instanceof WorkerCrashedError) throw new TransferWorkerExitedError(err.code, err.signal, err.stderrTail, { cause: err });
      throw err;
    } finally {
      this.live.delete(proc);
      await proc.close(this.options.killAfterMs);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((proc) => proc.close(0)));
  }
}
