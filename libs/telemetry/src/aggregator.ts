import type { BusEvent } from '@nasnet/bus';
import { exponentialBuckets, linearBuckets, Registry, type Counter, type Gauge, type Histogram } from './registry.js';

/**
 * Turns the bus events of every search into the nasnet_* Prometheus series.
 *
 * The metrics service reads NAS_EVENTS from the start of the stream, so a
 * restarted service rebuilds its counters; JetStream may also deliver an
 * event twice. Everything that can repeat is therefore keyed:
 *   child_finished  by (search, childId, phase)
 *   child_attempt   by (search, childId, attempt)   (redeliveries)
 *   policy_updated  by (search, update number)
 * and a repeat changes nothing but nasnet_events_total.
 */

export const SEARCH_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type SearchStateName = (typeof SEARCH_STATES)[number];

/**
 * Reward = validation accuracy in [0, 1] (NASNet section 3). Children that
 * learn anything land above 0.1 (chance on 10 classes), so bounds run from
 * 0.1 to 1.0 in steps of 0.05: 19 bounds.
 */
export const REWARD_BUCKETS: readonly number[] = linearBuckets(0.1, 0.05, 19);

/** Child training time: 1 s (tests, tiny children) doubling to 32768 s (~9 h, a 20-epoch CIFAR child on a slow node). */
export const TRAIN_SECONDS_BUCKETS: readonly number[] = exponentialBuckets(1, 2, 16);

/** One PPO update of the 100-unit LSTM controller: 1 ms doubling to ~8 s. */
export const UPDATE_SECONDS_BUCKETS: readonly number[] = exponentialBuckets(0.001, 2, 14);

/** A trainer counts as active for this long after its last heartbeat. */
export const DEFAULT_TRAINER_ACTIVE_WINDOW_MS = 30_000;

export interface MetricsAggregatorOptions {
  /**
   * Registry to add the series to.
   * @default a new Registry
   */
  registry?: Registry;
  /**
   * Clock (epoch milliseconds) that heartbeat times are compared with at scrape time.
   * @default Date.now
   */
  now?: () => number;
  /**
   * A trainer whose last heartbeat (its `timeMs`) is older than this is not active,
   * and its images-per-second series is dropped once its last progress is as old.
   * @default 30000
   */
  trainerActiveWindowMs?: number;
}

/** What `handle` did with one event. */
export type HandleOutcome = 'counted' | 'duplicate' | 'bad';

/** The trainer statuses that mean a child network was trained to a reward. */
const TRAINED = new Set(['ok', 'diverged', 'early_stopped']);

export class MetricsAggregator {
  readonly registry: Registry;
  private readonly now: () => number;
  private readonly windowMs: number;

  private readonly searches: Gauge<'state'>;
  private readonly trained: Counter<'search'>;
  private readonly failed: Counter<'search'>;
  private readonly cached: Counter<'search'>;
  private readonly redelivered: Counter<'search'>;
  private readonly reward: Histogram<'search'>;
  private readonly bestReward: Gauge<'search'>;
  private readonly trainSeconds: Histogram;
  private readonly imagesPerSecond: Gauge<'trainer'>;
  private readonly queueDepth: Gauge;
  private readonly inFlight: Gauge;
  private readonly updateSeconds: Histogram;
  private readonly policyUpdates: Counter<'search'>;
  private readonly events: Counter<'kind'>;
  private readonly badEvents: Counter;

  /** searchId -> its latest state and the event time that set it. */
  private readonly searchState = new Map<string, { state: SearchStateName; timeMs: number }>();
  private readonly seen = new Set<string>();
  private readonly lastHeartbeatMs = new Map<string, number>();
  private readonly lastProgressMs = new Map<string, number>();

