import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pb from '@nasnet/proto';
import { genotypeFromProto } from '@nasnet/proto';
import { SearchLoop, normalizeSpec, summarizeSearch, type ChildExecutor, type SearchSpec, type SearchState } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { architectureToProto, specFromProto, specToProto, statusToProto } from '../src/convert.js';
import type { StoredSearch } from '../src/manager.js';

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
