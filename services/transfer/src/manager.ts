import { MemoryStateStore } from '@nasnet/bus';
import * as pb from '@nasnet/proto';
import {
  InvalidPageTokenError, JobRegistry,
  type Job, type JobEvent, type JobState, type QuarantinedEntry, type StateStore,
} from '@nasnet/registry';
import type { TransferDatasetOptions, TransferJob, TransferLimits, TransferOutcome, TransferProgressInfo } from '@nasnet/transfer';
import { InvalidTransferRequestError, TransferNotFoundError, TransferQueueFullError } from './errors.js';
import type { RunnerLogLevel, TransferRunner } from './runner.js';
import { acceptSpec } from './spec.js';
import type { ResolveSearchBest, TransferPaths } from './spec.js';

const STATE_TO_PROTO: Record<JobState, pb.TransferState> = {
  pending: pb.TransferState.TRANSFER_STATE_PENDING,
  running: pb.TransferState.TRANSFER_STATE_RUNNING,
  succeeded: pb.TransferState.TRANSFER_STATE_SUCCEEDED,
  failed: pb.TransferState.TRANSFER_STATE_FAILED,
  cancelled: pb.TransferState.TRANSFER_STATE_CANCELLED,
};
const FINAL_STATES: ReadonlySet<pb.TransferState> = new Set([
  pb.TransferState.TRANSFER_STATE_SUCCEEDED, pb.TransferState.TRANSFER_STATE_FAILED, pb.TransferState.TRANSFER_STATE_CANCELLED,
]);
const LOG_LEVELS: Record<RunnerLogLevel, pb.LogLevel> = {
  info: pb.LogLevel.LOG_LEVEL_INFO, warn: pb.LogLevel.LOG_LEVEL_WARN, error: pb.LogLevel.LOG_LEVEL_ERROR,
};
/** ListTransfers page size when the request gives none, and the largest allowed. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export const isFinalState = (s: pb.TransferState): boolean => FINAL_STATES.has(s);

/** What a transfer was asked to do: the spec as answered to clients, and what the runner trains. */
export interface TransferSpecRecord {
  /** The spec with the server's defaults filled in (proto3 JSON of nas.v1.TransferSpec). */
  request: unknown;
  /** The job for the runner, without the loader options (the service's own, given again after a restart). */
  job: Omit<TransferJob, 'datasetOptions'>;
  /** NAS_BACKEND for the training process ('' = auto). */
  backend: string;
}

/** The transfer service's own fields of a stored transfer, beside the registry's. */
export interface TransferFields {
  /** The planned network: N, F0, the paper's F, and its counts (the trained network's once it finished). */
  plan: { cells: number; initialFilters: number; filters: number; paramCount: number; multAdds: number };
  progress?: pb.TransferProgress;
  result?: pb.TransferResult;
}

export type StoredTransfer = Job<TransferSpecRecord, TransferFields>;
type TransferEventBody = NonNullable<pb.TransferEvent['event']>;

export interface TransferManagerOptions {
  /** Trains the transfers. */
  runner: TransferRunner;
  /** Where transfers live (the nas_transfers KV bucket in the cluster). @default memory (lost with the process) */
  store?: StateStore<unknown>;
  /** Resolves spec.search_id to the search's best genotype (provided by the controller). */
  resolveSearchBest?: ResolveSearchBest;
  /** Loader options of every transfer's data set (e.g. `{ cifar10: { strict: false } }`). */
  datasetOptions?: TransferDatasetOptions;
  /** Transfers trained at once; the rest wait as PENDING. @default 1 */
  maxConcurrent?: number;
  /** The operator's limits: sizes of one transfer and limits.maxQueued waiting ones (more are refused). @default none */
  limits?: TransferLimits;
  /** Data sets are read only under paths.dataRoot, exports written only under paths.exportRoot (an unset root: none allowed). @default unconfined */
  paths?: TransferPaths;
  /** Finished transfers kept in memory; older ones are read from the store when asked for. @default 16 */
  keepFinished?: number;
  /** Progress is saved at most this often (state changes at once). @default 500 */
  saveEveryMs?: number;
  log?: (line: string) => void;
}

