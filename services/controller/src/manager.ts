import { randomUUID } from 'node:crypto';
import {
  SearchLoop, checkSearchLimits, normalizeSpec, topArchitectures, withChildDeadline,
  type ChildExecutor, type RankedArchitecture, type SearchEvent, type SearchLimits, type SearchSpec, type SearchSpecInput, type SearchState,
} from '@nasnet/search';
import { confineDataset } from '@nasnet/data';
import { defaultTrainerProfiles, resolveTrainerProfile, type TrainerProfiles, type TrainerResourceRequest } from '@nasnet/launcher';
import type { BusEvent } from '@nasnet/bus';
import {
  JobRegistry, readJob,
  type Job, type JobEvent, type JobPage, type JobState, type ListQuery, type QuarantinedEntry, type SegmentedList, type StateStore,
} from '@nasnet/registry';

export type SearchRunState = JobState;

/** How a search's trainers are started. */
export interface TrainerSettings {
  gpusPerTrainer: number;
  /** The operator's profile these settings were resolved from (unset in searches stored before profiles). */
  profile?: string;
  image?: string;
  cpu?: string;
  cpuLimit?: string;
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

/** What the manager hears from a search's launch while the search runs (TrainerPools). */
export interface LaunchHooks {
  /** The trainers are gone for good (Job failed or deleted): the search ends FAILED with `message`. */
  onFailed?(message: string): void;
}

export interface Launcher {
  launch(opts: {
    searchId: string; trainers: number; gpusPerTrainer: number; profile?: string; image?: string; cpu?: string; cpuLimit?: string; memory?: string; backend?: string;
    deadlineSeconds?: number;
  }, hooks?: LaunchHooks): Promise<{ stop(): Promise<void> }>;
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
  /** Searches running at once; more are refused. @default limits.maxActiveSearches, else 64 */
  maxActiveSearches?: number;
  /**
   * The operator's limits (libs/search limits.ts): sizes, concurrency, state
   * size, per-child deadline, per-search wall time. @default none (only the
   * spec's own ranges); runController passes the configured ones.
   */
  limits?: SearchLimits;
  /** The operator's trainer profiles; requests name one, never an image. @default defaultTrainerProfiles() (one `cpu` profile) */
  profiles?: TrainerProfiles;
  /** Directory datasets (cifar10:DIR) must lie under; relative ones are resolved in it. @default unchecked */
  dataRoot?: string;
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
  /** Set when an operator limit stopped the search: it ends FAILED with this reason. */
  overLimit?: string;
}

/** Full state measurements at most this often (serialising a large state is not free); milestones always. */
const STATE_MEASURE_EVERY_MS = 5000;

const toSequenced = (e: JobEvent<SearchEvent>): SequencedEvent => ({ searchId: e.jobId, sequence: e.sequence, timeMs: e.timeMs, event: e.event });

/**
 * A search's children are stored in segments (the registry's segmented
 * list): a save writes the search's head (phase, strategy, counters) and the
 * segments whose entries changed; the loop hands out finished entries as the
 * same frozen objects snapshot after snapshot, so their segments are written
 * once.
 */
const CHILD_ENTRIES: SegmentedList<StoredSearch> = {
  take: (job) => job.loop?.entries ?? [],
  put: (job, items) => (job.loop ? { ...job, loop: { ...job.loop, entries: items as SearchState['entries'] } } : job),
};

/**
 * A search as stored, its children joined from their segments (a search
 * stored whole before segments comes back as it is); undefined when the
 * store has none. For readers beside the controller (tests, benchmarks).
 */
export async function readStoredSearch(store: StateStore<unknown>, id: string): Promise<StoredSearch | undefined> {
  return (await readJob(store, id, CHILD_ENTRIES))?.value;
}

/** JSON bytes of each finished entry, measured once (it never changes again). */
const entryBytes = new WeakMap<object, number>();

/**
 * Bytes of `JSON.stringify(state)`, without serialising every child each
 * time: the head once, each finished entry once in its life (a 20,000-child
 * state is ~21 MB; serialising it every few seconds to check stateBytes held
 * the controller's event loop for hundreds of milliseconds each time).
 */
function stateBytes(state: SearchState): number {
  let bytes = Buffer.byteLength(JSON.stringify({ ...state, entries: [] }));
  for (const e of state.entries) {
    let b = entryBytes.get(e);
    if (b === undefined) {
      b = Buffer.byteLength(JSON.stringify(e));
      if (Object.isFrozen(e)) entryBytes.set(e, b);
    }
    bytes += b;
  }
  return bytes + Math.max(0, state.entries.length - 1);
}

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
      list: CHILD_ENTRIES,
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
  async submit(input: SearchSpecInput, opts: { requestId?: string; resources?: TrainerResourceRequest; submitter?: string } = {}): Promise<StoredSearch> {
    const { job, created } = await this.registry.submit({
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
      ...(opts.submitter ? { submitter: opts.submitter } : {}),
      prepare: async () => {
        const spec = normalizeSpec(input);
        const { limits, dataRoot } = this.options;
        if (limits) checkSearchLimits(spec, limits);
        // Images, resources and backend come from the operator's profile, never from the caller.
        const trainers: TrainerSettings = resolveTrainerProfile(this.options.profiles ?? defaultTrainerProfiles(), opts.resources ?? {});
        if (dataRoot !== undefined) spec.dataset = await confineDataset(spec.dataset, dataRoot, 'dataset');
        const limit = this.options.maxActiveSearches ?? limits?.maxActiveSearches ?? 64;
        if (this.registry.count(['pending', 'running']) >= limit) throw new TooManySearchesError(limit);
        return { spec, status: { trainers } };
      },
    });
    if (created) this.start(job.id);
    return job;
  }

