import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { Rng } from '@nasnet/random';
import { KV_SEARCHES, KvStateStore, MemoryStateStore, StateIntegrityError, StateStoreKeyError, type StateStore } from '../src/index.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

/** A state shaped like a PPO search's: ~`floats` LSTM weights as JSON numbers. */
function bigState(seed: number, floats: number): { version: number; weights: number[]; name: string } {
  const rng = new Rng(seed);
  return { version: 1, name: `state-${seed}`, weights: Array.from({ length: floats }, () => rng.uniform(-0.1, 0.1)) };
}

async function roundTrips(store: StateStore<unknown>): Promise<void> {
  assert.equal(await store.get('nothing'), undefined);
  await store.put('s1', { a: 1, nested: { list: [1, 2, 3] } });
  await store.put('s2', { a: 2 });
  assert.deepEqual(await store.get('s1'), { a: 1, nested: { list: [1, 2, 3] } });
  assert.deepEqual(await store.keys(), ['s1', 's2']);
  await store.put('s1', { a: 3 });
  assert.deepEqual(await store.get('s1'), { a: 3 });
  await store.delete('s1');
  assert.equal(await store.get('s1'), undefined);
  assert.deepEqual(await store.keys(), ['s2']);
  await assert.rejects(store.put('bad.key', {}), StateStoreKeyError);
  await assert.rejects(store.get(''), StateStoreKeyError);
}

test('state - MemoryStateStore stores copies with the KV store\'s semantics', async () => {
  const store = new MemoryStateStore<unknown>();
  await roundTrips(store);
  const value = { list: [1] };
  await store.put('k', value);
  value.list.push(2);
  assert.deepEqual(await store.get('k'), { list: [1] });
});

test('state - KvStateStore round-trips small values', async () => {
  const bus = await nats.connect('state-small');
  await roundTrips(await KvStateStore.open<unknown>(bus));
});

test('state - a value larger than max_payload (1 MiB) is chunked and read back whole', async () => {
  const bus = await nats.connect('state-big');
  assert.equal(bus.nc.info?.max_payload, 1024 * 1024);
  const store = await KvStateStore.open<ReturnType<typeof bigState>>(bus);
  // ~1.6 MB of JSON, like a PPO state with 100 LSTM units.
  const big = bigState(1, 80_000);
  const bytes = Buffer.byteLength(JSON.stringify(big));
  assert.ok(bytes > 1.5e6, `state is ${bytes} bytes`);
  await store.put('ppo', big);
  assert.deepEqual(await store.get('ppo'), big);
  assert.deepEqual((await store.keys()).filter((k) => k.startsWith('ppo')), ['ppo'], 'chunk keys are not listed');

  // Overwrite with another large value (other slot), then a small one, then delete: no chunk stays behind.
  const big2 = bigState(2, 120_000);
  await store.put('ppo', big2);
  assert.deepEqual(await store.get('ppo'), big2);
  await store.put('ppo', { version: 1, name: 'small', weights: [] });
  assert.deepEqual(await store.get('ppo'), { version: 1, name: 'small', weights: [] });
  await store.put('ppo', big);
  assert.deepEqual(await store.get('ppo'), big);
  await store.delete('ppo');
  assert.equal(await store.get('ppo'), undefined);
  const kv = await new Kvm(bus.js).open(KV_SEARCHES);
  const left: string[] = [];
  for await (const k of await kv.keys()) if (k.startsWith('ppo')) left.push(k);
  assert.deepEqual(left, []);
});

test('state - a damaged chunk is reported, not returned', async () => {
  const bus = await nats.connect('state-damage');
  const store = await KvStateStore.open<ReturnType<typeof bigState>>(bus, { chunkBytes: 64 * 1024 });
  await store.put('dmg', bigState(3, 20_000));
  const kv = await new Kvm(bus.js).open(KV_SEARCHES);
  await kv.put('dmg.a.1', 'garbage');
  await assert.rejects(store.get('dmg'), (e: unknown) => e instanceof StateIntegrityError && /sha256|bytes/.test(e.message));
});

test('state - a put does not read the value back, and one after another writer reads the entry again and stays consistent', async () => {
  const bus = await nats.connect('state-cas');
  const a = await KvStateStore.open<ReturnType<typeof bigState>>(bus, { chunkBytes: 64 * 1024 });
  const b = await KvStateStore.open<ReturnType<typeof bigState>>(bus, { chunkBytes: 64 * 1024 });
  // Count the entry reads a's puts make (kv.get of the key itself; chunks are written, not read).
  const reads: string[] = [];
  const kvOfA = (a as unknown as { kv: { get(k: string): Promise<unknown> } }).kv;
  const get = kvOfA.get.bind(kvOfA);
  kvOfA.get = (k: string) => { reads.push(k); return get(k); };

  await a.put('cas', bigState(1, 20_000));
  await a.put('cas', bigState(2, 20_000));
  await a.put('cas', { version: 1, name: 'inline', weights: [] });
  await a.put('cas', bigState(3, 20_000));
  assert.deepEqual(reads, ['cas'], 'only the first put reads the entry');
  // Another writer (chunked, into the other slot), then a again: its remembered revision is stale.
  await b.put('cas', bigState(4, 30_000));
  await a.put('cas', bigState(5, 20_000));
  assert.deepEqual(reads, ['cas', 'cas'], 'the stale put read the entry again');
  assert.deepEqual(await b.get('cas'), bigState(5, 20_000));
  await b.put('cas', bigState(6, 10_000));
  assert.deepEqual(await a.get('cas'), bigState(6, 10_000));
});
