import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { MemoryStateStore } from '@nasnet/bus';
import * as pb from '@nasnet/proto';
import { genotypeFromProto } from '@nasnet/proto';
import { SearchLoop, normalizeSpec, summarizeSearch, type ChildExecutor, type SearchSpec, type SearchState } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { architectureToProto, specFromProto, specToProto, statusToProto } from '../src/convert.js';
import { SearchManager, startControllerServer, type StoredSearch } from '../src/index.js';

const score = (g: Genotype) => g.normal.blocks.filter((b) => b.combine === 'add').length / 10 + g.reduction.blocks.filter((b) => b.ops.includes('max_pool3x3')).length / 100;

/** Search children score `score`; final-phase ones 1 - score, so retraining reverses the order; child 1 fails, child 2 diverges. */
const executor: ChildExecutor = {
  async execute(task) {
    await new Promise((resolve) => setImmediate(resolve));
    const bad = task.phase === 'search' && (task.childId === 1 || task.childId === 2);
    const reward = bad ? 0 : task.phase === 'final' ? 1 - score(task.genotype) : score(task.genotype);
    return {
      childId: task.childId, status: bad ? (task.childId === 1 ? 'failed' : 'diverged') : 'ok', reward, ...(bad ? { reason: 'boom' } : {}),
      validationByEpoch: [reward], trainSeconds: 0.01, paramCount: task.recipe.initialFilters, multAdds: task.recipe.cells,
    };
  },
};

function stored(spec: SearchSpec, loop: SearchState): StoredSearch {
  return { id: 's-1', number: 1, createdAtMs: 1, updatedAtMs: 1, runState: 'succeeded', lastSequence: 0, trainers: { gpusPerTrainer: 0 }, spec, loop };
}

test('controller status - best_child_id, rewards and TopArchitectures follow the final phase; counts come from the search lib', async () => {
  const spec = normalizeSpec({ strategy: 'random', seed: 9, budget: { architectures: 8, concurrency: 2 }, finalPhase: { topK: 3, epochs: 4, filters: 24, cells: 3 } });
  const loop = await new SearchLoop(spec, { searchId: 's-1', executor }).run();
  const summary = summarizeSearch(loop);
  assert.ok(summary.bestFromFinalPhase);
  assert.notEqual(summary.best!.childId, summary.bestSearchPhase!.childId, 'the reversed retraining picks another cell than the search phase did');

  const status = statusToProto(stored(spec, loop));
  assert.equal(status.bestChildId, String(summary.best!.childId));
  assert.equal(status.bestReward, summary.best!.finalReward);
  assert.equal(status.bestSearchReward, summary.best!.reward);
  assert.equal(status.bestFromFinalPhase, true);
  assert.deepEqual(genotypeFromProto(status.bestGenotype!), summary.best!.genotype);
  assert.equal(status.counts!.failed, 2, 'the proto counts failed and diverged children together');
  assert.equal(status.counts!.trained, 6);
  assert.equal(status.counts!.inFlight, 0);
  assert.equal(status.counts!.submitted, loop.entries.filter((e) => e.phase === 'search').length);

  const top = summary.ranking.slice(0, 4).map((a) => architectureToProto(a));
  assert.deepEqual(top.map((a) => a.rank), [1, 2, 3, 4]);
  assert.deepEqual(top.slice(0, 3).map((a) => a.finalReward !== undefined), [true, true, true]);
  assert.equal(top[3]!.finalReward, undefined, 'a cell not retrained has no final reward');
  assert.ok(top[0]!.finalReward! >= top[1]!.finalReward! && top[1]!.finalReward! >= top[2]!.finalReward!);
  // The bytes a client receives keep the optional final reward (and its absence).
  const decoded = pb.ArchitectureSummary.decode(pb.ArchitectureSummary.encode(top[3]!).finish());
  assert.equal(decoded.finalReward, undefined);
  assert.equal(pb.ArchitectureSummary.decode(pb.ArchitectureSummary.encode(top[0]!).finish()).finalReward, top[0]!.finalReward);
});

