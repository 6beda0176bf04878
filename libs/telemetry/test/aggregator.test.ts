import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BusEvent, ChildResult } from '@nasnet/bus';
import { MetricsAggregator, eventProblem, REWARD_BUCKETS, TRAIN_SECONDS_BUCKETS, UPDATE_SECONDS_BUCKETS } from '../src/index.js';
import { parseExposition, sampleValue, type Family } from './exposition.js';

type ChildStatus = ChildResult['status'];

let sequence = 0;
function result(childId: number, status: ChildStatus, reward: number, trainSeconds: number): ChildResult {
  return { childId, status, reward, validationByEpoch: reward ? [reward] : [], trainSeconds, paramCount: 1000, multAdds: 5000 };
}
function finished(searchId: string, childId: number, phase: 'search' | 'final', status: ChildStatus, reward: number, trainSeconds: number, cached = false, timeMs = 20_000): BusEvent {
  return { kind: 'search', searchId, sequence: sequence++, timeMs, event: { type: 'child_finished', childId, phase, cached, result: result(childId, status, reward, trainSeconds) } };
}
function policy(searchId: string, update: number, updateMs: number): BusEvent {
  return {
    kind: 'search', searchId, sequence: sequence++, timeMs: 21_000,
    event: { type: 'policy_updated', update: { update, meanReward: 0.5, baseline: 0.4, loss: 0.1, entropy: 30, clipFraction: 0.1, updateMs } },
  };
}
function best(searchId: string, childId: number, reward: number): BusEvent {
  return { kind: 'search', searchId, sequence: sequence++, timeMs: 21_500, event: { type: 'best_improved', childId, reward, hash: `h${childId}`, genotype: 'g' } };
}
const state = (searchId: string, s: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled', timeMs: number): BusEvent => ({ kind: 'search_state', searchId, timeMs, state: s });
const heartbeat = (trainer: string, timeMs: number): BusEvent => ({ kind: 'trainer_heartbeat', trainer, timeMs, busy: true });
const attempt = (searchId: string, childId: number, n: number, redelivered: boolean): BusEvent => ({ kind: 'child_attempt', searchId, timeMs: 9_000, trainer: 't-a', childId, attempt: n, redelivered });
const progress = (trainer: string, imagesPerSec: number, timeMs: number): BusEvent => ({
  kind: 'child_progress', searchId: 's1', timeMs, trainer,
  progress: { childId: 0, epoch: 1, epochs: 2, step: 3, stepsPerEpoch: 10, loss: 1.2, trainAccuracy: 0.4, imagesPerSec },
});

/** One search's life, with the repeats JetStream can cause and a few malformed messages. */
function script(): unknown[] {
  return [
    state('s1', 'pending', 1_000),
    state('s2', 'pending', 1_500),
    state('s1', 'running', 2_000),
    heartbeat('t-a', 10_000),
    heartbeat('t-b', 5_000),
    { kind: 'queue', timeMs: 8_000, pending: 5, inFlight: 2 },
    { kind: 'queue', timeMs: 8_500, pending: 3, inFlight: 2 },
    attempt('s1', 0, 1, false),
    attempt('s1', 1, 2, true),
    attempt('s1', 1, 2, true), // the same redelivery, seen twice
    progress('t-a', 250, 10_500),
    progress('t-a', 300, 11_000),
    finished('s1', 0, 'search', 'ok', 0.62, 3),
    finished('s1', 1, 'search', 'diverged', 0, 1.5),
    finished('s1', 2, 'search', 'early_stopped', 0.41, 0.7),
    finished('s1', 3, 'search', 'failed', 0, 0),
    finished('s1', 4, 'search', 'ok', 0.62, 0, true),
    finished('s1', 6, 'search', 'cancelled', 0, 0),
    finished('s1', 0, 'search', 'ok', 0.62, 3), // redelivered duplicate of child 0
    finished('s1', 0, 'final', 'ok', 0.7, 10), // same child id, final phase: a different child
    policy('s1', 1, 12),
    policy('s1', 1, 12),
    best('s1', 0, 0.62),
    best('s1', 0, 0.62),
    best('s1', 2, 0.41),
    { kind: 'search', searchId: 's1', sequence: 99, timeMs: 30_000, event: { type: 'finished', outcome: 'succeeded' } },
    state('s1', 'running', 2_500), // a stale state replayed late
    null,
    { kind: 'nope', timeMs: 1 },
    { kind: 'search', searchId: 's1', sequence: 100, timeMs: 1, event: { type: 'child_finished', childId: 9, phase: 'search', cached: false } },
  ];
}

function feed(agg: MetricsAggregator, events: unknown[]) {
  return events.map((e) => agg.handle(e));
}

function scrape(agg: MetricsAggregator): Map<string, Family> {
  return parseExposition(agg.metrics());
}

test('aggregator - a scripted search gives exact values for every series', () => {
  const agg = new MetricsAggregator({ now: () => 12_000, trainerActiveWindowMs: 30_000 });
  const outcomes = feed(agg, script());
  assert.deepEqual(outcomes.filter((o) => o === 'bad').length, 3);
  assert.deepEqual(outcomes.filter((o) => o === 'duplicate').length, 5);
  const m = scrape(agg);
  const v = (family: string, labels: Record<string, string> = {}, name = family) => sampleValue(m, family, name, labels);
  const s1 = { search: 's1' };

  assert.equal(v('nasnet_searches', { state: 'pending' }), 1);
  assert.equal(v('nasnet_searches', { state: 'running' }), 0);
  assert.equal(v('nasnet_searches', { state: 'succeeded' }), 1);
  assert.equal(v('nasnet_searches', { state: 'failed' }), 0);
  assert.equal(v('nasnet_searches', { state: 'cancelled' }), 0);

  assert.equal(v('nasnet_children_trained_total', s1), 3);
  assert.equal(v('nasnet_children_failed_total', s1), 1);
  assert.equal(v('nasnet_children_cached_total', s1), 1);
  assert.equal(v('nasnet_children_redelivered_total', s1), 1);
  assert.equal(v('nasnet_policy_updates_total', s1), 1);
  assert.equal(v('nasnet_search_best_reward', s1), 0.62);
  // s2 only had a state: its counters exist at 0, it has no best reward yet.
  assert.equal(v('nasnet_children_trained_total', { search: 's2' }), 0);
  assert.equal(v('nasnet_search_best_reward', { search: 's2' }), undefined);

  // Rewards of the three trained search children: 0.62, 0 (diverged), 0.41.
  assert.equal(v('nasnet_child_reward', s1, 'nasnet_child_reward_count'), 3);
  assert.ok(Math.abs(v('nasnet_child_reward', s1, 'nasnet_child_reward_sum')! - 1.03) < 1e-12);
  const rewardLe = (le: string) => v('nasnet_child_reward', { ...s1, le }, 'nasnet_child_reward_bucket');
  assert.deepEqual(['0.1', '0.4', '0.45', '0.6', '0.65', '1', '+Inf'].map(rewardLe), [1, 1, 2, 2, 3, 3, 3]);

  // Train time of every trained child, final phase included: 3, 1.5, 0.7, 10.
  assert.equal(v('nasnet_child_train_seconds', {}, 'nasnet_child_train_seconds_count'), 4);
  assert.equal(v('nasnet_child_train_seconds', {}, 'nasnet_child_train_seconds_sum'), 15.2);
  const secLe = (le: string) => v('nasnet_child_train_seconds', { le }, 'nasnet_child_train_seconds_bucket');
  assert.deepEqual(['1', '2', '4', '8', '16', '+Inf'].map(secLe), [1, 2, 3, 3, 4, 4]);

  assert.equal(v('nasnet_controller_update_seconds', {}, 'nasnet_controller_update_seconds_count'), 1);
  assert.equal(v('nasnet_controller_update_seconds', {}, 'nasnet_controller_update_seconds_sum'), 0.012);
  assert.equal(v('nasnet_controller_update_seconds', { le: '0.008' }, 'nasnet_controller_update_seconds_bucket'), 0);
  assert.equal(v('nasnet_controller_update_seconds', { le: '0.016' }, 'nasnet_controller_update_seconds_bucket'), 1);

  assert.equal(v('nasnet_child_images_per_second', { trainer: 't-a' }), 300);
  assert.equal(v('nasnet_queue_depth'), 3);
  assert.equal(v('nasnet_children_in_flight'), 2);
  assert.equal(v('nasnet_trainers_active'), 2);

  assert.equal(v('nasnet_events_total', { kind: 'search_state' }), 4);
  assert.equal(v('nasnet_events_total', { kind: 'trainer_heartbeat' }), 2);
  assert.equal(v('nasnet_events_total', { kind: 'queue' }), 2);
  assert.equal(v('nasnet_events_total', { kind: 'child_attempt' }), 3);
  assert.equal(v('nasnet_events_total', { kind: 'child_progress' }), 2);
  assert.equal(v('nasnet_events_total', { kind: 'search' }), 14);
  assert.equal(v('nasnet_bad_events_total'), 3);
  agg.countBadEvent();
  assert.equal(sampleValue(scrape(agg), 'nasnet_bad_events_total', 'nasnet_bad_events_total'), 4);

  // Exactly the promised families, and nothing else.
  assert.deepEqual([...m.keys()], [
    'nasnet_bad_events_total', 'nasnet_child_images_per_second', 'nasnet_child_reward', 'nasnet_child_train_seconds',
    'nasnet_children_cached_total', 'nasnet_children_failed_total', 'nasnet_children_in_flight', 'nasnet_children_redelivered_total',
    'nasnet_children_trained_total', 'nasnet_controller_update_seconds', 'nasnet_events_total', 'nasnet_policy_updates_total',
    'nasnet_queue_depth', 'nasnet_search_best_reward', 'nasnet_searches', 'nasnet_trainers_active',
  ]);
});

test('aggregator - repeats of the whole stream count nothing twice (restart replay plus redelivery)', () => {
  const once = new MetricsAggregator({ now: () => 12_000 });
  feed(once, script());
  const twice = new MetricsAggregator({ now: () => 12_000 });
  feed(twice, script());
  const again = feed(twice, script().filter((e) => e !== null && (e as { kind?: string }).kind !== 'nope'));
  const a = scrape(once), b = scrape(twice);
  for (const family of a.keys()) {
    if (family === 'nasnet_events_total' || family === 'nasnet_bad_events_total') continue;
    assert.deepEqual(b.get(family), a.get(family), family);
  }
  assert.equal(sampleValue(b, 'nasnet_children_trained_total', 'nasnet_children_trained_total', { search: 's1' }), 3);
  // On replay every keyed event is a repeat: 2 redeliveries, 8 child_finished, 2 updates, 3 best_improved.
  assert.equal(again.filter((o) => o === 'duplicate').length, 2 + 8 + 2 + 3);
  // Received events are counted as received, repeats included.
  assert.equal(sampleValue(b, 'nasnet_events_total', 'nasnet_events_total', { kind: 'search' }), 28);
  // Two fresh aggregators fed the same stream write the same bytes.
  const fresh = new MetricsAggregator({ now: () => 12_000 });
  feed(fresh, script());
  assert.equal(fresh.metrics(), once.metrics());
});

test('aggregator - trainers stop being active once their last heartbeat leaves the window', () => {
  let now = 12_000;
  const agg = new MetricsAggregator({ now: () => now, trainerActiveWindowMs: 30_000 });
  feed(agg, [heartbeat('t-a', 10_000), heartbeat('t-b', 5_000), progress('t-a', 300, 11_000)]);
  const active = () => sampleValue(scrape(agg), 'nasnet_trainers_active', 'nasnet_trainers_active');
  const ips = () => sampleValue(scrape(agg), 'nasnet_child_images_per_second', 'nasnet_child_images_per_second', { trainer: 't-a' });
  assert.equal(active(), 2);
  now = 35_000; // t-b is exactly 30 s old: still inside the window
  assert.equal(active(), 2);
  now = 35_001;
  assert.equal(active(), 1);
  // A late (older) heartbeat does not move t-a's clock back; a newer one revives t-b.
  feed(agg, [heartbeat('t-a', 1_000), heartbeat('t-b', 36_000)]);
  now = 40_000;
  assert.equal(active(), 2);
  assert.equal(ips(), 300);
  now = 41_001; // t-a: heartbeat and progress both 30.001 s old or more
  assert.equal(active(), 1);
  assert.equal(ips(), undefined);
  now = 66_001;
  assert.equal(active(), 0);
});

test('aggregator - search state follows the latest event and counts each search once', () => {
  const agg = new MetricsAggregator({ now: () => 0 });
  const count = (s: string) => sampleValue(scrape(agg), 'nasnet_searches', 'nasnet_searches', { state: s });
  assert.equal(count('pending'), 0);
  feed(agg, [state('a', 'pending', 1), state('b', 'pending', 1), state('c', 'running', 1)]);
  assert.deepEqual(['pending', 'running'].map(count), [2, 1]);
  feed(agg, [state('a', 'running', 2), state('b', 'cancelled', 3), state('c', 'failed', 4)]);
  assert.deepEqual(['pending', 'running', 'cancelled', 'failed', 'succeeded'].map(count), [0, 1, 1, 1, 0]);
  // A failed search resumed later runs again.
  feed(agg, [state('c', 'running', 5)]);
  assert.deepEqual(['running', 'failed'].map(count), [2, 0]);
});

test('aggregator - labels from the wire are escaped in the exposition', () => {
  const agg = new MetricsAggregator({ now: () => 0 });
  const weird = 'pod "a"\\b\nc';
  assert.equal(agg.handle({ kind: 'child_progress', searchId: 's', timeMs: 0, trainer: weird, progress: { imagesPerSec: 7 } }), 'counted');
  const text = agg.metrics();
  assert.ok(text.includes('nasnet_child_images_per_second{trainer="pod \\"a\\"\\\\b\\nc"} 7\n'), text);
  assert.equal(sampleValue(parseExposition(text), 'nasnet_child_images_per_second', 'nasnet_child_images_per_second', { trainer: weird }), 7);
});

test('aggregator - malformed events are named and counted, not applied', () => {
  assert.equal(eventProblem(42), 'not an object');
  assert.equal(eventProblem({ kind: 'queue', pending: 1, inFlight: 0 }), 'timeMs is not a finite number');
  assert.equal(eventProblem({ kind: 'queue', timeMs: 1, pending: '1', inFlight: 0 }), 'pending or inFlight is not a number');
  assert.equal(eventProblem({ kind: 'search_state', searchId: 's', timeMs: 1, state: 'paused' }), 'state paused is not one of pending, running, succeeded, failed, cancelled');
  assert.equal(eventProblem({ kind: 'child_attempt', searchId: 's', timeMs: 1, trainer: 't', childId: 1.5, attempt: 1, redelivered: true }), 'childId or attempt is not an integer');
  assert.equal(eventProblem({ kind: 'trainer_heartbeat', timeMs: 1, trainer: '', busy: false }), 'trainer is not a non-empty string');
  assert.equal(eventProblem({ kind: 'search', searchId: 's', sequence: 1, timeMs: 1, event: { type: 'policy_updated', update: {} } }), 'event.update lacks update or updateMs');
  assert.equal(eventProblem(heartbeat('t', 1)), undefined);
  const agg = new MetricsAggregator({ now: () => 0 });
  assert.equal(agg.handle({ kind: 'queue', timeMs: 1, pending: 'lots', inFlight: 0 }), 'bad');
  const m = scrape(agg);
  assert.equal(sampleValue(m, 'nasnet_queue_depth', 'nasnet_queue_depth'), 0);
  assert.equal(sampleValue(m, 'nasnet_bad_events_total', 'nasnet_bad_events_total'), 1);
  assert.equal(m.get('nasnet_events_total')!.samples.length, 0);
});

test('aggregator - bucket layouts are the documented ones', () => {
  assert.equal(REWARD_BUCKETS.length, 19);
  assert.deepEqual([REWARD_BUCKETS[0], REWARD_BUCKETS[1], REWARD_BUCKETS[18]], [0.1, 0.15, 1]);
  assert.deepEqual([TRAIN_SECONDS_BUCKETS[0], TRAIN_SECONDS_BUCKETS.at(-1)], [1, 32768]);
  assert.deepEqual([UPDATE_SECONDS_BUCKETS[0], UPDATE_SECONDS_BUCKETS.at(-1)], [0.001, 8.192]);
});
