import { setMaxListeners } from 'node:events';
import { createStrategy, type Candidate, type PolicyUpdate, type SearchStrategy, type StrategyState } from '@nasnet/controller';
import { deriveSeed } from '@nasnet/random';
import { formatGenotype, genotypeFromJSON, genotypeHash, type Genotype } from '@nasnet/search-space';
import type { ChildExecutor, ChildProgress, ChildResult, ChildTask } from './child.js';
import { finalRecipe, type SearchSpec } from './spec.js';
import { countChildren, mostCommonFailure, topArchitectures } from './summary.js';

/**
 * The search loop: proposes children with a strategy, trains them through an
 * executor, feeds rewards back, and keeps its whole state serialisable.
 *
 * Reproducibility with several children in flight: rewards are fed to the
 * strategy in proposal order, and child k is proposed right after the reward
 * of child k - concurrency has been observed (never earlier, never later).
 * So the sequence of proposals and policy updates depends only on the seed
 * and the rewards, not on which trainer finished first.
 */
export type SearchPhase = 'search' | 'final' | 'done';
export type SearchOutcome = 'succeeded' | 'cancelled' | 'failed';

export interface ChildEntry {
  childId: number;
  phase: 'search' | 'final';
  genotype: Genotype;
  hash: string;
  decisions?: number[];
  logProb?: number;
  /** Child whose result this one reuses (same canonical hash). */
  duplicateOf?: number;
  /** Final phase: the search-phase child whose cell this one retrains. */
  sourceChildId?: number;
  earlyStop?: ChildTask['earlyStop'];
  seed: number;
  state: 'running' | 'done';
  result?: ChildResult;
}

export interface SearchState {
  version: 1;
  searchId: string;
  spec: SearchSpec;
  phase: SearchPhase;
  strategy: StrategyState;
  entries: ChildEntry[];
  /** Entries [0, observed) of the search phase have been fed to the strategy. */
  observed: number;
  updates: PolicyUpdate[];
  /**
   * Best search-phase child so far (what `best_improved` events report while
   * the search runs). The search's winner, which the final phase decides,
   * is `summarizeSearch(state).best`.
   */
  bestChildId: number | null;
  elapsedMs: number;
  outcome?: SearchOutcome;
  reason?: string;
}

export type SearchEvent =
  | { type: 'child_queued'; childId: number; phase: 'search' | 'final'; hash: string; genotype: string; duplicateOf?: number }
  | { type: 'child_progress'; progress: ChildProgress }
  | { type: 'child_finished'; childId: number; phase: 'search' | 'final'; result: ChildResult; cached: boolean }
  | { type: 'policy_updated'; update: PolicyUpdate }
  | { type: 'best_improved'; childId: number; reward: number; hash: string; genotype: string }
  | { type: 'phase'; phase: SearchPhase }
  | { type: 'finished'; outcome: SearchOutcome; reason?: string };

export interface SearchLoopOptions {
  searchId: string;
  executor: ChildExecutor;
  /** Use this strategy instead of the one the spec names (custom strategies, tests). */
  strategy?: SearchStrategy;
  /** Resume from this state instead of starting fresh. */
  state?: SearchState;
  onEvent?: (event: SearchEvent) => void;
  /** Called with a consistent snapshot after every change worth persisting. */
  onCheckpoint?: (state: SearchState) => void;
  /**
   * At most one snapshot per this many milliseconds (phase changes and the
   * end always get one). A snapshot serialises every child, so large
   * searches want this above 0. @default 0
   */
  checkpointEveryMs?: number;
}

/** Proposals that hit the cache are free, but a converged policy could propose only those: stop after this many per budgeted child. */
const MAX_DUPLICATES_PER_CHILD = 20;

/**
 * When the first this-many trained children of a search all failed with the
 * very same reason, the search stops with that reason: different
 * architectures failing identically means the cause is not the architecture
 * (a truncated data file, a missing folder), and every further child would
 * fail the same way and burn the budget (issue 13).
 */
export const FAIL_FAST_CHILDREN = 3;