test('controller status - the final phase size travels through the proto (0 = the search recipe)', () => {
  const sized = specFromProto(pb.SearchSpec.fromPartial({ dataset: 'synthetic', recipe: { initialFilters: 8, cellsPerStack: 1 }, finalPhase: { topK: 2, epochs: 6, filters: 32, cells: 2 } }));
  const spec = normalizeSpec(sized.input);
  assert.deepEqual(spec.finalPhase, { topK: 2, epochs: 6, filters: 32, cells: 2 });
  assert.deepEqual(specToProto(spec).finalPhase, { topK: 2, epochs: 6, filters: 32, cells: 2 });
  const unsized = normalizeSpec(specFromProto(pb.SearchSpec.fromPartial({ dataset: 'synthetic', recipe: { initialFilters: 8, cellsPerStack: 1 }, finalPhase: { topK: 2 } })).input);
  assert.deepEqual([unsized.finalPhase.filters, unsized.finalPhase.cells], [8, 1]);
});

test('controller status - a search with no successful child has no best', async () => {
  const spec = normalizeSpec({ strategy: 'random', seed: 1, budget: { architectures: 3, concurrency: 1 } });
  const failing: ChildExecutor = { execute: async (t) => ({ childId: t.childId, status: 'failed', reward: 0, reason: 'dataset file x is truncated at byte offset 3', validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0 }) };
  const loop = await new SearchLoop(spec, { searchId: 's-1', executor: failing }).run();
  assert.equal(loop.outcome, 'failed');
  const status = statusToProto({ ...stored(spec, loop), runState: 'failed' });
  assert.equal(status.bestChildId, '');
  assert.equal(status.bestReward, 0);
  assert.equal(status.bestGenotype, undefined);
  assert.equal(status.counts!.failed, 3);
  assert.equal(status.counts!.trained, 0);
});

test('controller status - over gRPC, GetSearch and TopArchitectures agree on the retrained winner, with both rewards', async () => {
  const manager = new SearchManager({ store: new MemoryStateStore<StoredSearch>(), executorFor: () => executor });
  const server = await startControllerServer({ manager, port: 0, token: 't0ken' });
  const client = new pb.SearchServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('authorization', 'Bearer t0ken');
  const call = <Res>(method: unknown, req: unknown) => new Promise<Res>((resolve, reject) => {
    (method as (r: unknown, m: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void).call(client, req, md, (e, r) => (e ? reject(e) : resolve(r)));
  });
  try {
    const sub = await call<pb.SubmitSearchResponse>(client.submitSearch, { spec: pb.SearchSpec.fromPartial({
      name: 'final', dataset: 'synthetic', strategy: pb.SearchStrategy.SEARCH_STRATEGY_RANDOM, seed: 9,
      budget: { maxArchitectures: 8, maxConcurrentChildren: 2 }, recipe: { initialFilters: 4, cellsPerStack: 1 }, finalPhase: { topK: 3, epochs: 2, filters: 24, cells: 3 },
    }) });
    await new Promise<void>((resolve, reject) => {
      const stream = client.watchSearch({ searchId: sub.searchId, fromSequence: 0 }, md);
      stream.on('data', () => {});
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const status = (await call<pb.GetSearchResponse>(client.getSearch, { searchId: sub.searchId })).status!;
    assert.equal(status.state, pb.SearchState.SEARCH_STATE_SUCCEEDED);
    assert.deepEqual(status.spec!.finalPhase, { topK: 3, epochs: 2, filters: 24, cells: 3 });
    const top = (await call<pb.TopArchitecturesResponse>(client.topArchitectures, { searchId: sub.searchId, k: 5 })).architectures;
    assert.equal(top.length, 5);
    assert.deepEqual(top.map((a) => a.finalReward !== undefined), [true, true, true, false, false], 'the three retrained cells first, each with both rewards');
    assert.ok(top[0]!.finalReward! >= top[1]!.finalReward! && top[1]!.finalReward! >= top[2]!.finalReward!);
    assert.equal(status.bestFromFinalPhase, true);
    assert.equal(status.bestChildId, top[0]!.childId, 'best_child_id is the retrained winner (what transfer by search id takes)');
    assert.equal(status.bestReward, top[0]!.finalReward);
    assert.equal(status.bestSearchReward, top[0]!.reward);
    assert.equal(status.bestGenotype!.hash, top[0]!.genotype!.hash);
    const bestBySearch = Math.max(...top.map((a) => a.reward));
    assert.ok(top[0]!.reward < bestBySearch, 'the reversed retraining picked a cell the search phase ranked lower');
  } finally {
    client.close();
    await server.close();
  }
});
