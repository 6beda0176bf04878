import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetentionPolicy } from '@nats-io/jetstream';
import {
  ensureStreams, KV_CANCELS, KV_SEARCHES, STREAM_DLQ, STREAM_EVENTS, STREAM_RESULTS, STREAM_TASKS, StreamConfigConflictError,
} from '../src/index.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();
const NS = 1_000_000;

test('streams - ensureStreams creates the contract once and then changes nothing', async () => {
  const bus = await nats.connect('streams', { streams: false });
  const first = await ensureStreams(bus.jsm, { storage: 'memory' });
  assert.deepEqual(first, {
    [STREAM_TASKS]: 'created', [STREAM_RESULTS]: 'created', [STREAM_EVENTS]: 'created', [STREAM_DLQ]: 'created',
    [KV_SEARCHES]: 'created', [KV_CANCELS]: 'created',
  });
  const again = await Promise.all([ensureStreams(bus.jsm, { storage: 'memory' }), ensureStreams(bus.jsm, { storage: 'memory' })]);
  for (const r of again) assert.ok(Object.values(r).every((v) => v === 'unchanged'), JSON.stringify(r));

  const tasks = (await bus.jsm.streams.info(STREAM_TASKS)).config;
  assert.equal(tasks.retention, RetentionPolicy.Workqueue);
  assert.equal(tasks.duplicate_window, 24 * 3600 * 1000 * NS);
  const results = (await bus.jsm.streams.info(STREAM_RESULTS)).config;
  assert.equal(results.max_msgs_per_subject, 1);
  const events = (await bus.jsm.streams.info(STREAM_EVENTS)).config;
  assert.equal(events.max_age, 7 * 24 * 3600 * 1000 * NS);
  assert.equal(events.max_bytes, 1024 ** 3);
  assert.equal((await bus.jsm.streams.info(`KV_${KV_SEARCHES}`)).config.max_msg_size, 16 * 1024 * 1024);
});

test('streams - changed limits are updated in place, a changed retention is refused', async () => {
  const bus = await nats.connect('streams-2', { streams: false });
  await ensureStreams(bus.jsm, { storage: 'memory' });
  const report = await ensureStreams(bus.jsm, { storage: 'memory', eventsMaxBytes: 64 * 1024 * 1024, stateMaxValueBytes: 8 * 1024 * 1024 });
  assert.equal(report[STREAM_EVENTS], 'updated');
  assert.equal(report[KV_SEARCHES], 'updated');
  assert.equal(report[STREAM_TASKS], 'unchanged');
  assert.equal((await bus.jsm.streams.info(STREAM_EVENTS)).config.max_bytes, 64 * 1024 * 1024);
  assert.equal((await bus.jsm.streams.info(`KV_${KV_SEARCHES}`)).config.max_msg_size, 8 * 1024 * 1024);

  await bus.jsm.streams.delete(STREAM_DLQ);
  await bus.jsm.streams.add({ name: STREAM_DLQ, subjects: ['nas.dlq.>'], retention: RetentionPolicy.Interest });
  await assert.rejects(ensureStreams(bus.jsm, { storage: 'memory' }), (e: unknown) => e instanceof StreamConfigConflictError && e.stream === STREAM_DLQ && /retention/.test(e.message));
});
