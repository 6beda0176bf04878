import { randomUUID } from 'node:crypto';
import {
  SearchLoop, normalizeSpec, topArchitectures,
  type ChildExecutor, type RankedArchitecture, type SearchEvent, type SearchSpec, type SearchSpecInput, type SearchState,
} from '@nasnet/search';
import type { BusEvent } from '@nasnet/bus';
import {
  JobRegistry,
  type Job, type JobEvent, type JobPage, type JobState, type ListQuery, type QuarantinedEntry, type StateStore,
} from '@nasnet/registry';

export type SearchRunState = JobState;

/** How a search's trainers are started. */
export interface TrainerSettings {
  gpusPerTrainer: number;
  image?: string;
  cpu?: string;
  memory?: string;
  backend?: string;
}

/** The controller's own fields of a stored search, beside the registry's (id, runState, spec, ...). */
export interface SearchFields {
  trainers: TrainerSettings;
  /** The loop's last checkpoint; unset before the first. */
  loop?: SearchState;
}

/** What the controller stores per search (KV value): the registry's job fields, the spec, the loop state. */
export type StoredSearch = Job<SearchSpec, SearchFields>;

export interface SequencedEvent {
  searchId: string;
  sequence: number;
  timeMs: number;
  event: SearchEvent;
}

export interface Launcher {
  launch(opts: { searchId: string; trainers: number; gpusPerTrainer: number; image?: string; cpu?: string; memory?: string; backend?: string }): Promise<{ stop(): Promise<void> }>;
}

export interface SearchManagerOptions {
  /** Where searches live (the nas_searches KV bucket in the cluster). */
  store: StateStore<unknown>;
  /** An executor per search (a JetStream work queue in the cluster). */
  executorFor: (searchId: string) => ChildExecutor;
  /** Starts trainers for a search (Kubernetes Jobs, local processes); none = trainers are managed elsewhere. */
  launcher?: Launcher;
  /** Every event, for the bus (metrics, other watchers). */
  publish?: (event: BusEvent) => void;
  /** Checkpoints are written at most this often (and at most as the write budget allows), always on phase changes and the end. @default 1000 */
  checkpointEveryMs?: number;
  log?: (line: string) => void;
  /** Searches running at once; more are refused. @default 64 */
  maxActiveSearches?: number;
  /** Finished searches kept in memory; older ones are read from the store when asked for. @default 16 */
  keepFinished?: number;
}

export class TooManySearchesError extends Error {
  constructor(readonly limit: number) {
    super(`too many active searches (limit ${limit}); wait for one to end or cancel one`);
    this.name = 'TooManySearchesError';
  }
}

export class SearchNotFoundError extends Error {
  constructor(readonly searchId: string) {
    super(`search '${searchId}' not found`);
    this.name = 'SearchNotFoundError';
  }
}

/** What runs for one search in this process. */
interface Running {
  loop: SearchLoop;
  done: Promise<void>;
  trainersStop?: () => Promise<void>;
}

const toSequenced = (e: JobEvent<SearchEvent>): SequencedEvent => ({ searchId: e.jobId, sequence: e.sequence, timeMs: e.timeMs, event: e.event });

/** A stored search's own fields, checked: a value that fails is quarantined by the registry. */
function decodeSearch(job: StoredSearch, key: string): StoredSearch {
  const t = job.trainers as Partial<TrainerSettings> | undefined;
  if (!t || typeof t !== 'object' || typeof t.gpusPerTrainer !== 'number') throw new Error(`search ${key}: trainers.gpusPerTrainer is missing`);
  const spec = job.spec as Partial<SearchSpec> | undefined;
  if (!spec || typeof spec !== 'object' || !spec.budget || typeof spec.strategy !== 'string') throw new Error(`search ${key}: spec is not a normalized search spec`);
  if (job.loop !== undefined && (typeof job.loop !== 'object' || !Array.isArray(job.loop.entries))) throw new Error(`search ${key}: loop.entries is not a list`);
  return job;
}

/**
 * Runs the searches of one controller: submit, status, watch, cancel, top;
 * the job registry keeps each search in the store, so a restarted
 * controller resumes every unfinished search exactly where its last
 * checkpoint left it.
 */
export class SearchManager {
  private readonly registry: JobRegistry<SearchSpec, SearchFields, SearchEvent>;
  private readonly running = new Map<string, Running>();
  private readonly log: (line: string) => void;

  constructor(private readonly options: SearchManagerOptions) {
    this.log = options.log ?? (() => {});
    this.registry = new JobRegistry<SearchSpec, SearchFields, SearchEvent>({
      store: options.store,
      kind: 'search',
      newId: () => `s-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`,
      decode: decodeSearch,
      // Progress is live only; everything else is kept for watchers that resume.
      keepEvent: (event) => event.type !== 'child_progress',
      onCancel: (job, reason) => this.running.get(job.id)?.loop.cancel(reason),
      notFound: (id) => new SearchNotFoundError(id),
      saveEveryMs: options.checkpointEveryMs ?? 1000,
      ...(options.keepFinished !== undefined ? { keepFinished: options.keepFinished } : {}),
      log: this.log,
    });
  }

  /** Loads stored searches and resumes the unfinished ones; an entry that cannot be read is quarantined. */
  async recover(): Promise<number> {
    const report = await this.registry.recover();
    for (const s of report.unfinished) {
      this.log(`resuming search ${s.id} (${s.loop ? `${s.loop.entries.length} children recorded` : 'not started'})`);
      this.start(s.id);
    }
    return report.unfinished.length;
  }

  /** Stored entries recovery could not use (moved under `quarantine=<key>` or left in place). */
  quarantined(): QuarantinedEntry[] {
    return this.registry.quarantined();
  }

