/**
 * The controller's searches live in JetStream KV through the job registry:
 * a controller restarted mid-search (its NATS connection cut like a killed
 * pod's) resumes from KV on a real nats-server; a corrupt stored entry is
 * quarantined and everything else recovers; a submit while KV is down
 * fails and leaves nothing behind. Children are trained by an in-process
 * executor (a reward after a delay): the store is what is under test.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { connectBus, KV_SEARCHES, KvStateStore, type BusConnection } from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { JobStoreError } from '@nasnet/registry';
import type { ChildExecutor } from '@nasnet/search';
import { readStoredSearch, SearchManager, type SequencedEvent, type StoredSearch } from '../src/index.js';

const nats = await startNatsServer();
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await nats.stop();
});

const executor = (ms: number): ChildExecutor => ({
  async execute(task, { signal }) {
    await new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
    });
    return { childId: task.childId, status: 'ok', reward: 0.3 + (task.childId % 7) / 20, validationByEpoch: [0.5], trainSeconds: 0.01, paramCount: 10, multAdds: 20 };
  },
});

async function open(name: string, apiTimeoutMs = 5000): Promise<{ bus: BusConnection; store: KvStateStore<unknown> }> {
  const bus = await connectBus(nats.url, { name, log: () => {}, apiTimeoutMs, reconnectTimeWaitMs: 200 });
  closers.push(() => bus.close());
  return { bus, store: await KvStateStore.open<unknown>(bus, { bucket: KV_SEARCHES, create: {} }) };
}

async function clear(store: KvStateStore<unknown>): Promise<void> {
  for (const k of await store.keys()) await store.delete(k);
}

const spec = (seed: number, architectures: number) => ({ dataset: 'synthetic', strategy: 'random' as const, seed, budget: { architectures, concurrency: 2 } });

async function replay(m: SearchManager, id: string): Promise<SequencedEvent[]> {
  const out: SequencedEvent[] = [];
  await new Promise<void>((resolve) => { void m.watch(id, 1, (e) => (e === 'end' ? resolve() : out.push(e))); });
  return out;
}

test('controller restart - a controller that loses NATS mid-search resumes it from KV; finished searches stay readable', { timeout: 60_000 }, async () => {
  const first = await open('controller-1');
  await clear(first.store);
  const a = new SearchManager({ store: first.store, executorFor: () => executor(40), checkpointEveryMs: 0, keepFinished: 0 });
  const done = await a.submit(spec(1, 2), { requestId: 'req-done', submitter: 'alice' });
  assert.equal((await a.finished(done.id)).runState, 'succeeded');
  const s = await a.submit(spec(2, 12), { requestId: 'req-long' });
  // Until KV holds a checkpoint with finished children, then the pod "dies": its connection goes.
  let atCut: StoredSearch | undefined;
  for (let i = 0; i < 200; i++) {
    atCut = await readStoredSearch(first.store, s.id);
    if ((atCut?.loop?.entries.filter((e) => e.state === 'done').length ?? 0) >= 3) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await first.bus.close();
  atCut = (await readStoredSearch((await open('observer')).store, s.id))!;
  assert.equal(atCut.runState, 'running');
  const doneAtCut = atCut.loop!.entries.filter((e) => e.state === 'done').length;
  assert.ok(doneAtCut >= 3);

  const second = await open('controller-2');
  const log: string[] = [];
  const b = new SearchManager({ store: second.store, executorFor: () => executor(5), checkpointEveryMs: 0, keepFinished: 0, log: (l) => log.push(l) });
  assert.equal(await b.recover(), 1);
  assert.ok(log.some((l) => l.startsWith(`resuming search ${s.id}`)), log.join('\n'));
  // Request ids survive the restart: the same request gives the same search, nothing new starts.
  assert.equal((await b.submit(spec(2, 12), { requestId: 'req-long' })).id, s.id);
  const final = await b.finished(s.id);
  assert.equal(final.runState, 'succeeded', final.message);
  const trained = final.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
  assert.equal(trained.length, 12);
  for (const before of atCut.loop!.entries.filter((e) => e.state === 'done')) {
    assert.deepEqual(final.loop!.entries[before.childId]!.result, before.result, `child ${before.childId} kept its stored result`);
  }
  // The finished search left memory (keepFinished 0) and reads back from KV, with its submitter and events.
  const old = await b.get(done.id);
  assert.deepEqual([old.runState, old.submitter, old.requestId], ['succeeded', 'alice', 'req-done']);
  const events = await replay(b, s.id);
  assert.deepEqual(events.map((e) => e.sequence), [...new Set(events.map((e) => e.sequence))].sort((x, y) => x - y), 'numbered once, in order');
  assert.ok(events.some((e) => e.event.type === 'child_finished' && e.event.childId === 0), 'events from before the restart are kept');
  const page = await b.list({ pageSize: 1 });
  assert.deepEqual(page.jobs.map((j) => j.id), [s.id]);
  assert.deepEqual((await b.list({ pageToken: page.nextPageToken })).jobs.map((j) => j.id), [done.id]);
});

test('controller restart - a corrupt stored search is quarantined and the others recover', { timeout: 60_000 }, async () => {
  const { bus, store } = await open('controller-q');
  await clear(store);
  // The second search's children never come back in this manager: it is unfinished when the next one starts.
  let stalled = false;
  const a = new SearchManager({ store, executorFor: () => (stalled ? { execute: () => new Promise(() => {}) } : executor(5)), checkpointEveryMs: 0 });
  const finished = await a.submit(spec(3, 2));
  await a.finished(finished.id);
  stalled = true;
  const unfinished = await a.submit(spec(4, 6));
  await a.shutdown();
  const kv = await new Kvm(bus.js).open(KV_SEARCHES);
  await kv.put('s-broken', 'not json at all');
  await store.put('s-wrong', { id: 's-wrong', runState: 'running', createdAtMs: 1, lastSequence: 0, spec: { budget: {} }, trainers: {} });

  const log: string[] = [];
  const b = new SearchManager({ store, executorFor: () => executor(1), checkpointEveryMs: 0, log: (l) => log.push(l) });
  assert.equal(await b.recover(), 1, 'the unfinished search resumes');
  assert.deepEqual(b.quarantined().map((q) => [q.key, q.location]), [['s-broken', 's-broken'], ['s-wrong', 'quarantine=s-wrong']]);
  assert.match(b.quarantined()[1]!.reason, /trainers\.gpusPerTrainer is missing/);
  assert.ok(log.some((l) => /quarantined stored entry 's-broken'/.test(l)), log.join('\n'));
  assert.equal((await b.finished(unfinished.id)).runState, 'succeeded');
  assert.equal((await b.get(finished.id)).runState, 'succeeded');
  // The value is kept for an operator.
  assert.equal(((await store.get('quarantine=s-wrong')) as { value: { id: string } }).value.id, 's-wrong');
});

test('controller restart - submit while KV is down fails cleanly and no search is left pending', { timeout: 60_000 }, async () => {
  const { store } = await open('controller-outage', 1500);
  await clear(store);
  let executed = 0;
  const m = new SearchManager({ store, executorFor: () => ({ execute: async (task, o) => { executed++; return executor(1).execute(task, o); } }) });
  const down = nats.restart(4000);
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(m.submit(spec(5, 2), { requestId: 'req-outage' }), (err: Error) => err instanceof JobStoreError && /search s-\S+ was not accepted: storing it failed/.test(err.message));
  assert.equal(m.count(), 0);
  assert.deepEqual((await m.list()).jobs, []);
  await down;
  assert.equal(executed, 0, 'no child of the refused search ran');
  // Once KV is back the same request id starts a search.
  let s: StoredSearch | undefined;
  for (let i = 0; i < 40 && !s; i++) s = await m.submit(spec(5, 2), { requestId: 'req-outage' }).catch(async () => { await new Promise((r) => setTimeout(r, 250)); return undefined; });
  assert.equal((await m.finished(s!.id)).runState, 'succeeded');
});
