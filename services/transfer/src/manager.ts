import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as pb from '@nasnet/proto';
import type { TransferDatasetOptions, TransferJob, TransferOutcome, TransferProgressInfo } from '@nasnet/transfer';
import { InvalidTransferRequestError, TransferNotFoundError } from './errors.js';
import type { RunnerLogLevel, TransferRunner } from './runner.js';
import { acceptSpec } from './spec.js';
import type { ResolveSearchBest } from './spec.js';

const FINAL_STATES: ReadonlySet<pb.TransferState> = new Set([
  pb.TransferState.TRANSFER_STATE_SUCCEEDED, pb.TransferState.TRANSFER_STATE_FAILED, pb.TransferState.TRANSFER_STATE_CANCELLED,
]);
const LOG_LEVELS: Record<RunnerLogLevel, pb.LogLevel> = {
  info: pb.LogLevel.LOG_LEVEL_INFO, warn: pb.LogLevel.LOG_LEVEL_WARN, error: pb.LogLevel.LOG_LEVEL_ERROR,
};
/** ListTransfers page size when the request gives none, and the largest allowed. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface TransferManagerOptions {
  /** Trains the transfers. */
  runner: TransferRunner;
  /** Resolves spec.search_id to the search's best genotype (provided by the controller). */
  resolveSearchBest?: ResolveSearchBest;
  /** Loader options of every transfer's data set (e.g. `{ cifar10: { strict: false } }`). */
  datasetOptions?: TransferDatasetOptions;
  /** Transfers trained at once; the rest wait as PENDING. @default 1 */
  maxConcurrent?: number;
  /** Keep transfers and their events in this JSON file across restarts. @default none (memory only) */
  stateFile?: string;
}

type Listener = (event: pb.TransferEvent | 'end') => void;

interface TransferRecord {
  number: number;
  requestId: string;
  job: TransferJob;
  backend: string;
  status: pb.TransferStatus;
  events: pb.TransferEvent[];
  listeners: Set<Listener>;
  abort?: AbortController;
}

interface PersistedTransfer {
  number: number;
  requestId: string;
  job: Omit<TransferJob, 'datasetOptions'>;
  backend: string;
  status: unknown;
  events: unknown[];
}

export const isFinalState = (s: pb.TransferState): boolean => FINAL_STATES.has(s);

/**
 * Transfers in memory (optionally mirrored to a JSON file): accepts specs,
 * queues them, runs up to maxConcurrent through the runner, keeps each
 * transfer's status and numbered event log, and serves watchers from any
 * sequence number. Transport-free: the gRPC handlers only map to it.
 */