/**
 * Proposing and observing run in slices of about this long, with a turn of
 * the event loop in between, so the executor's messages keep flowing: a PPO
 * update with 100 LSTM units takes seconds of CPU and a proposal tens of
 * milliseconds, and filling a 500-child window (or several updates) in one
 * go ran the executor's requests past their timeouts (test/bench/load.ts).
 * Short, because the tasks a slice dispatches leave the process only when
 * it ends (the NATS client writes its buffer out after the running task):
 * with 50 ms slices the first child of a slice waited that long on the
 * wire, a visible share of the dispatch latency of a 500-child window.
 * Only timing changes: the order of proposals and observations, hence the
 * search, stays the same.
 */
const SLICE_MS = 5;

export class SearchLoop {
  readonly searchId: string;
  readonly spec: SearchSpec;
  private readonly executor: ChildExecutor;
  private readonly strategy: SearchStrategy;
  private readonly onEvent: (e: SearchEvent) => void;
  private readonly onCheckpoint: (s: SearchState) => void;
  private readonly wantsCheckpoints: boolean;
  private readonly checkpointEveryMs: number;
  private lastCheckpointMs = -Infinity;
  private lastCheckpointPhase: SearchPhase | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointQueued = false;
  /** Search-phase entries, their count of trained (non-duplicate) ones, and the first entry per hash. */
  private searchList: ChildEntry[] = [];
  private trained = 0;
  private firstByHash = new Map<string, ChildEntry>();
  /** Duplicates waiting for the child they copy, by that child's id. */
  private waiting = new Map<number, ChildEntry[]>();
  private entries: ChildEntry[] = [];
  private observed = 0;
  private phase: SearchPhase = 'search';
  private updates: PolicyUpdate[] = [];
  private bestChildId: number | null = null;
  private elapsedBefore = 0;
  private startedAt = 0;
  private outcome: SearchOutcome | undefined;
  private reason: string | undefined;
  private readonly abort = new AbortController();
  /**
   * Frozen copies of finished entries for exportState(): a finished entry
   * never changes again, so every later snapshot shares its copy instead of
   * copying it anew (snapshots of a 20,000-child search otherwise copy
   * ~20 MB of JSON each time).
   */
  private readonly doneCopies = new WeakMap<ChildEntry, ChildEntry>();
  private stopProposing = false;
  /** Reasons of the first search children while all of them failed alike; undefined once one did not. */
  private failedFirst: string[] | undefined = [];
  /** Start of the current slice of advance() work, and whether the rest waits for the next turn. */
  private sliceStartMs = 0;
  /** Children were proposed in this slice (their tasks leave the process when it ends). */
  private proposedInSlice = false;
  /**
   * An observe took longer than a slice (a PPO update: tens of milliseconds
   * batched, paper section 3's batch of 20): from then on, children proposed
   * in a slice are sent before the next observe instead of waiting for it,
   * one turn of the event loop each. Strategies whose observes stay short
   * (random, evolution) never pay that turn.
   */
  private slowObserves = false;
  private yielding = false;
  private finish?: () => void;
  private failure?: Error;

  constructor(spec: SearchSpec, options: SearchLoopOptions) {
    this.spec = spec;
    this.searchId = options.searchId;
    this.executor = options.executor;
    this.onEvent = options.onEvent ?? (() => {});
    this.onCheckpoint = options.onCheckpoint ?? (() => {});
    this.wantsCheckpoints = options.onCheckpoint !== undefined;
    this.checkpointEveryMs = options.checkpointEveryMs ?? 0;
    this.strategy = options.strategy ?? createStrategy({
      strategy: spec.strategy,
      seed: spec.seed,
      numBlocks: spec.numBlocks,
      ppo: {
        learningRate: spec.controller.learningRate, entropyWeight: spec.controller.entropyWeight,
        baselineDecay: spec.controller.baselineDecay, batchSize: spec.controller.batchSize,
        clipRange: spec.controller.clipRange, epochs: spec.controller.epochs,
        policy: { hiddenUnits: spec.controller.lstmUnits },
      },
    });
    if (options.state) this.restore(options.state);
    // Every child in flight listens to the one abort signal.
    setMaxListeners(0, this.abort.signal);
  }