  /**
   * Validates and starts a search; a repeated requestId returns the first
   * search (also after a restart). The search is stored before it is
   * visible; if storing fails, JobStoreError and nothing remains.
   */
  async submit(input: SearchSpecInput, opts: { requestId?: string; trainers?: TrainerSettings; submitter?: string } = {}): Promise<StoredSearch> {
    const { job, created } = await this.registry.submit({
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
      ...(opts.submitter ? { submitter: opts.submitter } : {}),
      prepare: () => {
        const spec = normalizeSpec(input);
        const limit = this.options.maxActiveSearches ?? 64;
        if (this.registry.count(['pending', 'running']) >= limit) throw new TooManySearchesError(limit);
        return { spec, status: { trainers: opts.trainers ?? { gpusPerTrainer: 0 } } };
      },
    });
    if (created) this.start(job.id);
    return job;
  }

  private start(id: string): void {
    const s = this.registry.current(id);
    const loop = new SearchLoop(s.spec, {
      searchId: id,
      executor: this.options.executorFor(id),
      ...(s.loop ? { state: s.loop } : {}),
      onEvent: (event) => this.emit(id, event),
      checkpointEveryMs: this.options.checkpointEveryMs ?? 1000,
      onCheckpoint: (state) => {
        // Phase changes and the end are saved at once; progress at the pace the write budget allows.
        const milestone = state.phase !== s.loop?.phase || state.outcome !== undefined;
        s.loop = state;
        void this.registry.save(id, milestone);
      },
    });
    const previous = s.runState;
    this.registry.setState(id, 'running');
    this.options.publish?.({ kind: 'search_state', searchId: id, timeMs: Date.now(), state: 'running', trainers: s.spec.budget.concurrency });
    this.log(`search ${id} ${previous === 'pending' ? 'started' : 'resumed'}: ${s.spec.strategy}, ${s.spec.budget.architectures} children, ${s.spec.dataset}`);
    const run: Running = { loop, done: Promise.resolve() };
    this.running.set(id, run);
    run.done = (async () => {
      let state: 'succeeded' | 'failed' | 'cancelled' = 'failed';
      let message: string | undefined;
      try {
        if (this.options.launcher) {
          const handle = await this.options.launcher.launch({
            searchId: id, trainers: s.spec.budget.concurrency, gpusPerTrainer: s.trainers.gpusPerTrainer,
            ...(s.trainers.image ? { image: s.trainers.image } : {}), ...(s.trainers.cpu ? { cpu: s.trainers.cpu } : {}),
            ...(s.trainers.memory ? { memory: s.trainers.memory } : {}), ...(s.trainers.backend ? { backend: s.trainers.backend } : {}),
          });
          run.trainersStop = () => handle.stop();
        }
        const final = await loop.run();
        s.loop = final;
        state = final.outcome === 'succeeded' ? 'succeeded' : final.outcome === 'cancelled' ? 'cancelled' : 'failed';
        message = final.reason || undefined;
      } catch (err) {
        message = err instanceof Error ? err.message : String(err);
        this.log(`search ${id} failed: ${message}`);
      } finally {
        await run.trainersStop?.().catch((err: Error) => this.log(`search ${id}: stopping trainers failed: ${err.message}`));
        this.options.publish?.({ kind: 'search_state', searchId: id, timeMs: Date.now(), state });
        await this.registry.finish(id, state, message);
        this.running.delete(id);
        this.log(`search ${id} ${state}${message ? `: ${message}` : ''}`);
      }
    })();
  }

  private emit(id: string, event: SearchEvent): void {
    const e = this.registry.emit(id, event);
    this.options.publish?.({ kind: 'search', searchId: id, sequence: e.sequence, timeMs: e.timeMs, event });
  }

  /** Any search, running or finished (read back from the store once it left memory). */
  get(id: string): Promise<StoredSearch> {
    return this.registry.get(id);
  }

  /**
   * A page of searches, newest first; `pageToken` is the previous page's
   * nextPageToken (InvalidPageTokenError for one it did not issue).
   */
  list(query: ListQuery = {}): Promise<JobPage<StoredSearch>> {
    return this.registry.list(query);
  }

  /** How many searches are in one of `states` (all when empty). */
  count(states: readonly SearchRunState[] = []): number {
    return this.registry.count(states);
  }

  /** Asks a pending or running search to stop (it ends `cancelled` once its loop has stopped); a finished one is returned as it is. */
  cancel(id: string, reason = 'cancelled by request'): Promise<StoredSearch> {
    return this.registry.cancel(id, reason);
  }

  /** The k best distinct architectures so far, retrained ones first (the search lib's one ranking). */
  async top(id: string, k: number): Promise<RankedArchitecture[]> {
    return topArchitectures({ entries: (await this.get(id)).loop?.entries ?? [] }, k);
  }

  /**
   * Calls `onEvent` with the kept events from `fromSequence` on, then live
   * ones, and `'end'` once the search is over. Resolves with the unsubscribe.
   */
  watch(id: string, fromSequence: number, onEvent: (e: SequencedEvent | 'end') => void): Promise<() => void> {
    return this.registry.watch(id, fromSequence, (e) => onEvent(e === 'end' ? e : toSequenced(e)));
  }

  /** Waits for a search to end (tests, shutdown). */
  async finished(id: string): Promise<StoredSearch> {
    await this.running.get(id)?.done;
    return this.get(id);
  }

  /** Saves every search without marking unfinished ones finished (a restart resumes them). */
  async shutdown(): Promise<void> {
    await this.registry.flush();
  }
}