export class TransferManager {
  private readonly options: TransferManagerOptions & { maxConcurrent: number };
  private readonly records = new Map<string, TransferRecord>();
  private readonly byRequest = new Map<string, Promise<TransferRecord>>();
  private readonly queue: TransferRecord[] = [];
  private running = 0;
  private nextNumber = 1;
  private persistTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: TransferManagerOptions) {
    const maxConcurrent = options.maxConcurrent ?? 1;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
    this.options = { ...options, maxConcurrent };
    if (options.stateFile) this.load(options.stateFile);
  }

  /** StartTransfer: checks and plans the spec, then queues it (idempotent per request id). */
  async start(req: pb.StartTransferRequest): Promise<pb.StartTransferResponse> {
    if (this.closed) throw new Error('the transfer service is shutting down');
    const key = req.requestId;
    let pending = key ? this.byRequest.get(key) : undefined;
    if (!pending) {
      pending = this.create(req);
      if (key) {
        this.byRequest.set(key, pending);
        pending.catch(() => this.byRequest.delete(key));
      }
    }
    const rec = await pending;
    return { transferId: rec.status.transferId, status: pb.TransferStatus.fromPartial(rec.status) };
  }

  private async create(req: pb.StartTransferRequest): Promise<TransferRecord> {
    const accepted = await acceptSpec(req.spec, {
      ...(this.options.resolveSearchBest ? { resolveSearchBest: this.options.resolveSearchBest } : {}),
      ...(this.options.datasetOptions ? { datasetOptions: this.options.datasetOptions } : {}),
    });
    const number = this.nextNumber++;
    const now = Date.now();
    const { plan } = accepted;
    const rec: TransferRecord = {
      number,
      requestId: req.requestId,
      job: accepted.job,
      backend: accepted.backend,
      events: [],
      listeners: new Set(),
      status: pb.TransferStatus.fromPartial({
        transferId: `transfer-${number}`,
        spec: accepted.filled,
        state: pb.TransferState.TRANSFER_STATE_UNSPECIFIED,
        genotype: pb.genotypeToProto(plan.genotype),
        cells: plan.size.cells,
        filters: plan.size.initialFilters,
        paramCount: plan.size.paramCount,
        multAdds: plan.size.multAdds,
        createdAtMs: now,
        updatedAtMs: now,
      }),
    };
    this.records.set(rec.status.transferId, rec);
    this.setState(rec, pb.TransferState.TRANSFER_STATE_PENDING);
    this.log(rec, 'info', `planned ${plan.size.cells}@${plan.size.filters} (F0 ${plan.size.initialFilters}, ${plan.sizedBy}): ` +
      `${plan.size.paramCount} parameters, ${plan.size.multAdds} mult-adds per image`);
    this.queue.push(rec);
    this.pump();
    return rec;
  }

  get(transferId: string): pb.TransferStatus {
    return pb.TransferStatus.fromPartial(this.record(transferId).status);
  }

  /** ListTransfers: newest first; the page token is the number of the last transfer of the previous page. */
  list(req: pb.ListTransfersRequest): pb.ListTransfersResponse {
    req.states.forEach((s, i) => {
      if (!Object.values(pb.TransferState).includes(s) || s === pb.TransferState.UNRECOGNIZED) {
        throw new InvalidTransferRequestError(`states[${i}]`, `unknown TransferState enum ${s}`);
      }
    });
    const states = new Set<pb.TransferState>(req.states.filter((s) => s !== pb.TransferState.TRANSFER_STATE_UNSPECIFIED));
    let before = Number.POSITIVE_INFINITY;
    if (req.pageToken) {
      before = Number(req.pageToken);
      if (!/^[1-9]\d*$/.test(req.pageToken) || !Number.isSafeInteger(before)) {
        throw new InvalidTransferRequestError('page_token', `'${req.pageToken.slice(0, 40)}' is not a token this server issued`);
      }
    }
    const size = req.pageSize > 0 ? Math.min(req.pageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
    const matching = [...this.records.values()]
      .filter((r) => r.number < before && (states.size === 0 || states.has(r.status.state)))
      .sort((a, b) => b.number - a.number);
    const page = matching.slice(0, size);
    return {
      transfers: page.map((r) => pb.TransferStatus.fromPartial(r.status)),
      nextPageToken: matching.length > size ? String(page[page.length - 1]!.number) : '',
    };
  }

  /**
   * Replays the events from `fromSequence` (0 or 1 = all), then follows new
   * ones; `'end'` comes after the event that reaches a final state. Returns
   * the unsubscribe function.
   */
  watch(transferId: string, fromSequence: number, listener: Listener): () => void {
    const rec = this.record(transferId);
    const from = Math.max(1, fromSequence);
    for (const e of rec.events.slice(from - 1)) listener(e);
    if (isFinalState(rec.status.state)) {
      listener('end');
      return () => {};
    }
    // Events between `from` and now were replayed; new ones with sequence >= from follow.
    const filtered: Listener = (e) => { if (e === 'end' || e.sequence >= from) listener(e); };
    rec.listeners.add(filtered);
    return () => rec.listeners.delete(filtered);
  }

  /** CancelTransfer: PENDING and RUNNING transfers become CANCELLED at once; finished ones are returned unchanged. */
  cancel(transferId: string, reason: string): pb.TransferStatus {
    const rec = this.record(transferId);
    const state = rec.status.state;
    if (!isFinalState(state)) {
      const i = this.queue.indexOf(rec);
      if (i >= 0) this.queue.splice(i, 1);
      rec.abort?.abort(new Error(reason));
      this.setState(rec, pb.TransferState.TRANSFER_STATE_CANCELLED, reason || 'cancelled by request');
    }
    return pb.TransferStatus.fromPartial(rec.status);
  }

  /** Cancels what runs or waits (FAILED: the service stopped), stops the runner, writes the state file. */
  async close(): Promise<void> {
    this.closed = true;
    for (const rec of this.records.values()) {
      if (!isFinalState(rec.status.state)) {
        rec.abort?.abort(new Error('the transfer service stopped'));
        this.setState(rec, pb.TransferState.TRANSFER_STATE_FAILED, 'the transfer service stopped');
      }
    }
    this.queue.length = 0;
    await this.options.runner.close();
    this.persistNow();
  }

  private record(transferId: string): TransferRecord {
    const rec = this.records.get(transferId);
    if (!rec) throw new TransferNotFoundError(transferId);
    return rec;
  }

  private pump(): void {
    while (!this.closed && this.running < this.options.maxConcurrent && this.queue.length > 0) {
      const rec = this.queue.shift()!;
      this.running++;
      void this.run(rec).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(rec: TransferRecord): Promise<void> {
    const abort = new AbortController();
    rec.abort = abort;
    this.setState(rec, pb.TransferState.TRANSFER_STATE_RUNNING);
    const isRunning = () => rec.status.state === pb.TransferState.TRANSFER_STATE_RUNNING;
    let outcome: TransferOutcome;
    try {
      outcome = await this.options.runner.run(rec.job, {
        signal: abort.signal,
        backend: rec.backend,
        onProgress: (p: TransferProgressInfo) => {
          if (!isRunning()) return;
          const progress: pb.TransferProgress = {
            epoch: p.epoch, totalEpochs: p.totalEpochs, step: p.step, loss: p.loss, trainAccuracy: p.trainAccuracy, imagesPerSec: p.imagesPerSec,
          };
          rec.status.progress = progress;
          this.emit(rec, { $case: 'progress', value: progress });
          if (p.validationAccuracy !== undefined) this.log(rec, 'info', `epoch ${p.epoch}/${p.totalEpochs}: validation accuracy ${p.validationAccuracy.toFixed(4)}`);
        },
        onLog: (level, line) => { if (isRunning()) this.log(rec, level, line); },
      });
    } catch (err) {
      if (isRunning()) this.setState(rec, pb.TransferState.TRANSFER_STATE_FAILED, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      return;
    } finally {
      rec.abort = undefined;
    }
    if (!isRunning()) return;
    if (outcome.testAccuracy === null) this.log(rec, 'warn', 'the data set has no test split: result.test_accuracy is 0');
    this.log(rec, 'info', `validation accuracy ${outcome.validationAccuracy.toFixed(4)}; ${outcome.steps} steps at ${outcome.imagesPerSec.toFixed(1)} images/s`);
    const result: pb.TransferResult = {
      testAccuracy: outcome.testAccuracy ?? 0, exportUri: outcome.exportPath ?? '', trainSeconds: outcome.trainSeconds,
      hasTestSplit: outcome.testAccuracy !== null, validationAccuracy: outcome.validationAccuracy,
    };
    rec.status.result = result;
    rec.status.paramCount = outcome.paramCount;
    rec.status.multAdds = outcome.multAdds;
    this.emit(rec, { $case: 'finished', value: result });
    this.setState(rec, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  }

  private setState(rec: TransferRecord, next: pb.TransferState, message = ''): void {
    const previous = rec.status.state;
    rec.status.state = next;
    rec.status.message = message;
    this.emit(rec, { $case: 'stateChanged', value: { previous, current: next, message } });
    if (isFinalState(next)) {
      for (const l of rec.listeners) l('end');
      rec.listeners.clear();
      this.persistNow();
    }
  }

  private log(rec: TransferRecord, level: RunnerLogLevel, message: string): void {
    this.emit(rec, { $case: 'log', value: { level: LOG_LEVELS[level], message, source: 'transfer' } });
  }

  private emit(rec: TransferRecord, event: pb.TransferEvent['event']): void {
    const now = Date.now();
    const e: pb.TransferEvent = { transferId: rec.status.transferId, sequence: rec.events.length + 1, timeMs: now, event };
    rec.events.push(e);
    rec.status.lastSequence = e.sequence;
    rec.status.updatedAtMs = now;
    for (const l of rec.listeners) l(e);
    this.schedulePersist();
  }

  private schedulePersist(): void {
    if (!this.options.stateFile || this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.persistNow(), 200);
    this.persistTimer.unref();
  }

  private persistNow(): void {
    const file = this.options.stateFile;
    if (!file) return;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    const transfers: PersistedTransfer[] = [...this.records.values()].map((r) => {
      const { datasetOptions: _d, ...job } = r.job;
      return {
        number: r.number, requestId: r.requestId, job, backend: r.backend,
        status: pb.TransferStatus.toJSON(r.status), events: r.events.map((e) => pb.TransferEvent.toJSON(e)),
      };
    });
    // Write then rename: a crash leaves the old file or the new one, never half of one.
    writeFileSync(`${file}.tmp`, JSON.stringify({ version: 1, nextNumber: this.nextNumber, transfers }));
    renameSync(`${file}.tmp`, file);
  }

  /** Reads the state file; transfers it left unfinished failed with the restart (their process is gone). */
  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the transfer state file ${file}: ${(err as Error).message}`, { cause: err });
    }
    let state: { version: number; nextNumber: number; transfers: PersistedTransfer[] };
    try {
      state = JSON.parse(text) as typeof state;
      if (state.version !== 1 || !Array.isArray(state.transfers)) throw new Error(`unsupported version ${String(state.version)}`);
    } catch (err) {
      throw new Error(`transfer state file ${file} is not valid: ${(err as Error).message}`, { cause: err });
    }
    this.nextNumber = Math.max(1, state.nextNumber);
    for (const t of state.transfers) {
      const rec: TransferRecord = {
        number: t.number, requestId: t.requestId, backend: t.backend,
        job: { ...t.job, ...(this.options.datasetOptions ? { datasetOptions: this.options.datasetOptions } : {}) },
        status: pb.TransferStatus.fromJSON(t.status),
        events: t.events.map((e) => pb.TransferEvent.fromJSON(e)),
        listeners: new Set(),
      };
      this.records.set(rec.status.transferId, rec);
      if (rec.requestId) this.byRequest.set(rec.requestId, Promise.resolve(rec));
      if (!isFinalState(rec.status.state)) {
        const was = pb.transferStateToJSON(rec.status.state);
        this.setState(rec, pb.TransferState.TRANSFER_STATE_FAILED, `the transfer service restarted while the transfer was ${was}`);
      }
    }
  }
}
