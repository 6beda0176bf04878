import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEventBus, NatsEventBus, type BusEvent, type EventBus } from '../src/index.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

const heartbeat = (trainer: string, timeMs = Date.now()): BusEvent => ({ kind: 'trainer_heartbeat', timeMs, trainer, busy: false });
const state = (searchId: string, s: 'running' | 'succeeded'): BusEvent => ({ kind: 'search_state', searchId, timeMs: Date.now(), state: s });

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function behavesLikeABus(bus: EventBus): Promise<void> {
  await bus.publish(state('a', 'running'));
  await bus.publish(heartbeat('t1'));
  await new Promise((r) => setTimeout(r, 20));
  const cutoff = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  await bus.publish(state('b', 'running'));

  const fresh: BusEvent[] = [];
  const all: BusEvent[] = [];
  const onlyA: BusEvent[] = [];
  const since: BusEvent[] = [];
  const subs = [
    await bus.subscribe((e) => fresh.push(e)),
    await bus.subscribe((e) => all.push(e), { deliverAll: true }),
    await bus.subscribe((e) => onlyA.push(e), { searchId: 'a', deliverAll: true }),
    await bus.subscribe((e) => since.push(e), { fromTimeMs: cutoff }),
  ];
  await bus.publish(state('a', 'succeeded'));
  await until(() => all.length === 4 && fresh.length === 1 && onlyA.length === 2 && since.length === 2, 'events');
  assert.deepEqual(fresh.map((e) => e.kind), ['search_state']);
  assert.deepEqual(all.map((e) => ('searchId' in e ? e.searchId : e.kind)), ['a', 'trainer_heartbeat', 'b', 'a']);
  assert.deepEqual(onlyA.map((e) => (e.kind === 'search_state' ? e.state : '')), ['running', 'succeeded']);
  assert.deepEqual(since.map((e) => ('searchId' in e ? e.searchId : '')), ['b', 'a']);
  for (const s of subs) await s.close();
  await bus.publish(heartbeat('t2'));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(all.length, 4, 'a closed subscription hears nothing more');
}

test('events - NatsEventBus publishes, replays all, from a time, per search, and new only', async () => {
  await behavesLikeABus(new NatsEventBus(await nats.connect('events')));
});

test('events - MemoryEventBus behaves the same', async () => {
  await behavesLikeABus(new MemoryEventBus());
});

test('events - an undecodable event is skipped and reported', async () => {
  const bus = await nats.connect('events-bad');
  const events = new NatsEventBus(bus);
  const got: BusEvent[] = [];
  const errors: Error[] = [];
  const sub = await events.subscribe((e) => got.push(e), { searchId: 'z', onError: (e) => errors.push(e) });
  await bus.js.publish('nas.events.z', '{"kind":"gossip"}');
  await events.publish(state('z', 'running'));
  await until(() => got.length === 1 && errors.length === 1, 'one event and one error');
  assert.match(errors[0]!.message, /nas\.events\.z.*kind/);
  await sub.close();
});