  private restore(state: SearchState): void {
    if (state.version !== 1) throw new RangeError(`search state version ${String(state.version)} is not supported`);
    this.strategy.importState(state.strategy);
    this.entries = state.entries.map((e) => ({ ...e, genotype: genotypeFromJSON(e.genotype) }));
    for (const e of this.entries) this.index(e);
    this.observed = state.observed;
    for (const e of this.searchList.slice(0, this.observed)) if (e.duplicateOf === undefined && e.result) this.noteEarlyFailure(e);
    this.phase = state.phase;
    this.updates = state.updates.slice();
    this.bestChildId = state.bestChildId;
    this.elapsedBefore = state.elapsedMs;
    this.outcome = state.outcome;
    this.reason = state.reason;
  }

  /**
   * A deep, JSON-safe snapshot. Entries of finished children are frozen
   * copies shared between snapshots (they cannot change); everything else
   * is copied each time.
   */
  exportState(): SearchState {
    const state: SearchState = {
      version: 1,
      searchId: this.searchId,
      spec: this.spec,
      phase: this.phase,
      strategy: this.strategy.exportState(),
      entries: [],
      observed: this.observed,
      updates: this.updates,
      bestChildId: this.bestChildId,
      elapsedMs: this.elapsedMs(),
      ...(this.outcome ? { outcome: this.outcome } : {}),
      ...(this.reason ? { reason: this.reason } : {}),
    };
    const copy = JSON.parse(JSON.stringify(state)) as SearchState;
    copy.entries = this.entries.map((e) => {
      if (e.state !== 'done') return JSON.parse(JSON.stringify(e)) as ChildEntry;
      let frozen = this.doneCopies.get(e);
      if (!frozen) {
        frozen = deepFreeze(JSON.parse(JSON.stringify(e)) as ChildEntry);
        this.doneCopies.set(e, frozen);
      }
      return frozen;
    });
    return copy;
  }

  private elapsedMs(): number {
    return this.elapsedBefore + (this.startedAt ? performance.now() - this.startedAt : 0);
  }

  /** Stops proposing, aborts running children, and ends the search as cancelled. */
  cancel(reason = 'cancelled by request'): void {
    if (this.outcome) return;
    this.outcome = 'cancelled';
    this.reason = reason;
    this.abort.abort(new Error(reason));
    this.finish?.();
  }

  get entriesView(): readonly ChildEntry[] {
    return this.entries;
  }

  /** Runs (or resumes) to the end. */
  async run(): Promise<SearchState> {
    this.startedAt = performance.now();
    if (!this.outcome) {
      // Before the first child: its task then goes out as it is proposed (dispatch latency), not after
      // the executor's set-up. A failed set-up is met again, and reported, by each execute().
      await this.executor.prepare?.(this.searchId).catch(() => {});
    }
    if (!this.outcome) {
      await new Promise<void>((resolve) => {
        this.finish = resolve;
        // Children that were in flight when the state was saved run again.
        for (const e of this.entries) if (e.state === 'running') this.dispatch(e);
        this.advance();
      });
    }
    if (this.failure) throw this.failure;
    if (!this.outcome) this.outcome = 'succeeded';
    this.phase = 'done';
    this.checkpoint();
    this.onEvent({ type: 'finished', outcome: this.outcome, ...(this.reason ? { reason: this.reason } : {}) });
    return this.exportState();
  }

  private index(e: ChildEntry): void {
    if (e.phase !== 'search') return;
    if (e.duplicateOf !== undefined && e.state !== 'done' && this.entries[e.duplicateOf]?.state !== 'done') {
      const list = this.waiting.get(e.duplicateOf) ?? [];
      list.push(e);
      this.waiting.set(e.duplicateOf, list);
    }
    this.searchList.push(e);
    if (e.duplicateOf === undefined) {
      this.trained++;
      if (!this.firstByHash.has(e.hash)) this.firstByHash.set(e.hash, e);
    }
  }

  private searchEntries(): ChildEntry[] {
    return this.searchList;
  }

  private trainedCount(): number {
    return this.trained;
  }