  constructor(options: MetricsAggregatorOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.now = options.now ?? Date.now;
    this.windowMs = options.trainerActiveWindowMs ?? DEFAULT_TRAINER_ACTIVE_WINDOW_MS;
    const r = this.registry;
    this.searches = r.gauge({
      name: 'nasnet_searches', help: 'Searches by state.', labelNames: ['state'],
      collect: (g) => {
        const counts = new Map<string, number>(SEARCH_STATES.map((s) => [s, 0]));
        for (const { state } of this.searchState.values()) counts.set(state, counts.get(state)! + 1);
        for (const [state, n] of counts) g.set({ state }, n);
      },
    });
    this.trained = r.counter({ name: 'nasnet_children_trained_total', help: 'Search-phase children trained to a reward (ok, diverged or early_stopped), cache hits excluded.', labelNames: ['search'] });
    this.failed = r.counter({ name: 'nasnet_children_failed_total', help: 'Children whose training failed, both phases.', labelNames: ['search'] });
    this.cached = r.counter({ name: 'nasnet_children_cached_total', help: 'Search-phase children answered from the reward cache (same canonical genotype).', labelNames: ['search'] });
    this.redelivered = r.counter({ name: 'nasnet_children_redelivered_total', help: 'Child task deliveries that were redeliveries.', labelNames: ['search'] });
    this.reward = r.histogram({ name: 'nasnet_child_reward', help: 'Reward (validation accuracy) of trained search-phase children.', labelNames: ['search'], buckets: REWARD_BUCKETS });
    this.bestReward = r.gauge({ name: 'nasnet_search_best_reward', help: 'Best reward found so far by the search.', labelNames: ['search'] });
    this.trainSeconds = r.histogram({ name: 'nasnet_child_train_seconds', help: 'Training wall time of children trained (ok, diverged or early_stopped), both phases.', buckets: TRAIN_SECONDS_BUCKETS });
    this.imagesPerSecond = r.gauge({
      name: 'nasnet_child_images_per_second', help: 'Training throughput of each trainer, from its latest progress report.', labelNames: ['trainer'],
      collect: (g) => {
        const now = this.now();
        for (const [trainer, t] of this.lastProgressMs) {
          if (now - t > this.windowMs) {
            g.remove({ trainer });
            this.lastProgressMs.delete(trainer);
          }
        }
      },
    });
    this.queueDepth = r.gauge({ name: 'nasnet_queue_depth', help: 'Child tasks waiting in the work queue.' });
    this.inFlight = r.gauge({ name: 'nasnet_children_in_flight', help: 'Child tasks delivered to a trainer and not yet acknowledged.' });
    r.gauge({
      name: 'nasnet_trainers_active', help: 'Trainers that sent a heartbeat within the activity window.',
      collect: (g) => {
        const now = this.now();
        let n = 0;
        for (const t of this.lastHeartbeatMs.values()) if (now - t <= this.windowMs) n++;
        g.set(undefined, n);
      },
    });
    this.updateSeconds = r.histogram({ name: 'nasnet_controller_update_seconds', help: 'Wall time of one controller policy update.', buckets: UPDATE_SECONDS_BUCKETS });
    this.policyUpdates = r.counter({ name: 'nasnet_policy_updates_total', help: 'Controller policy updates.', labelNames: ['search'] });
    this.events = r.counter({ name: 'nasnet_events_total', help: 'Bus events received, repeats included, by kind.', labelNames: ['kind'] });
    this.badEvents = r.counter({ name: 'nasnet_bad_events_total', help: 'Bus messages that were not a well-formed event.' });
  }

  /** The exposition of every series, computed-at-scrape values refreshed. */
  metrics(): string {
    return this.registry.expose();
  }

  /** Counts a message that could not even be decoded (the caller saw bad JSON or protobuf). */
  countBadEvent(): void {
    this.badEvents.inc();
  }

  /** Feeds one event, as decoded from the wire: anything that is not a well-formed BusEvent is counted as bad. */
  handle(input: unknown): HandleOutcome {
    const problem = eventProblem(input);
    if (problem !== undefined) {
      this.badEvents.inc();
      return 'bad';
    }
    const event = input as BusEvent;
    this.events.inc({ kind: event.kind });
    if ('searchId' in event) this.touchSearch(event.searchId);
    switch (event.kind) {
      case 'search': return this.onSearchEvent(event);
      case 'search_state':
        this.setState(event.searchId, event.state, event.timeMs);
        return 'counted';
      case 'child_progress':
        this.imagesPerSecond.set({ trainer: event.trainer }, event.progress.imagesPerSec);
        this.lastProgressMs.set(event.trainer, Math.max(event.timeMs, this.lastProgressMs.get(event.trainer) ?? -Infinity));
        return 'counted';
      case 'child_attempt':
        if (!event.redelivered) return 'counted';
        if (!this.once(`attempt\u0000${event.searchId}\u0000${event.childId}\u0000${event.attempt}`)) return 'duplicate';
        this.redelivered.inc({ search: event.searchId });
        return 'counted';
      case 'trainer_heartbeat':
        this.lastHeartbeatMs.set(event.trainer, Math.max(event.timeMs, this.lastHeartbeatMs.get(event.trainer) ?? -Infinity));
        return 'counted';
      case 'queue':
        this.queueDepth.set(undefined, event.pending);
        this.inFlight.set(undefined, event.inFlight);
        return 'counted';
    }
  }

  /** Per-search counters start at 0 when the search is first seen, so rate() has a starting point. */
  private touchSearch(searchId: string): void {
    const search = { search: searchId };
    this.trained.touch(search);
    this.failed.touch(search);
    this.cached.touch(search);
    this.redelivered.touch(search);
    this.policyUpdates.touch(search);
  }

