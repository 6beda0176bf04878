import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { connectBus, KvStateStore, MemoryStateStore, type BusConnection } from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import {
  InvalidPageTokenError, JobListError, JobNotLiveError, JobRegistry, JobStoreError, readJob, ThrottledWriter,
  type Job, type JobEvent, type JobRegistryOptions, type SegmentedList, type StateStore,
} from '../src/index.js';

type Spec = { task: string };
type Status = { progress?: number };
type Ev = { type: 'step' | 'tick' | 'done'; n?: number };
type TestJob = Job<Spec, Status>;

const nats = await startNatsServer();
const buses: BusConnection[] = [];
after(async () => {
  for (const b of buses) await b.close().catch(() => {});
  await nats.stop();
});
let buckets = 0;

/** A fresh store of each kind: a KV bucket on a real nats-server, and memory. */
const kinds: Array<{ name: string; open: () => Promise<{ store: StateStore<unknown>; bucket?: string; bus?: BusConnection }> }> = [
  { name: 'memory', open: async () => ({ store: new MemoryStateStore<unknown>() }) },
  {
    name: 'kv',
    open: async () => {
      const bus = await connectBus(nats.url, { name: 'registry-test', log: () => {}, apiTimeoutMs: 1500, reconnectTimeWaitMs: 200 });
      buses.push(bus);
      const bucket = `reg_${++buckets}`;
      return { store: await KvStateStore.open<unknown>(bus, { bucket, create: { description: 'registry test' } }), bucket, bus };
    },
  },
];

function registry(store: StateStore<unknown>, over: Partial<JobRegistryOptions<Spec, Status, Ev>> = {}, log: string[] = []) {
  return new JobRegistry<Spec, Status, Ev>({ store, kind: 'job', saveEveryMs: 0, log: (l) => log.push(l), ...over });
}

const submit = (r: JobRegistry<Spec, Status, Ev>, task: string, requestId?: string, submitter?: string) =>
  r.submit({ ...(requestId ? { requestId } : {}), ...(submitter ? { submitter } : {}), prepare: () => ({ spec: { task }, status: {} }) });

async function collect(r: JobRegistry<Spec, Status, Ev>, id: string, from: number): Promise<Array<JobEvent<Ev> | 'end'>> {
  const got: Array<JobEvent<Ev> | 'end'> = [];
  await r.watch(id, from, (e) => got.push(e));
  return got;
}