  private start(id: string): void {
    const s = this.registry.current(id);
    const limits = this.options.limits;
    let measuredAt = 0;
    let measuredEntries = 0;
    let measuredBytes = 0;
    const loop: SearchLoop = new SearchLoop(s.spec, {
      searchId: id,
      executor: withChildDeadline(this.options.executorFor(id), limits?.childDeadlineSeconds ?? 0),
      ...(s.loop ? { state: s.loop } : {}),
      onEvent: (event) => this.emit(id, event),
      checkpointEveryMs: this.options.checkpointEveryMs ?? 1000,
      onCheckpoint: (state) => {
        // Phase changes and the end are saved at once; progress at the pace the write budget allows.
        const milestone = state.phase !== s.loop?.phase || state.outcome !== undefined;
        s.loop = state;
        // Measured at milestones, every few seconds, whenever the children doubled (amortised linear cost),
        // and whenever the last measure's bytes per child, projected to the children now, pass the limit
        // (so a search is stopped about when it crosses the limit, not up to twice past it).
        const entries = state.entries.length;
        const grown = entries >= 2 * Math.max(1, measuredEntries);
        const projected = measuredEntries > 0 ? (measuredBytes * entries) / measuredEntries : 0;
        if (limits && !run.overLimit && (milestone || grown || projected > limits.stateBytes || Date.now() - measuredAt >= STATE_MEASURE_EVERY_MS)) {
          measuredAt = Date.now();
          measuredEntries = entries;
          const bytes = stateBytes(state);
          measuredBytes = bytes;
          if (bytes > limits.stateBytes) this.stopOverLimit(id, run, `its stored state reached ${bytes} bytes, above the operator's limit of ${limits.stateBytes} (stateBytes)`);
        }
        void this.registry.save(id, milestone);
      },
    });
    const previous = s.runState;
    this.registry.setState(id, 'running');
    this.options.publish?.({ kind: 'search_state', searchId: id, timeMs: Date.now(), state: 'running', trainers: s.spec.budget.concurrency });
    this.log(`search ${id} ${previous === 'pending' ? 'started' : 'resumed'}: ${s.spec.strategy}, ${s.spec.budget.architectures} children, ${s.spec.dataset}`);
    // run is filled in below; the checkpoint callback only runs once the loop does.
    const run: Running = { loop, done: Promise.resolve() };
    this.running.set(id, run);
    // The wall time counts from submission, across controller restarts.
    const wallSeconds = limits?.searchWallSeconds ?? 0;
    const leftMs = wallSeconds > 0 ? Math.max(0, s.createdAtMs + wallSeconds * 1000 - Date.now()) : undefined;
    const wallTimer = leftMs === undefined ? undefined
      : setTimeout(() => this.stopOverLimit(id, run, `wall time limit of ${wallSeconds} s reached (searchWallSeconds)`), leftMs);
    wallTimer?.unref();
    run.done = (async () => {
      let state: 'succeeded' | 'failed' | 'cancelled' = 'failed';
      let message: string | undefined;
      try {
        if (this.options.launcher) {
          const t = s.trainers;
          const handle = await this.options.launcher.launch({
            searchId: id, trainers: s.spec.budget.concurrency, gpusPerTrainer: t.gpusPerTrainer,
            ...(t.profile ? { profile: t.profile } : {}), ...(t.image ? { image: t.image } : {}), ...(t.cpu ? { cpu: t.cpu } : {}),
            ...(t.cpuLimit ? { cpuLimit: t.cpuLimit } : {}), ...(t.memory ? { memory: t.memory } : {}), ...(t.backend ? { backend: t.backend } : {}),
            // The trainers end with the search's wall time (the Job's activeDeadlineSeconds).
            ...(leftMs !== undefined ? { deadlineSeconds: Math.max(1, Math.ceil(leftMs / 1000)) } : {}),
          }, {
            // The same stop as an operator limit's: the loop is cancelled and the search ends FAILED with the launch's reason.
            onFailed: (message) => this.stopOverLimit(id, run, message),
          });
          run.trainersStop = () => handle.stop();
        }
        const final = await loop.run();
        s.loop = final;
        state = final.outcome === 'succeeded' ? 'succeeded' : final.outcome === 'cancelled' ? 'cancelled' : 'failed';
        message = final.reason || undefined;
        if (run.overLimit !== undefined) {
          state = 'failed';
          message = run.overLimit;
        }
      } catch (err) {
        message = err instanceof Error ? err.message : String(err);
        this.log(`search ${id} failed: ${message}`);
      } finally {
        if (wallTimer) clearTimeout(wallTimer);
        await run.trainersStop?.().catch((err: Error) => this.log(`search ${id}: stopping trainers failed: ${err.message}`));
        this.options.publish?.({ kind: 'search_state', searchId: id, timeMs: Date.now(), state });
        await this.registry.finish(id, state, message);
        this.running.delete(id);
        this.log(`search ${id} ${state}${message ? `: ${message}` : ''}`);
      }
    })();
  }

  /** Stops a search that went past an operator limit; it ends FAILED with `reason`. */
  private stopOverLimit(id: string, run: Running, reason: string): void {
    if (run.overLimit !== undefined) return;
    run.overLimit = reason;
    this.log(`search ${id}: ${reason}; stopping it`);
    run.loop.cancel(reason);
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