  /** True the first time `key` is seen. */
  private once(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  /** Later events win; one older than the state already held (an out-of-order replay) is ignored. */
  private setState(searchId: string, state: SearchStateName, timeMs: number): void {
    const held = this.searchState.get(searchId);
    if (held && held.timeMs > timeMs) return;
    this.searchState.set(searchId, { state, timeMs });
  }

  private onSearchEvent(event: Extract<BusEvent, { kind: 'search' }>): HandleOutcome {
    const search = { search: event.searchId };
    const e = event.event;
    switch (e.type) {
      case 'child_finished': {
        if (!this.once(`finished\u0000${event.searchId}\u0000${e.childId}\u0000${e.phase}`)) return 'duplicate';
        const { status, reward, trainSeconds } = e.result;
        if (e.cached) {
          if (e.phase === 'search') this.cached.inc(search);
          return 'counted';
        }
        if (status === 'failed') this.failed.inc(search);
        if (TRAINED.has(status)) {
          this.trainSeconds.observe(undefined, trainSeconds);
          if (e.phase === 'search') {
            this.trained.inc(search);
            this.reward.observe(search, reward);
          }
        }
        return 'counted';
      }
      case 'policy_updated':
        if (!this.once(`update\u0000${event.searchId}\u0000${e.update.update}`)) return 'duplicate';
        this.policyUpdates.inc(search);
        this.updateSeconds.observe(undefined, e.update.updateMs / 1000);
        return 'counted';
      case 'best_improved': {
        // The best only rises; max() makes a replayed older improvement harmless.
        const held = this.bestReward.get(search);
        if (held !== undefined && held >= e.reward) return 'duplicate';
        this.bestReward.set(search, e.reward);
        return 'counted';
      }
      case 'finished':
        this.setState(event.searchId, e.outcome, event.timeMs);
        return 'counted';
      default:
        return 'counted';
    }
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/**
 * Why `x` is not a BusEvent the aggregator can use, or undefined when it is.
 * Only the fields the aggregator reads are checked.
 */
export function eventProblem(x: unknown): string | undefined {
  if (!isObject(x)) return 'not an object';
  if (!isNum(x.timeMs)) return 'timeMs is not a finite number';
  const needSearch = () => (isStr(x.searchId) ? undefined : 'searchId is not a non-empty string');
  const needTrainer = () => (isStr(x.trainer) ? undefined : 'trainer is not a non-empty string');
  switch (x.kind) {
    case 'search': {
      const e = x.event;
      const noSearch = needSearch();
      if (noSearch) return noSearch;
      if (!isNum(x.sequence)) return 'sequence is not a number';
      if (!isObject(e)) return 'event is not an object';
      if (e.type === 'child_finished') {
        const r = e.result;
        if (!Number.isInteger(e.childId)) return 'event.childId is not an integer';
        if (e.phase !== 'search' && e.phase !== 'final') return 'event.phase is not search or final';
        if (typeof e.cached !== 'boolean') return 'event.cached is not a boolean';
        if (!isObject(r) || !isStr(r.status) || !isNum(r.reward) || !isNum(r.trainSeconds)) return 'event.result lacks status, reward or trainSeconds';
      } else if (e.type === 'policy_updated') {
        if (!isObject(e.update) || !isNum(e.update.update) || !isNum(e.update.updateMs)) return 'event.update lacks update or updateMs';
      } else if (e.type === 'best_improved') {
        if (!isNum(e.reward)) return 'event.reward is not a number';
      } else if (e.type === 'finished') {
        if (e.outcome !== 'succeeded' && e.outcome !== 'failed' && e.outcome !== 'cancelled') return 'event.outcome is not succeeded, failed or cancelled';
      } else if (typeof e.type !== 'string') return 'event.type is not a string';
      return undefined;
    }
    case 'search_state':
      if (!(SEARCH_STATES as readonly unknown[]).includes(x.state)) return `state ${String(x.state)} is not one of ${SEARCH_STATES.join(', ')}`;
      return needSearch();
    case 'child_progress':
      if (!isObject(x.progress) || !isNum(x.progress.imagesPerSec)) return 'progress.imagesPerSec is not a number';
      return needSearch() ?? needTrainer();
    case 'child_attempt':
      if (!Number.isInteger(x.childId) || !Number.isInteger(x.attempt)) return 'childId or attempt is not an integer';
      if (typeof x.redelivered !== 'boolean') return 'redelivered is not a boolean';
      return needSearch() ?? needTrainer();
    case 'trainer_heartbeat':
      if (typeof x.busy !== 'boolean') return 'busy is not a boolean';
      return needTrainer();
    case 'queue':
      if (!isNum(x.pending) || !isNum(x.inFlight)) return 'pending or inFlight is not a number';
      return undefined;
    default:
      return `kind ${JSON.stringify(x.kind)} is unknown`;
  }
}