/** A stored transfer's own fields, checked: a value that fails is quarantined by the registry. */
function decodeTransfer(job: StoredTransfer, key: string): StoredTransfer {
  const spec = job.spec as Partial<TransferSpecRecord> | undefined;
  if (!spec || typeof spec !== 'object' || !spec.job || typeof spec.job !== 'object' || !spec.job.genotype || typeof spec.job.dataset !== 'string') {
    throw new Error(`transfer ${key}: spec.job is not a transfer job`);
  }
  if (typeof spec.backend !== 'string') throw new Error(`transfer ${key}: spec.backend is not a string`);
  const plan = job.plan as Partial<TransferFields['plan']> | undefined;
  if (!plan || typeof plan.cells !== 'number' || typeof plan.paramCount !== 'number') throw new Error(`transfer ${key}: plan is missing its size`);
  return job;
}

/**
 * Transfers on the job registry: accepts specs, queues them, runs up to
 * maxConcurrent through the runner, keeps each transfer's status and
 * numbered event log in the store, and serves watchers from any sequence
 * number. A transfer that was pending or running when the service stopped
 * is queued again when it starts (training starts over from the first
 * step; its log says so). Transport-free apart from the proto status and
 * events it answers with; the gRPC handlers only map to it.
 */
export class TransferManager {
  private readonly options: TransferManagerOptions & { maxConcurrent: number };
  private readonly registry: JobRegistry<TransferSpecRecord, TransferFields, TransferEventBody>;
  private readonly queue: string[] = [];
  private readonly aborts = new Map<string, AbortController>();
  private readonly runs = new Set<Promise<void>>();
  private running = 0;
  private closed = false;

