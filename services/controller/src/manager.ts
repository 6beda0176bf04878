import { randomUUID } from 'node:crypto';
import { SearchLoop, normalizeSpec, topArchitectures, type RankedArchitecture, type ChildExecutor, type SearchEvent, type SearchSpec, type SearchSpecInput, type SearchState } from '@nasnet/search';
import type { BusEvent, StateStore } from '@nasnet/bus';

export type SearchRunState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What the controller stores per search (KV value): the loop state plus bookkeeping. */
export interface StoredSearch {
  id: string;
  requestId?: string;
  createdAtMs: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  runState: SearchRunState;
  message?: string;
  lastSequence: number;
  trainers: { gpusPerTrainer: number; image?: string; cpu?: string; memory?: string; backend?: string };
  loop?: SearchState;
  spec: SearchSpec;
}

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
  store: StateStore<StoredSearch>;
  /** An executor per search (a JetStream work queue in the cluster). */
  executorFor: (searchId: string) => ChildExecutor;
  /** Starts trainers for a search (Kubernetes Jobs, local processes); none = trainers are managed elsewhere. */
  launcher?: Launcher;
  /** Every event, for the bus (metrics, other watchers). */
  publish?: (event: BusEvent) => void;
  /** Checkpoints are written at most this often, and always on phase changes and the end. @default 1000 */
  checkpointEveryMs?: number;
  log?: (line: string) => void;
  /** Searches running at once; more are refused. @default 64 */
  maxActiveSearches?: number;
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

interface Managed {
  stored: StoredSearch;
  loop?: SearchLoop;
  events: SequencedEvent[];
  watchers: Set<(e: SequencedEvent | 'end') => void>;
  done: Promise<void>;
  /** The last write asked for (the tail of the chain of writes). */
  persisting: Promise<void>;
  /** A write that has not started yet: it takes the state when it starts, so later requests join it. */
  queued?: Promise<void>;
  lastPersistMs: number;
  /** How long the last write took (the next waits WRITE_BUDGET^-1 times that). */
  lastWriteMs: number;
  /** A write put off by the interval, due when it has passed. */
  trailing?: NodeJS.Timeout;
  trainersStop?: () => Promise<void>;
}

const FINAL: ReadonlySet<SearchRunState> = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Share of the time the controller may spend saving one search: a
 * checkpoint comes no sooner than lastWriteMs / WRITE_BUDGET after the
 * last. A 20,000-child state is ~21 MB of JSON; written every second it
 * kept a core busy (test/bench/load.ts), written every ~10 write-times it
 * costs a tenth of that. Nothing is lost in between: finished children's
 * results stay in NAS_RESULTS, where a resumed search finds them.
 */
const WRITE_BUDGET = 0.1;

/**
 * Runs the searches of one controller: submit, status, watch, cancel, top;
 * keeps each search's state in the store so a restarted controller resumes
 * every unfinished search exactly where its last checkpoint left it.
 */
export class SearchManager {
  private readonly searches = new Map<string, Managed>();
  private readonly byRequest = new Map<string, string>();
  private readonly log: (line: string) => void;

  constructor(private readonly options: SearchManagerOptions) {
    this.log = options.log ?? (() => {});
  }

  /** Loads stored searches and resumes the unfinished ones. */
  async recover(): Promise<number> {
    let resumed = 0;
    for (const id of await this.options.store.keys()) {
      const stored = await this.options.store.get(id);
      if (!stored) continue;
      if (stored.requestId) this.byRequest.set(stored.requestId, id);
      const m = this.track(stored);
      if (!FINAL.has(stored.runState)) {
        this.log(`resuming search ${id} (${stored.loop ? `${stored.loop.entries.length} children recorded` : 'not started'})`);
        this.start(m);
        resumed++;
      }
    }
    return resumed;
  }