  /** Synchronous heart of the loop: observe in order, propose what that allows, move between phases. */
  private advance(): void {
    if (this.outcome || this.yielding) return;
    this.sliceStartMs = performance.now();
    this.proposedInSlice = false;
    try {
      if (this.phase === 'search') this.advanceSearch();
      if (this.phase === 'final') this.advanceFinal();
    } catch (err) {
      this.failure = err as Error;
      this.outcome = 'failed';
      this.reason = (err as Error).message;
      this.abort.abort(err);
      this.finish?.();
      return;
    }
    this.checkpointSoon();
    if (this.phase === 'done') this.finish?.();
  }

  /**
   * A checkpoint on the next turn of the event loop, not in this one: the
   * snapshot serialises every running child, and the tasks this turn
   * dispatched should be on the wire before that (see SLICE_MS). The
   * snapshot is taken when it runs, so it is as consistent as ever; the
   * end of the search is saved by run() itself.
   */
  private checkpointSoon(): void {
    if (!this.wantsCheckpoints || this.checkpointQueued) return;
    this.checkpointQueued = true;
    setImmediate(() => {
      this.checkpointQueued = false;
      if (!this.failure && this.phase !== 'done') this.checkpoint();
    });
  }

  private advanceSearch(): void {
    const { architectures, concurrency, maxWallSeconds } = this.spec.budget;
    for (;;) {
      if (maxWallSeconds > 0 && this.elapsedMs() > maxWallSeconds * 1000 && !this.stopProposing) {
        this.stopProposing = true;
        this.reason = `wall-time budget of ${maxWallSeconds}s reached`;
      }
      const search = this.searchEntries();
      // Propose while the window allows it (propose() appends to `search`).
      while (!this.stopProposing && search.length < this.observed + concurrency && this.trainedCount() < architectures) {
        if (search.length - this.trainedCount() > MAX_DUPLICATES_PER_CHILD * architectures) {
          this.stopProposing = true;
          this.reason = 'the strategy keeps proposing architectures already trained';
          break;
        }
        this.propose();
        this.proposedInSlice = true;
        if (this.sliceUsed()) return;
      }
      const next = search[this.observed];
      if (!next || next.state !== 'done') break;
      // An observe that may run a long policy update waits for the next turn when this slice
      // proposed children, so their tasks are on the wire before it (see slowObserves).
      if (this.slowObserves && this.proposedInSlice) {
        this.yieldTurn();
        return;
      }
      const observeStart = performance.now();
      this.observe(next);
      if (performance.now() - observeStart > SLICE_MS) this.slowObserves = true;
      this.observed++;
      if (this.outcome) return;
      if (this.sliceUsed()) return;
    }
    const search = this.searchEntries();
    const allObserved = this.observed === search.length;
    const budgetDone = this.trainedCount() >= architectures || this.stopProposing;
    if (allObserved && budgetDone) this.enterFinal();
  }

  /** True when this slice is used up; the rest of the work then continues on the next turn of the event loop. */
  private sliceUsed(): boolean {
    if (performance.now() - this.sliceStartMs < SLICE_MS) return false;
    this.yieldTurn();
    return true;
  }

  /** Ends this slice: the rest of the work continues on the next turn of the event loop. */
  private yieldTurn(): void {
    this.yielding = true;
    setImmediate(() => {
      this.yielding = false;
      this.advance();
    });
  }

  private propose(): ChildEntry {
    const candidate = this.strategy.propose();
    const hash = genotypeHash(candidate.genotype);
    const childId = this.entries.length;
    const entry: ChildEntry = {
      childId,
      phase: 'search',
      genotype: candidate.genotype,
      hash,
      ...(candidate.decisions ? { decisions: candidate.decisions, logProb: candidate.logProb } : {}),
      seed: deriveSeed(this.spec.seed, 'child', childId),
      state: 'running',
    };
    const earlier = this.firstByHash.get(hash);
    if (earlier) entry.duplicateOf = earlier.childId;
    else if (this.spec.earlyStopping.enabled) entry.earlyStop = this.medianCurve();
    this.entries.push(entry);
    this.index(entry);
    this.onEvent({ type: 'child_queued', childId, phase: 'search', hash, genotype: formatGenotype(candidate.genotype), ...(earlier ? { duplicateOf: earlier.childId } : {}) });
    if (earlier) {
      if (earlier.state === 'done') this.completeDuplicate(entry, earlier);
    } else {
      this.dispatch(entry);
    }
    return entry;
  }

