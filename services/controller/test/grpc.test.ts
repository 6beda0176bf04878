import { MemoryStateStore } from '@nasnet/bus';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import type { ChildExecutor } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { readStoredSearch, SearchManager, startControllerServer, type StoredSearch } from '../src/index.js';

const reward = (g: Genotype) => g.normal.blocks.filter((b) => b.combine === 'add').length / 5;
const executor = (delayMs: number): ChildExecutor => ({
  async execute(task, { signal }) {
    await new Promise((resolve, reject) => { const t = setTimeout(resolve, delayMs); signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); }); });
    return { childId: task.childId, status: 'ok', reward: reward(task.genotype), validationByEpoch: [reward(task.genotype)], trainSeconds: 0.01, paramCount: 10, multAdds: 20 };
  },
});

const store = new MemoryStateStore<StoredSearch>();
const manager = new SearchManager({ store, executorFor: () => executor(2) });
const server = await startControllerServer({ manager, port: 0, token: 's3cret' });
const client = new pb.SearchServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
const auth = new Metadata();
auth.set('authorization', 'Bearer s3cret');
after(async () => { client.close(); await server.close(); });

// grpc-js client methods are overloaded, so the response type is named at each call.
function call<Res>(method: unknown, req: unknown, md = auth): Promise<Res> {
  const fn = method as (req: unknown, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
  return new Promise((resolve, reject) => fn.call(client, req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

const spec = (over: Partial<pb.SearchSpec> = {}) => pb.SearchSpec.fromPartial({
  name: 'grpc-test', dataset: 'synthetic', strategy: pb.SearchStrategy.SEARCH_STRATEGY_PPO, seed: 3,
  budget: { maxArchitectures: 12, maxConcurrentChildren: 3 }, controller: { batchSize: 4, lstmUnits: 16 }, ...over,
});

test('controller gRPC - submit, watch to the end, get, list and top', async () => {
  const sub = await call<pb.SubmitSearchResponse>(client.submitSearch, { spec: spec(), requestId: 'req-1' });
  assert.match(sub.searchId, /^s-/);
  const again = await call<pb.SubmitSearchResponse>(client.submitSearch, { spec: spec(), requestId: 'req-1' });
  assert.equal(again.searchId, sub.searchId, 'request_id makes submit idempotent');

  const events: pb.SearchEvent[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = client.watchSearch({ searchId: sub.searchId, fromSequence: 0 }, auth);
    stream.on('data', (e: pb.SearchEvent) => events.push(e));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const seqs = events.map((e) => e.sequence);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(events.filter((e) => e.event?.$case === 'childFinished').length, 12);
  assert.equal(events.filter((e) => e.event?.$case === 'policyUpdated').length, 3);
  assert.equal(events.at(-1)!.event?.$case, 'stateChanged');

  const got = await call<pb.GetSearchResponse>(client.getSearch, { searchId: sub.searchId });
  assert.equal(got.status!.state, pb.SearchState.SEARCH_STATE_SUCCEEDED);
  assert.equal(got.status!.submitter, 'default', 'the single CONTROLLER_TOKEN is named default');
  assert.equal(got.status!.counts!.trained, 12);
  assert.ok(got.status!.bestReward > 0);
  const stored = await readStoredSearch(store, sub.searchId);
  assert.equal(stored!.runState, 'succeeded', 'final state is in the store');
  assert.equal(stored!.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined).length, 12);

  const top = await call<pb.TopArchitecturesResponse>(client.topArchitectures, { searchId: sub.searchId, k: 3 });
  assert.equal(top.architectures.length, 3);
  assert.ok(top.architectures[0]!.reward >= top.architectures[2]!.reward);
  assert.match(top.architectures[0]!.genotype!.text, /=> concat/);

  // Resume the watch from a sequence: only later events come.
  const tail: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = client.watchSearch({ searchId: sub.searchId, fromSequence: seqs.at(-3)! }, auth);
    stream.on('data', (e: pb.SearchEvent) => tail.push(e.sequence));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  assert.deepEqual(tail, seqs.slice(-3));

  const list = await call<pb.ListSearchesResponse>(client.listSearches, { pageSize: 10, pageToken: '', states: [pb.SearchState.SEARCH_STATE_SUCCEEDED] });
  assert.ok(list.searches.some((s) => s.searchId === sub.searchId));
});

test('controller gRPC - bad requests get precise statuses and the service keeps serving', async () => {
  const invalid = async (s: pb.SearchSpec, field: RegExp) => {
    const err = await call<pb.SubmitSearchResponse>(client.submitSearch, { spec: s, requestId: '' }).then(() => undefined, (e: ServiceError) => e);
    assert.ok(err, 'rejected');
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, field);
  };
  await invalid(spec({ dataset: 'imagenet21k' }), /^spec\.dataset: 'imagenet21k' is not one of/);
  await invalid(spec({ budget: { maxArchitectures: 2_000_000, maxConcurrentChildren: 1, maxTrainers: 0, maxWallSeconds: 0 } }), /^spec\.budget\.max_architectures: must be between 1 and/);
  await invalid(spec({ recipe: pb.ChildTrainingRecipe.fromPartial({ learningRate: -1 }) }), /^spec\.recipe\.learning_rate:/);
  await invalid(spec({ strategy: 42 as pb.SearchStrategy }), /^spec\.strategy: unknown strategy enum 42/);
  await invalid(undefined as never, /^spec: is required/);

  const watchMissing = await new Promise<ServiceError>((resolve) => {
    const stream = client.watchSearch({ searchId: 'nope', fromSequence: 0 }, auth);
    stream.on('data', () => {});
    stream.on('error', resolve);
  });
  assert.equal(watchMissing.code, status.NOT_FOUND);
  const notFound = await call<pb.GetSearchResponse>(client.getSearch, { searchId: 'nope' }).then(() => undefined, (e: ServiceError) => e);
  assert.equal(notFound?.code, status.NOT_FOUND);
  assert.match(notFound!.details, /search 'nope' not found/);
  const noToken = await call<pb.GetSearchResponse>(client.getSearch, { searchId: 'nope' }, new Metadata()).then(() => undefined, (e: ServiceError) => e);
  assert.equal(noToken?.code, status.UNAUTHENTICATED);
  const wrong = new Metadata(); wrong.set('authorization', 'Bearer guess');
  const badToken = await call<pb.ListSearchesResponse>(client.listSearches, { pageSize: 1, pageToken: '', states: [] }, wrong).then(() => undefined, (e: ServiceError) => e);
  assert.equal(badToken?.code, status.UNAUTHENTICATED);
  // Still serving.
  const ok = await call<pb.ListSearchesResponse>(client.listSearches, { pageSize: 1, pageToken: '', states: [] });
  assert.ok(Array.isArray(ok.searches));
});

test('controller gRPC - cancel ends a running search as cancelled', async () => {
  const slow = new SearchManager({ store: new MemoryStateStore<StoredSearch>(), executorFor: () => executor(200) });
  const srv = await startControllerServer({ manager: slow, port: 0 });
  const c = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createInsecure());
  try {
    const sub = await new Promise<pb.SubmitSearchResponse>((res, rej) => c.submitSearch({ spec: spec({ budget: pb.SearchBudget.fromPartial({ maxArchitectures: 500, maxConcurrentChildren: 2 }) }), requestId: '' }, (e, r) => (e ? rej(e) : res(r))));
    const cancelled = await new Promise<pb.CancelSearchResponse>((res, rej) => c.cancelSearch({ searchId: sub.searchId, reason: 'enough' }, (e, r) => (e ? rej(e) : res(r))));
    assert.ok(cancelled.status);
    const final = await slow.finished(sub.searchId);
    assert.equal(final.runState, 'cancelled');
    assert.equal(final.message, 'enough');
  } finally {
    c.close();
    await srv.close();
  }
});

test('controller - a restarted manager resumes unfinished searches from the store', async () => {
  const shared = new MemoryStateStore<StoredSearch>();
  const first = new SearchManager({ store: shared, executorFor: () => executor(30), checkpointEveryMs: 0 });
  const s = await first.submit({ dataset: 'synthetic', seed: 9, budget: { architectures: 10, concurrency: 2 }, controller: { batchSize: 4, lstmUnits: 16 } });
  await new Promise((r) => setTimeout(r, 150));
  // Simulate a crash: the first manager's loop is abandoned, its last checkpoint stays in the store.
  await first.shutdown();
  const saved = await shared.get(s.id);
  assert.equal(saved!.runState, 'running');
  const second = new SearchManager({ store: shared, executorFor: () => executor(1) });
  assert.equal(await second.recover(), 1);
  const done = await second.finished(s.id);
  assert.equal(done.runState, 'succeeded');
  assert.equal(done.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined).length, 10);
  first.cancel(s.id, 'cleanup');
});

test('controller gRPC - recipe.checkpoint_cells reaches every child task and the status spec; unset is off', async () => {
  const seen: boolean[] = [];
  const recording: ChildExecutor = { execute: (task, hooks) => { seen.push(task.recipe.checkpointCells); return executor(1).execute(task, hooks); } };
  const own = await startControllerServer({ manager: new SearchManager({ store: new MemoryStateStore<StoredSearch>(), executorFor: () => recording }), port: 0, token: 's3cret' });
  const ownClient = new pb.SearchServiceClient(`127.0.0.1:${own.port}`, credentials.createInsecure());
  const on = <Res>(method: unknown, req: unknown): Promise<Res> => {
    const fn = method as (req: unknown, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
    return new Promise((resolve, reject) => fn.call(ownClient, req, auth, (err, res) => (err ? reject(err) : resolve(res))));
  };
  try {
    for (const checkpointCells of [true, undefined]) {
      seen.length = 0;
      const s = spec({ budget: { maxArchitectures: 4, maxConcurrentChildren: 2, maxTrainers: 0, maxWallSeconds: 0 }, recipe: pb.ChildTrainingRecipe.fromPartial({ checkpointCells }) });
      const sub = await on<pb.SubmitSearchResponse>(ownClient.submitSearch, { spec: s, requestId: '' });
      let status: pb.SearchStatus;
      do {
        await new Promise((r) => setTimeout(r, 20));
        status = (await on<pb.GetSearchResponse>(ownClient.getSearch, { searchId: sub.searchId })).status!;
      } while (status.state === pb.SearchState.SEARCH_STATE_PENDING || status.state === pb.SearchState.SEARCH_STATE_RUNNING);
      assert.equal(status.state, pb.SearchState.SEARCH_STATE_SUCCEEDED);
      assert.equal(status.spec?.recipe?.checkpointCells, checkpointCells ?? false);
      assert.ok(seen.length >= 4, `${seen.length} children trained`);
      assert.deepEqual(new Set(seen), new Set([checkpointCells ?? false]));
    }
  } finally {
    ownClient.close();
    await own.close();
  }
});