  /** Validates and starts a search; a repeated requestId returns the first search. */
  async submit(input: SearchSpecInput, opts: { requestId?: string; trainers?: StoredSearch['trainers'] } = {}): Promise<StoredSearch> {
    if (opts.requestId) {
      const existing = this.byRequest.get(opts.requestId);
      if (existing) return this.searches.get(existing)!.stored;
    }
    const spec = normalizeSpec(input);
    const limit = this.options.maxActiveSearches ?? 64;
    if (this.list(['pending', 'running']).length >= limit) throw new TooManySearchesError(limit);
    const id = `s-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
    const stored: StoredSearch = {
      id, createdAtMs: Date.now(), runState: 'pending', lastSequence: 0, spec,
      trainers: opts.trainers ?? { gpusPerTrainer: 0 },
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
    };
    if (opts.requestId) this.byRequest.set(opts.requestId, id);
    const m = this.track(stored);
    await this.options.store.put(id, stored);
    this.start(m);
    return stored;
  }

  private track(stored: StoredSearch): Managed {
    const m: Managed = { stored, events: [], watchers: new Set(), done: Promise.resolve(), persisting: Promise.resolve(), lastPersistMs: 0, lastWriteMs: 0 };
    this.searches.set(stored.id, m);
    return m;
  }

  private start(m: Managed): void {
    const s = m.stored;
    const loop = new SearchLoop(s.spec, {
      searchId: s.id,
      executor: this.options.executorFor(s.id),
      ...(s.loop ? { state: s.loop } : {}),
      onEvent: (event) => this.emit(m, event),
      checkpointEveryMs: this.options.checkpointEveryMs ?? 1000,
      onCheckpoint: (state) => {
        // Phase changes and the end are saved at once; progress at the pace persist() allows.
        const milestone = state.phase !== s.loop?.phase || state.outcome !== undefined;
        s.loop = state;
        void this.persist(m, milestone);
      },
    });
    m.loop = loop;
    const previous = s.runState;
    s.runState = 'running';
    s.startedAtMs ??= Date.now();
    this.options.publish?.({ kind: 'search_state', searchId: s.id, timeMs: Date.now(), state: 'running', trainers: s.spec.budget.concurrency });
    this.log(`search ${s.id} ${previous === 'pending' ? 'started' : 'resumed'}: ${s.spec.strategy}, ${s.spec.budget.architectures} children, ${s.spec.dataset}`);
    m.done = (async () => {
      try {
        if (this.options.launcher) {
          const handle = await this.options.launcher.launch({
            searchId: s.id, trainers: s.spec.budget.concurrency, gpusPerTrainer: s.trainers.gpusPerTrainer,
            ...(s.trainers.image ? { image: s.trainers.image } : {}), ...(s.trainers.cpu ? { cpu: s.trainers.cpu } : {}),
            ...(s.trainers.memory ? { memory: s.trainers.memory } : {}), ...(s.trainers.backend ? { backend: s.trainers.backend } : {}),
          });
          m.trainersStop = () => handle.stop();
        }
        const final = await loop.run();
        s.loop = final;
        s.runState = final.outcome === 'succeeded' ? 'succeeded' : final.outcome === 'cancelled' ? 'cancelled' : 'failed';
        if (final.reason) s.message = final.reason;
      } catch (err) {
        s.runState = 'failed';
        s.message = err instanceof Error ? err.message : String(err);
        this.log(`search ${s.id} failed: ${s.message}`);
      } finally {
        s.finishedAtMs = Date.now();
        await m.trainersStop?.().catch((err: Error) => this.log(`search ${s.id}: stopping trainers failed: ${err.message}`));
        this.options.publish?.({ kind: 'search_state', searchId: s.id, timeMs: Date.now(), state: s.runState });
        await this.persist(m, true);
        for (const w of m.watchers) w('end');
        m.watchers.clear();
        this.log(`search ${s.id} ${s.runState}${s.message ? `: ${s.message}` : ''}`);
      }
    })();
  }

  private emit(m: Managed, event: SearchEvent): void {
    const s = m.stored;
    const e: SequencedEvent = { searchId: s.id, sequence: ++s.lastSequence, timeMs: Date.now(), event };
    // Progress is live only; everything else is kept for watchers that resume.
    if (event.type !== 'child_progress') m.events.push(e);
    for (const w of m.watchers) w(e);
    this.options.publish?.({ kind: 'search', searchId: s.id, sequence: e.sequence, timeMs: e.timeMs, event });
  }

  /**
   * Saves the search. Writes never overlap, and at most one waits behind
   * the one running: it takes the search as it is when it starts, so a
   * checkpoint that comes while a large state is being written joins it
   * instead of queueing a copy of its own (a 20,000-child search made
   * checkpoints faster than the store wrote them, and the queue of copies
   * ran the controller out of memory). Unforced saves come at most every
   * checkpointEveryMs and WRITE_BUDGET^-1 write-times; one put off is
   * written once its time has come. A forced save resolves once a write
   * that started after the call has finished.
   */
  private persist(m: Managed, force: boolean): Promise<void> {
    const gapMs = Math.max(this.options.checkpointEveryMs ?? 1000, m.lastWriteMs / WRITE_BUDGET);
    const waitMs = m.lastPersistMs + gapMs - Date.now();
    if (!force && waitMs > 0) {
      // Not yet; but do save once the gap has passed, even if nothing else happens by then.
      m.trailing ??= setTimeout(() => {
        m.trailing = undefined;
        void this.persist(m, true);
      }, waitMs).unref();
      return m.persisting;
    }
    if (m.trailing) {
      clearTimeout(m.trailing);
      m.trailing = undefined;
    }
    m.lastPersistMs = Date.now();
    if (m.queued) return m.queued;
    const id = m.stored.id;
    const write = m.persisting.then(async () => {
      m.queued = undefined;
      // A shallow copy is a consistent snapshot: the loop state is a fresh
      // export per checkpoint, and the other fields are replaced, never
      // changed in place. The store serialises it before its first await.
      const snapshot: StoredSearch = { ...m.stored };
      const started = performance.now();
      await this.options.store.put(id, snapshot);
      m.lastWriteMs = performance.now() - started;
    }).catch((err: Error) => this.log(`search ${id}: saving state failed: ${err.message}`));
    m.queued = write;
    m.persisting = write;
    return write;
  }

  private managed(id: string): Managed {
    const m = this.searches.get(id);
    if (!m) throw new SearchNotFoundError(id);
    return m;
  }

  get(id: string): StoredSearch {
    return this.managed(id).stored;
  }

  /** Newest first. */
  list(states?: readonly SearchRunState[]): StoredSearch[] {
    return [...this.searches.values()]
      .map((m) => m.stored)
      .filter((s) => !states || states.length === 0 || states.includes(s.runState))
      .sort((a, b) => b.createdAtMs - a.createdAtMs || (a.id < b.id ? 1 : -1));
  }

  cancel(id: string, reason = 'cancelled by request'): StoredSearch {
    const m = this.managed(id);
    if (!FINAL.has(m.stored.runState)) m.loop?.cancel(reason);
    return m.stored;
  }

  /** The k best distinct architectures so far, retrained ones first (the search lib's one ranking). */
  top(id: string, k: number): RankedArchitecture[] {
    return topArchitectures({ entries: this.managed(id).stored.loop?.entries ?? [] }, k);
  }

  /**
   * Calls `onEvent` with the kept events from `fromSequence` on, then live
   * ones, and `'end'` once the search is over. Returns the unsubscribe.
   */
  watch(id: string, fromSequence: number, onEvent: (e: SequencedEvent | 'end') => void): () => void {
    const m = this.managed(id);
    for (const e of m.events) if (e.sequence >= fromSequence) onEvent(e);
    if (FINAL.has(m.stored.runState)) {
      onEvent('end');
      return () => {};
    }
    m.watchers.add(onEvent);
    return () => m.watchers.delete(onEvent);
  }

  /** Waits for a search to end (tests, shutdown). */
  async finished(id: string): Promise<StoredSearch> {
    await this.managed(id).done;
    return this.get(id);
  }

  /** Stops every loop without marking searches finished (a restart resumes them). */
  async shutdown(): Promise<void> {
    for (const m of this.searches.values()) {
      if (m.loop && !FINAL.has(m.stored.runState)) await this.persist(m, true);
    }
  }
}