  constructor(options: TransferManagerOptions) {
    const maxConcurrent = options.maxConcurrent ?? 1;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
    this.options = { ...options, maxConcurrent };
    this.registry = new JobRegistry<TransferSpecRecord, TransferFields, TransferEventBody>({
      store: options.store ?? new MemoryStateStore<unknown>(),
      kind: 'transfer',
      newId: (n) => `transfer-${n}`,
      decode: decodeTransfer,
      onCancel: (job, reason) => this.stop(job.id, reason || 'cancelled by request'),
      notFound: (id) => new TransferNotFoundError(id),
      saveEveryMs: options.saveEveryMs ?? 500,
      defaultPageSize: DEFAULT_PAGE_SIZE,
      maxPageSize: MAX_PAGE_SIZE,
      ...(options.keepFinished !== undefined ? { keepFinished: options.keepFinished } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }

  /**
   * Reads the stored transfers and queues the unfinished ones again (a
   * running one starts over: its training process ended with the old
   * service). An entry that cannot be read is quarantined. Returns how many
   * were queued.
   */
  async recover(): Promise<number> {
    const report = await this.registry.recover();
    for (const t of report.unfinished) {
      if (t.runState === 'running') {
        this.registry.setState(t.id, 'pending');
        this.emit(t.id, { $case: 'stateChanged', value: { previous: pb.TransferState.TRANSFER_STATE_RUNNING, current: pb.TransferState.TRANSFER_STATE_PENDING, message: 'the transfer service restarted' } });
        this.log(t.id, 'warn', 'the transfer service restarted while this transfer was running; it is queued again and trains from the start');
      } else {
        this.log(t.id, 'info', 'the transfer service restarted; this transfer is still queued');
      }
      void this.registry.save(t.id, true);
      this.queue.push(t.id);
    }
    this.pump();
    return report.unfinished.length;
  }

  /** Stored entries recovery could not use (moved under `quarantine=<key>` or left in place). */
  quarantined(): QuarantinedEntry[] {
    return this.registry.quarantined();
  }

  /**
   * StartTransfer: checks and plans the spec, stores the transfer, then
   * queues it (idempotent per request id, also across restarts). If the
   * store cannot take it, JobStoreError and nothing remains.
   */
  async start(req: pb.StartTransferRequest, opts: { submitter?: string } = {}): Promise<pb.StartTransferResponse> {
    if (this.closed) throw new Error('the transfer service is shutting down');
    const { job, created } = await this.registry.submit({
      ...(req.requestId ? { requestId: req.requestId } : {}),
      ...(opts.submitter ? { submitter: opts.submitter } : {}),
      prepare: async () => {
        const { limits } = this.options;
        if (limits && this.queue.length >= limits.maxQueued) throw new TransferQueueFullError(limits.maxQueued);
        const accepted = await acceptSpec(req.spec, {
          ...(this.options.resolveSearchBest ? { resolveSearchBest: this.options.resolveSearchBest } : {}),
          ...(this.options.datasetOptions ? { datasetOptions: this.options.datasetOptions } : {}),
          ...(limits ? { limits } : {}),
          ...(this.options.paths ? { paths: this.options.paths } : {}),
        });
        // Checked again after the (asynchronous) planning: another request may have taken the last place meanwhile.
        if (limits && this.queue.length >= limits.maxQueued) throw new TransferQueueFullError(limits.maxQueued);
        const { datasetOptions: _loader, ...runnable } = accepted.job;
        const { size } = accepted.plan;
        return {
          spec: { request: pb.TransferSpec.toJSON(accepted.filled), job: runnable, backend: accepted.backend },
          status: { plan: { cells: size.cells, initialFilters: size.initialFilters, filters: size.filters, paramCount: size.paramCount, multAdds: size.multAdds } },
        };
      },
    });
    if (created) {
      const { plan } = job;
      this.emit(job.id, { $case: 'stateChanged', value: { previous: pb.TransferState.TRANSFER_STATE_UNSPECIFIED, current: pb.TransferState.TRANSFER_STATE_PENDING, message: '' } });
      this.log(job.id, 'info', `planned ${plan.cells}@${plan.filters} (F0 ${plan.initialFilters}): ${plan.paramCount} parameters, ${plan.multAdds} mult-adds per image`);
      void this.registry.save(job.id);
      this.queue.push(job.id);
      this.pump();
    }
    return { transferId: job.id, status: toStatus(job) };
  }

  async get(transferId: string): Promise<pb.TransferStatus> {
    return toStatus(await this.registry.get(transferId));
  }

  /** ListTransfers: newest first; the page token is the number of the last transfer of the previous page. */
  async list(req: pb.ListTransfersRequest): Promise<pb.ListTransfersResponse> {
    const states = req.states.map((s, i) => {
      const found = (Object.entries(STATE_TO_PROTO) as Array<[JobState, pb.TransferState]>).find(([, p]) => p === s);
      if (!found && s !== pb.TransferState.TRANSFER_STATE_UNSPECIFIED) throw new InvalidTransferRequestError(`states[${i}]`, `unknown TransferState enum ${s}`);
      return found?.[0];
    }).filter((s): s is JobState => s !== undefined);
    try {
      const page = await this.registry.list({ states, pageSize: req.pageSize, pageToken: req.pageToken });
      return { transfers: page.jobs.map(toStatus), nextPageToken: page.nextPageToken };
    } catch (err) {
      if (err instanceof InvalidPageTokenError) throw new InvalidTransferRequestError('page_token', `'${err.token.slice(0, 40)}' is not a token this server issued`, { cause: err });
      throw err;
    }
  }

  /**
   * Replays the events from `fromSequence` (0 or 1 = all), then follows new
   * ones; `'end'` comes after the event that reaches a final state.
   * Resolves with the unsubscribe function.
   */
  watch(transferId: string, fromSequence: number, listener: (event: pb.TransferEvent | 'end') => void): Promise<() => void> {
    return this.registry.watch(transferId, fromSequence, (e) => listener(e === 'end' ? e : toEvent(e)));
  }

  /** CancelTransfer: PENDING and RUNNING transfers become CANCELLED at once; finished ones are returned unchanged. */
  async cancel(transferId: string, reason: string): Promise<pb.TransferStatus> {
    return toStatus(await this.registry.cancel(transferId, reason));
  }

  /**
   * Stops the service's work without ending any transfer: training
   * processes are stopped and the state is saved as it is, so the next
   * start queues the pending and running transfers again.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.queue.length = 0;
    for (const [id, abort] of this.aborts) {
      // A cancelled transfer whose process is still ending has nothing more to say.
      if (this.registry.peek(id)?.runState === 'running') {
        this.log(id, 'warn', 'the transfer service is stopping; this transfer trains again from the start when it is back');
      }
      abort.abort(new Error('the transfer service stopped'));
    }
    this.closed = true;
    await this.options.runner.close();
    await Promise.allSettled([...this.runs]);
    await this.registry.close();
  }

  private async stop(id: string, reason: string): Promise<void> {
    const i = this.queue.indexOf(id);
    if (i >= 0) this.queue.splice(i, 1);
    this.aborts.get(id)?.abort(new Error(reason));
    await this.end(id, 'cancelled', reason);
  }

  private pump(): void {
    while (!this.closed && this.running < this.options.maxConcurrent && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.running++;
      const run = this.run(id).finally(() => {
        this.running--;
        this.runs.delete(run);
        this.pump();
      });
      this.runs.add(run);
    }
  }

  private isRunning(id: string): boolean {
    return !this.closed && this.registry.peek(id)?.runState === 'running';
  }

  private async run(id: string): Promise<void> {
    const abort = new AbortController();
    this.aborts.set(id, abort);
    const t = this.registry.current(id);
    this.registry.setState(id, 'running');
    this.emit(id, { $case: 'stateChanged', value: { previous: pb.TransferState.TRANSFER_STATE_PENDING, current: pb.TransferState.TRANSFER_STATE_RUNNING, message: '' } });
    void this.registry.save(id, true);
    let outcome: TransferOutcome;
    try {
      outcome = await this.options.runner.run({ ...t.spec.job, ...(this.options.datasetOptions ? { datasetOptions: this.options.datasetOptions } : {}) }, {
        signal: abort.signal,
        backend: t.spec.backend,
        onProgress: (p: TransferProgressInfo) => {
          if (!this.isRunning(id)) return;
          const progress: pb.TransferProgress = {
            epoch: p.epoch, totalEpochs: p.totalEpochs, step: p.step, loss: p.loss, trainAccuracy: p.trainAccuracy, imagesPerSec: p.imagesPerSec,
          };
          t.progress = progress;
          this.emit(id, { $case: 'progress', value: progress });
          if (p.validationAccuracy !== undefined) this.log(id, 'info', `epoch ${p.epoch}/${p.totalEpochs}: validation accuracy ${p.validationAccuracy.toFixed(4)}`);
          void this.registry.save(id);
        },
        onLog: (level, line) => { if (this.isRunning(id)) this.log(id, level, line); },
      });
    } catch (err) {
      if (this.isRunning(id)) await this.end(id, 'failed', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      return;
    } finally {
      this.aborts.delete(id);
    }
    if (!this.isRunning(id)) return;
    if (outcome.testAccuracy === null) this.log(id, 'warn', 'the data set has no test split: result.test_accuracy is 0');
    this.log(id, 'info', `validation accuracy ${outcome.validationAccuracy.toFixed(4)}; ${outcome.steps} steps at ${outcome.imagesPerSec.toFixed(1)} images/s${outcome.checkpointCells ? ' (cells checkpointed: recomputed in the backward pass)' : ''}`);
    const result: pb.TransferResult = {
      testAccuracy: outcome.testAccuracy ?? 0, exportUri: outcome.exportPath ?? '', trainSeconds: outcome.trainSeconds,
      hasTestSplit: outcome.testAccuracy !== null, validationAccuracy: outcome.validationAccuracy,
    };
    t.result = result;
    t.plan = { ...t.plan, paramCount: outcome.paramCount, multAdds: outcome.multAdds };
    this.emit(id, { $case: 'finished', value: result });
    await this.end(id, 'succeeded');
  }

  /** The last state change: its event, then the final state (watchers get 'end'), stored at once. */
  private async end(id: string, state: 'succeeded' | 'failed' | 'cancelled', message = ''): Promise<void> {
    const previous = STATE_TO_PROTO[this.registry.current(id).runState];
    this.emit(id, { $case: 'stateChanged', value: { previous, current: STATE_TO_PROTO[state], message } });
    await this.registry.finish(id, state, message || undefined);
  }

  private log(id: string, level: RunnerLogLevel, message: string): void {
    this.emit(id, { $case: 'log', value: { level: LOG_LEVELS[level], message, source: 'transfer' } });
  }

  private emit(id: string, event: TransferEventBody): void {
    this.registry.emit(id, event);
  }
}

/** The status a client sees (TransferStatus) of a stored transfer. */
function toStatus(t: StoredTransfer): pb.TransferStatus {
  return pb.TransferStatus.fromPartial({
    transferId: t.id,
    spec: pb.TransferSpec.fromJSON(t.spec.request),
    state: STATE_TO_PROTO[t.runState],
    genotype: pb.genotypeToProto(t.spec.job.genotype),
    cells: t.plan.cells,
    filters: t.plan.initialFilters,
    penultimateFilters: t.plan.filters,
    paramCount: t.plan.paramCount,
    multAdds: t.plan.multAdds,
    ...(t.progress ? { progress: t.progress } : {}),
    ...(t.result ? { result: t.result } : {}),
    message: t.message ?? '',
    createdAtMs: t.createdAtMs,
    updatedAtMs: t.updatedAtMs,
    lastSequence: t.lastSequence,
    submitter: t.submitter ?? '',
  });
}

function toEvent(e: JobEvent<TransferEventBody>): pb.TransferEvent {
  return { transferId: e.jobId, sequence: e.sequence, timeMs: e.timeMs, event: e.event };
}