for (const kind of kinds) {
  test(`registry (${kind.name}) - submit stores before anything sees the job; request ids are idempotent, also after a restart; submitter kept`, async () => {
    const { store } = await kind.open();
    const a = registry(store);
    const prepared: string[] = [];
    const first = await a.submit({ requestId: 'req-1', submitter: 'alice', prepare: () => { prepared.push('one'); return { spec: { task: 'one' }, status: {} }; } });
    assert.equal(first.created, true);
    assert.equal(first.job.id, 'job-1');
    assert.equal(first.job.runState, 'pending');
    assert.equal(first.job.submitter, 'alice');
    assert.deepEqual(((await store.get('job-1')) as TestJob).spec, { task: 'one' }, 'stored when submit returns');
    // Twice at once with one request id: one job, prepared once.
    const [x, y] = await Promise.all([submit(a, 'two', 'req-2'), submit(a, 'two', 'req-2')]);
    assert.equal(x.job.id, y.job.id);
    assert.deepEqual([x.created, y.created].sort(), [false, true]);
    const again = await a.submit({ requestId: 'req-1', prepare: () => { prepared.push('again'); return { spec: { task: 'x' }, status: {} }; } });
    assert.deepEqual([again.created, again.job.id], [false, 'job-1']);
    assert.deepEqual(prepared, ['one'], 'a known request id is not prepared again');

    const b = registry(store);
    const report = await b.recover();
    assert.deepEqual(report.unfinished.map((j) => j.id), ['job-1', 'job-2']);
    const after = await submit(b, 'other', 'req-1');
    assert.deepEqual([after.created, after.job.id, after.job.submitter], [false, 'job-1', 'alice']);
    assert.equal((await submit(b, 'three')).job.id, 'job-3', 'numbers go on after the stored ones');
  });

  test(`registry (${kind.name}) - numbered events replay from any sequence, follow live, end after the final state; kept across a restart`, async () => {
    const { store } = await kind.open();
    const a = registry(store, { keepEvent: (e) => e.type !== 'tick' });
    const { job } = await submit(a, 'events');
    a.setState(job.id, 'running');
    a.emit(job.id, { type: 'step', n: 1 });
    a.emit(job.id, { type: 'tick' });
    a.emit(job.id, { type: 'step', n: 2 });
    const live: Array<JobEvent<Ev> | 'end'> = [];
    const unsubscribe = await a.watch(job.id, 3, (e) => live.push(e));
    assert.deepEqual(live.map((e) => (e === 'end' ? e : e.sequence)), [3], 'replay from 3; ticks are not kept');
    a.emit(job.id, { type: 'tick' });
    assert.equal(await a.save(job.id, true), true);

    // Restarted: the job is unfinished again with its kept events; numbering goes on.
    const b = registry(store, { keepEvent: (e) => e.type !== 'tick' });
    const { unfinished } = await b.recover();
    assert.equal(unfinished[0]!.lastSequence, 4);
    assert.deepEqual((await collect(b, job.id, 0)).map((e) => (e === 'end' ? e : [e.sequence, e.event.type])), [[1, 'step'], [3, 'step']]);
    const e5 = b.emit(job.id, { type: 'step', n: 5 });
    assert.equal(e5.sequence, 5);
    const followed: Array<JobEvent<Ev> | 'end'> = [];
    await b.watch(job.id, 5, (e) => followed.push(e));
    b.emit(job.id, { type: 'done' });
    await b.finish(job.id, 'succeeded');
    assert.deepEqual(followed.map((e) => (e === 'end' ? e : e.sequence)), [5, 6, 'end']);
    assert.throws(() => b.emit(job.id, { type: 'tick' }), JobNotLiveError);
    assert.equal((await b.get(job.id)).runState, 'succeeded');
    // The first registry's live watcher saw what it emitted, filtered from 3.
    unsubscribe();
    assert.deepEqual(live.map((e) => (e === 'end' ? e : e.sequence)), [3, 4]);
  });

  test(`registry (${kind.name}) - finished jobs leave memory beyond keepFinished and get, list and watch read them back`, async () => {
    const { store } = await kind.open();
    const r = registry(store, { keepFinished: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { job } = await submit(r, `t${i}`);
      r.setState(job.id, 'running');
      r.current(job.id).progress = i / 10;
      r.emit(job.id, { type: 'step', n: i });
      await r.finish(job.id, i === 4 ? 'failed' : 'succeeded', i === 4 ? 'boom' : undefined);
      ids.push(job.id);
    }
    // The three oldest left memory; the two newest are still there.
    for (const id of ids.slice(0, 3)) assert.throws(() => r.current(id), JobNotLiveError, `${id} left memory`);
    for (const id of ids.slice(3)) assert.equal(r.current(id).id, id);
    const oldest = await r.get(ids[0]!);
    assert.deepEqual([oldest.runState, oldest.progress, oldest.spec.task, oldest.number], ['succeeded', 0, 't0', 1]);
    assert.deepEqual((await collect(r, ids[1]!, 1)).map((e) => (e === 'end' ? e : e.event.n)), [1, 'end']);
    const page = await r.list({ pageSize: 3 });
    assert.deepEqual(page.jobs.map((j) => j.id), [ids[4], ids[3], ids[2]]);
    const next = await r.list({ pageSize: 3, pageToken: page.nextPageToken });
    assert.deepEqual([next.jobs.map((j) => j.id), next.nextPageToken], [[ids[1], ids[0]], '']);
    assert.deepEqual((await r.list({ states: ['failed'] })).jobs.map((j) => [j.id, j.message]), [[ids[4], 'boom']]);
    assert.equal(r.count(['succeeded']), 4);
    await assert.rejects(r.list({ pageToken: 'abc' }), InvalidPageTokenError);
    await assert.rejects(r.get('job-99'), /job 'job-99' not found/);
  });

  test(`registry (${kind.name}) - cancel asks the service to stop an unfinished job and leaves a finished one as it is`, async () => {
    const { store } = await kind.open();
    const asked: string[] = [];
    const r: JobRegistry<Spec, Status, Ev> = registry(store, { onCancel: async (job, reason) => { asked.push(`${job.id}:${reason}`); await r.finish(job.id, 'cancelled', reason); } });
    const { job } = await submit(r, 'c');
    const done = await submit(r, 'd');
    await r.finish(done.job.id, 'succeeded');
    assert.equal((await r.cancel(job.id, 'enough')).runState, 'cancelled');
    assert.equal((await r.cancel(done.job.id, 'late')).runState, 'succeeded');
    assert.deepEqual(asked, [`${job.id}:enough`]);
    assert.equal(((await store.get(job.id)) as TestJob).message, 'enough');
  });
}

test('registry (memory) - a long event log is stored in segments: a save writes only the segments with new events', async () => {
  const puts: string[] = [];
  const memory = new MemoryStateStore<unknown>();
  const store: StateStore<unknown> = {
    get: (k) => memory.get(k), delete: (k) => memory.delete(k), keys: () => memory.keys(),
    put: (k, v) => { puts.push(k); return memory.put(k, v); },
  };
  const a = registry(store);
  const { job } = await submit(a, 'long');
  a.setState(job.id, 'running');
  for (let i = 1; i <= 1234; i++) a.emit(job.id, { type: 'step', n: i });
  await a.save(job.id, true);
  assert.deepEqual(puts.splice(0), [job.id, job.id, `${job.id}=events=0`, `${job.id}=events=1`, `${job.id}=events=2`]);
  a.emit(job.id, { type: 'step', n: 1235 });
  await a.save(job.id, true);
  assert.deepEqual(puts.splice(0), [job.id, `${job.id}=events=2`], 'the full segments are not written again');

  const b = registry(store);
  const { unfinished } = await b.recover();
  assert.equal(unfinished[0]!.lastSequence, 1235);
  const replayed = await collect(b, job.id, 600);
  assert.equal(replayed.length, 636);
  assert.deepEqual([replayed[0], replayed.at(-1)].map((e) => (e === 'end' ? e : e?.event.n)), [600, 1235]);
  await b.finish(job.id, 'succeeded');
  const c = registry(store, { keepFinished: 0 });
  await c.recover();
  const all = await collect(c, job.id, 0);
  assert.deepEqual([all.length, all.at(-1)], [1236, 'end'], 'a finished job\'s events read back from the store');
});

test('registry (kv) - recovery quarantines an unreadable and an undecodable entry and starts everything else', async () => {
  const { store, bucket, bus } = await kinds[1]!.open();
  const a = registry(store);
  const good = await submit(a, 'good');
  a.setState(good.job.id, 'running');
  await a.save(good.job.id, true);
  const finished = await submit(a, 'finished');
  await a.finish(finished.job.id, 'succeeded');
  const kv = await new Kvm(bus!.js).open(bucket!);
  await kv.put('job-7', 'this is not JSON {');
  await store.put('job-8', { id: 'job-8', runState: 'exploded', createdAtMs: 1, lastSequence: 0, spec: {} });

  const log: string[] = [];
  const b = registry(store, {}, log);
  const report = await b.recover();
  assert.deepEqual(report.unfinished.map((j) => j.id), [good.job.id]);
  assert.equal(report.finished, 1);
  assert.deepEqual(report.quarantined.map((q) => [q.key, q.location]), [['job-7', 'job-7'], ['job-8', 'quarantine=job-8']]);
  assert.match(report.quarantined[0]!.reason, /cannot be read: .*not JSON/);
  assert.match(report.quarantined[1]!.reason, /runState: "exploded" is not one of/);
  assert.ok(log.some((l) => /quarantined stored entry 'job-8'/.test(l)), log.join('\n'));
  // The undecodable value moved aside, still readable for an operator; the unreadable one stays with a marker.
  assert.equal(await store.get('job-8'), undefined);
  assert.equal(((await store.get('quarantine=job-8')) as { value: { runState: string } }).value.runState, 'exploded');
  assert.equal(((await store.get('quarantine=job-7')) as { location: string }).location, 'job-7');
  // Everything else works; new ids never take a quarantined key.
  assert.equal((await b.get(finished.job.id)).runState, 'succeeded');
  for (let i = 0; i < 6; i++) await submit(b, `next-${i}`);
  assert.deepEqual((await b.list({ pageSize: 6 })).jobs.map((j) => j.id), ['job-10', 'job-9', 'job-6', 'job-5', 'job-4', 'job-3'], 'job-7 and job-8 are skipped');
  // A later recovery still lists both.
  const c = registry(store);
  assert.deepEqual((await c.recover()).quarantined.map((q) => q.key), ['job-7', 'job-8']);
});

test('registry (memory) - a value that is not a job is quarantined by the service\'s decode too', async () => {
  const store = new MemoryStateStore<unknown>();
  const a = registry(store);
  await submit(a, 'fine');
  await store.put('job-5', { id: 'job-5', runState: 'running', createdAtMs: 1, lastSequence: 0, spec: { task: 42 } });
  const b = registry(store, { decode: (j, key) => { if (typeof j.spec.task !== 'string') throw new Error(`${key}: spec.task must be a string`); return j; } });
  const report = await b.recover();
  assert.deepEqual(report.unfinished.map((j) => j.id), ['job-1']);
  assert.deepEqual(b.quarantined().map((q) => q.key), ['job-5']);
  assert.match(b.quarantined()[0]!.reason, /spec\.task must be a string/);
});

test('registry (kv) - submit while the store is down fails cleanly and leaves nothing visible', async () => {
  const { store } = await kinds[1]!.open();
  const r = registry(store);
  await submit(r, 'before');
  const down = nats.restart(4000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await assert.rejects(submit(r, 'during', 'req-down'), (err: Error) => err instanceof JobStoreError && /job-2 was not accepted: storing it failed/.test(err.message));
  assert.equal(r.count(), 1, 'nothing registered');
  assert.deepEqual((await r.list()).jobs.map((j) => j.spec.task), ['before']);
  await assert.rejects(r.get('job-2'), /not found/);
  await down;
  // Once the store is back the same request id is a new job, stored.
  let retried: Awaited<ReturnType<typeof submit>> | undefined;
  for (let i = 0; i < 40 && !retried; i++) retried = await submit(r, 'during', 'req-down').catch(async () => { await new Promise((res) => setTimeout(res, 250)); return undefined; });
  assert.ok(retried?.created);
  assert.equal(((await store.get(retried.job.id)) as TestJob).spec.task, 'during');
});

test('registry - a slow store gets one write at a time, at most one waiting, and no more than the write budget allows', async () => {
  let running = 0;
  let maxRunning = 0;
  let writes = 0;
  let state = 0;
  const written: number[] = [];
  const writer = new ThrottledWriter(async () => {
    const snapshot = state;
    writes++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 30));
    running--;
    written.push(snapshot);
  }, { minGapMs: 0, onError: () => {} });
  const saves: Array<Promise<boolean>> = [];
  const end = Date.now() + 600;
  while (Date.now() < end) {
    state++;
    saves.push(writer.save(false));
    await new Promise((r) => setTimeout(r, 2));
  }
  state++;
  assert.equal(await writer.save(true), true);
  await Promise.all(saves);
  assert.equal(maxRunning, 1);
  assert.equal(written.at(-1), state, 'the forced save wrote the latest state');
  // Writes of 30 ms may come only every 300 ms: 600 ms of saves cannot need more than a handful.
  assert.ok(writes <= 5, `${writes} writes for ${saves.length} saves`);
});