  private completeDuplicate(entry: ChildEntry, source: ChildEntry): void {
    entry.state = 'done';
    entry.result = { ...source.result!, childId: entry.childId, trainSeconds: 0 };
    this.onEvent({ type: 'child_finished', childId: entry.childId, phase: entry.phase, result: entry.result, cached: true });
  }

  /** Median validation accuracy per epoch over the children observed so far. */
  private medianCurve(): ChildTask['earlyStop'] | undefined {
    const { minEpochs, minCompleted } = this.spec.earlyStopping;
    const done = this.searchEntries().slice(0, this.observed).filter((e) => e.duplicateOf === undefined && e.result?.status === 'ok');
    if (done.length < minCompleted) return undefined;
    const medianByEpoch: number[] = [];
    for (let epoch = 0; epoch < this.spec.recipe.epochs; epoch++) {
      const values = done.map((e) => e.result!.validationByEpoch[epoch]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      if (values.length < minCompleted) break;
      const mid = values.length >> 1;
      medianByEpoch.push(values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2);
    }
    return { minEpochs, medianByEpoch };
  }

  private dispatch(entry: ChildEntry): void {
    const recipe = entry.phase === 'final' ? finalRecipe(this.spec) : this.spec.recipe;
    const task: ChildTask = {
      searchId: this.searchId, childId: entry.childId, genotype: entry.genotype, hash: entry.hash, recipe,
      dataset: this.spec.dataset, seed: entry.seed, phase: entry.phase,
      ...(entry.earlyStop ? { earlyStop: entry.earlyStop } : {}),
    };
    this.executor
      .execute(task, { onProgress: (progress) => this.onEvent({ type: 'child_progress', progress }), signal: this.abort.signal })
      .then(
        (result) => this.settle(entry, result),
        (err: Error) => this.settle(entry, {
          childId: entry.childId, status: this.abort.signal.aborted ? 'cancelled' : 'failed', reward: 0,
          reason: err?.message ?? String(err), validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0,
        }),
      );
  }

  private settle(entry: ChildEntry, result: ChildResult): void {
    if (this.outcome || entry.state === 'done') return;
    entry.state = 'done';
    entry.result = { ...result, childId: entry.childId };
    this.onEvent({ type: 'child_finished', childId: entry.childId, phase: entry.phase, result: entry.result, cached: false });
    for (const dup of this.waiting.get(entry.childId) ?? []) this.completeDuplicate(dup, entry);
    this.waiting.delete(entry.childId);
    this.advance();
  }

  private observe(entry: ChildEntry): void {
    const result = entry.result!;
    // Infrastructure failures say nothing about the architecture: the
    // strategy does not learn from them. Diverged children score 0.
    if (result.status !== 'failed' && result.status !== 'cancelled') {
      const candidate: Candidate = { genotype: entry.genotype, ...(entry.decisions ? { decisions: entry.decisions, logProb: entry.logProb! } : {}) };
      const update = this.strategy.observe(candidate, result.reward);
      if (update) {
        this.updates.push(update);
        this.onEvent({ type: 'policy_updated', update });
      }
    }
    if (entry.duplicateOf === undefined) this.failFast(entry);
    const best = this.bestChildId === null ? undefined : this.entries[this.bestChildId];
    if (result.status === 'ok' && entry.duplicateOf === undefined && (!best || result.reward > best.result!.reward)) {
      this.bestChildId = entry.childId;
      this.onEvent({ type: 'best_improved', childId: entry.childId, reward: result.reward, hash: entry.hash, genotype: formatGenotype(entry.genotype) });
    }
  }

  /**
   * Ends the search as failed, at once, when its first FAIL_FAST_CHILDREN
   * distinct children (in proposal order) all failed with one reason.
   */
  private failFast(entry: ChildEntry): void {
    if (this.outcome || !this.noteEarlyFailure(entry)) return;
    this.endFailed(`the first ${this.failedFirst!.length} children all failed with the same error, so the search stopped: ${entry.result!.reason ?? 'no reason given'}`);
  }

  /** Records an observed child in failedFirst; true when the first children have now all failed alike. */
  private noteEarlyFailure(entry: ChildEntry): boolean {
    if (this.failedFirst === undefined) return false;
    const result = entry.result!;
    if (result.status !== 'failed' || (this.failedFirst.length > 0 && this.failedFirst[0] !== (result.reason ?? ''))) {
      this.failedFirst = undefined;
      return false;
    }
    this.failedFirst.push(result.reason ?? '');
    return this.failedFirst.length >= Math.min(FAIL_FAST_CHILDREN, this.spec.budget.architectures);
  }

  /** Ends the search as failed: running children are aborted, nothing else is proposed. */
  private endFailed(reason: string): void {
    this.outcome = 'failed';
    this.reason = reason;
    this.stopProposing = true;
    this.abort.abort(new Error(reason));
    this.phase = 'done';
    this.onEvent({ type: 'phase', phase: 'done' });
  }

  private enterFinal(): void {
    const topK = this.spec.finalPhase.topK;
    if (this.stopProposingForCancel()) return this.endPhases();
    // A search none of whose children gave a reward failed, whatever its budget said.
    const counts = countChildren(this.searchEntries());
    if (counts.trained === 0 && counts.failed + counts.diverged > 0) {
      const top = mostCommonFailure(this.searchEntries())!;
      return this.endFailed(`all ${counts.failed + counts.diverged} children failed; most common reason (${top.children} of ${top.of}): ${top.reason}`);
    }
    // Only cells that trained successfully are retrained: never a failed, diverged or cached child.
    const ranked = topK === 0 ? [] : this.topChildren(topK);
    if (ranked.length === 0) return this.endPhases();
    this.phase = 'final';
    this.onEvent({ type: 'phase', phase: 'final' });
    for (const source of ranked) {
      const childId = this.entries.length;
      const entry: ChildEntry = {
        childId, phase: 'final', genotype: source.genotype, hash: source.hash, sourceChildId: source.childId,
        seed: deriveSeed(this.spec.seed, 'final', source.childId), state: 'running',
      };
      this.entries.push(entry);
      this.onEvent({ type: 'child_queued', childId, phase: 'final', hash: source.hash, genotype: formatGenotype(source.genotype) });
      this.dispatch(entry);
    }
  }

  private endPhases(): void {
    this.phase = 'done';
    this.onEvent({ type: 'phase', phase: 'done' });
  }

  private stopProposingForCancel(): boolean {
    return this.outcome === 'cancelled';
  }

  private advanceFinal(): void {
    const finals = this.entries.filter((e) => e.phase === 'final');
    if (!finals.every((e) => e.state === 'done')) return;
    // Retraining decides the best cell; when no retraining succeeded there is no decision to report.
    if (finals.length > 0 && !finals.some((e) => e.result?.status === 'ok')) {
      const top = mostCommonFailure(finals);
      return this.endFailed(`final phase: all ${finals.length} retrained children failed${top ? `; most common reason (${top.children} of ${top.of}): ${top.reason}` : ''}`);
    }
    this.endPhases();
  }

  /**
   * The best distinct architectures of the search phase, best first: the
   * summary's one ranking (before the final phase it is by search reward).
   */
  topChildren(k: number): ChildEntry[] {
    return topArchitectures({ entries: this.entries.filter((e) => e.phase === 'search') }, k).map((a) => this.entries[a.childId]!);
  }

  private checkpoint(): void {
    if (!this.wantsCheckpoints) return;
    const now = performance.now();
    const due = now - this.lastCheckpointMs >= this.checkpointEveryMs || this.phase !== this.lastCheckpointPhase || this.outcome !== undefined;
    if (!due) {
      // A change inside the interval is still saved once it has passed, even
      // if nothing else happens by then (the rest of the window may train for hours).
      this.checkpointTimer ??= setTimeout(() => {
        this.checkpointTimer = undefined;
        if (!this.failure && this.phase !== 'done') this.checkpoint();
      }, this.lastCheckpointMs + this.checkpointEveryMs - now).unref();
      return;
    }
    if (this.checkpointTimer) {
      clearTimeout(this.checkpointTimer);
      this.checkpointTimer = undefined;
    }
    this.lastCheckpointMs = now;
    this.lastCheckpointPhase = this.phase;
    this.onCheckpoint(this.exportState());
  }
}

/** Freezes a JSON value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