/** Jobs with a long list of items (a search's children), stored in segments of 4. */
type Item = { n: number; done: boolean };
type ListStatus = { items?: Item[] };
type ListJob = Job<Spec, ListStatus>;
const ITEMS: SegmentedList<ListJob> = {
  take: (job) => job.items ?? [],
  put: (job, items) => ({ ...job, items: items as Item[] }),
  perSegment: 4,
};
const item = (n: number, done = true): Item => Object.freeze({ n, done });

/** A store that records the keys put and can be told to fail the next put of one key. */
function recording(memory: StateStore<unknown> = new MemoryStateStore<unknown>()) {
  const puts: string[] = [];
  let failNext: string | undefined;
  const store: StateStore<unknown> = {
    get: (k) => memory.get(k), delete: (k) => memory.delete(k), keys: () => memory.keys(),
    put: async (k, v) => {
      if (k === failNext) {
        failNext = undefined;
        throw new Error(`put of ${k} refused by the test`);
      }
      puts.push(k);
      return memory.put(k, v);
    },
  };
  return { store, puts, failPut: (k: string) => { failNext = k; } };
}

const listRegistry = (store: StateStore<unknown>, over: Partial<JobRegistryOptions<Spec, ListStatus, Ev>> = {}) =>
  new JobRegistry<Spec, ListStatus, Ev>({ store, kind: 'job', saveEveryMs: 0, list: ITEMS, ...over });

for (const kind of kinds) {
  test(`registry (${kind.name}) - a long list is stored in segments: a save writes the head and only the segments that changed; recover and get read it whole`, async () => {
    const { store: inner } = await kind.open();
    const { store, puts } = recording(inner);
    const a = listRegistry(store);
    const { job } = await a.submit({ prepare: () => ({ spec: { task: 'list' }, status: {} }) });
    a.setState(job.id, 'running');
    const first = Array.from({ length: 10 }, (_, n) => item(n, n < 8));
    a.current(job.id).items = first;
    puts.splice(0);
    await a.save(job.id, true);
    assert.deepEqual(puts.splice(0), [`${job.id}=list=0a`, `${job.id}=list=1a`, `${job.id}=list=2a`, job.id]);
    const head = (await store.get(job.id)) as ListJob & { listSegments: { count: number; tags: string[] } };
    assert.deepEqual(head.items, [], 'the head holds no items');
    assert.equal(head.listSegments.count, 10);

    // Items 8 and 9 finish (new objects) and items 10-12 come: only the last segment (into its other slot) and a new one are written.
    const second = [...first.slice(0, 8), item(8), item(9), item(10), item(11), item(12, false)];
    a.current(job.id).items = second;
    await a.save(job.id, true);
    assert.deepEqual(puts.splice(0), [`${job.id}=list=2b`, `${job.id}=list=3a`, job.id]);
    await a.save(job.id, true);
    assert.deepEqual(puts.splice(0), [job.id], 'nothing changed: the head alone');
    assert.deepEqual((await readJob(store, job.id, ITEMS))?.value.items, second);

    const b = listRegistry(store);
    const { unfinished } = await b.recover();
    assert.deepEqual(unfinished.map((j) => [j.id, j.items]), [[job.id, second]]);
    assert.equal('listSegments' in unfinished[0]!, false, 'the marker is the registry\'s, not the job\'s');
    // After a restart the items are new objects: the next save writes every segment once, each into its other slot.
    b.current(job.id).items = [...second];
    await b.save(job.id, true);
    assert.deepEqual(puts.splice(0), [`${job.id}=list=0b`, `${job.id}=list=1b`, `${job.id}=list=2a`, `${job.id}=list=3b`, job.id]);
    await b.finish(job.id, 'succeeded');
    const c = listRegistry(store, { keepFinished: 0 });
    assert.equal((await c.recover()).finished, 1);
    const read = await c.get(job.id);
    assert.deepEqual([read.runState, read.items], ['succeeded', second]);
    assert.equal('listSegments' in read, false);
  });
}

test('registry (memory) - a save that fails before its head is stored leaves the last stored list whole; a head that names other segments is refused by name', async () => {
  const { store, puts, failPut } = recording();
  const a = listRegistry(store);
  const { job } = await a.submit({ prepare: () => ({ spec: { task: 'torn' }, status: {} }) });
  a.setState(job.id, 'running');
  const first = [item(0), item(1, false)];
  a.current(job.id).items = first;
  await a.save(job.id, true);
  const headBefore = await store.get(job.id);

  failPut(job.id);
  a.current(job.id).items = [item(0), item(1), item(2, false)];
  assert.equal(await a.save(job.id, true), false, 'the save failed');
  assert.deepEqual((await readJob(store, job.id, ITEMS))?.value.items, first, 'the stored list is the one before the failed save');
  // The next save writes into the same unused slot again and then the head.
  puts.splice(0);
  const third = [item(0), item(1), item(2)];
  a.current(job.id).items = third;
  assert.equal(await a.save(job.id, true), true);
  assert.deepEqual(puts.splice(0), [`${job.id}=list=0b`, job.id]);
  assert.deepEqual((await readJob(store, job.id, ITEMS))?.value.items, third);

  // Another save writes slot a again: a reader holding the first head finds its segment replaced, and says so.
  a.current(job.id).items = [item(0), item(1), item(2), item(3)];
  await a.save(job.id, true);
  const stale = new MemoryStateStore<unknown>();
  for (const k of await store.keys()) await stale.put(k, await store.get(k));
  await stale.put(job.id, headBefore);
  await assert.rejects(readJob(stale, job.id, ITEMS), (err: Error) => err instanceof JobListError && /'job-1=list=0a'.*holds save "a[0-9a-f]+", the head names a[0-9a-f]+/.test(err.message));
});

test('registry (memory) - a job stored whole before segments recovers as it is, and its next save stores it in segments', async () => {
  const { store, puts } = recording();
  const items = [item(0), item(1), item(2), item(3), item(4, false)];
  await store.put('job-3', { id: 'job-3', number: 3, runState: 'running', createdAtMs: 1, lastSequence: 0, spec: { task: 'old' }, items });
  const a = listRegistry(store);
  const { unfinished } = await a.recover();
  assert.deepEqual(unfinished.map((j) => [j.id, j.items]), [['job-3', items]]);
  puts.splice(0);
  await a.save('job-3', true);
  assert.deepEqual(puts.splice(0), ['job-3=list=0a', 'job-3=list=1a', 'job-3']);
  assert.deepEqual(((await store.get('job-3')) as ListJob).items, []);
  assert.deepEqual((await readJob(store, 'job-3', ITEMS))?.value.items, items);
  const b = listRegistry(store);
  assert.deepEqual((await b.recover()).unfinished.map((j) => j.items), [items]);
});
