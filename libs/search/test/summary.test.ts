import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import type { Genotype } from '@nasnet/search-space';
import {
  SearchLoop, normalizeSpec, summarizeSearch, topArchitectures, FAIL_FAST_CHILDREN,
  type ChildExecutor, type ChildResult, type ChildTask, type ChildStatus,
} from '../src/index.js';

/** A known function of the genotype, so rewards differ between architectures. */
function objective(g: Genotype): number {
  let s = 0;
  for (const cell of [g.normal, g.reduction]) for (const b of cell.blocks) s += b.ops.filter((o) => o.startsWith('sep')).length + (b.combine === 'add' ? 1 : 0);
  return s / 30;
}

/**
 * Trains nothing: search children get objective(genotype) unless `fate` says
 * otherwise; final children get 1 - objective, so the retraining reverses the
 * search ranking (what the final phase exists to catch).
 */
function executor(calls: ChildTask[], fate: (task: ChildTask) => { status: ChildStatus; reason?: string } | undefined = () => undefined): ChildExecutor {
  const rng = new Rng(11);
  return {
    async execute(task, { signal }): Promise<ChildResult> {
      calls.push(task);
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, rng.int(3));
        signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new Error('aborted')); }, { once: true });
      });
      const forced = task.phase === 'search' ? fate(task) : undefined;
      const reward = forced ? 0 : task.phase === 'final' ? 1 - objective(task.genotype) : objective(task.genotype);
      return {
        childId: task.childId, status: forced?.status ?? 'ok', reward, ...(forced?.reason ? { reason: forced.reason } : {}),
        validationByEpoch: forced ? [] : [reward], trainSeconds: 0.01, paramCount: task.recipe.initialFilters * 100, multAdds: 1,
      };
    },
  };
}

const base = { strategy: 'random' as const, seed: 3, recipe: { epochs: 2, initialFilters: 4, cells: 1 } };

test('search summary - the final phase decides the best; both rankings, counts by outcome', async () => {
  const spec = normalizeSpec({ ...base, budget: { architectures: 10, concurrency: 3 }, finalPhase: { topK: 3, epochs: 5, filters: 12, cells: 2 } });
  const calls: ChildTask[] = [];
  // Children 1 and 4 fail, child 2 diverges: none of them may be retrained.
  const fate = (t: ChildTask) => (t.childId === 1 || t.childId === 4 ? { status: 'failed' as const, reason: `oom ${t.childId}` } : t.childId === 2 ? { status: 'diverged' as const, reason: 'loss is NaN' } : undefined);
  const state = await new SearchLoop(spec, { searchId: 's', executor: executor(calls, fate) }).run();
  assert.equal(state.outcome, 'succeeded');

  const finals = calls.filter((c) => c.phase === 'final');
  assert.equal(finals.length, 3);
  for (const f of finals) assert.deepEqual([f.recipe.epochs, f.recipe.initialFilters, f.recipe.cells], [5, 12, 2], 'the final recipe: more epochs, a larger network');
  const bySearchReward = state.entries
    .filter((e) => e.phase === 'search' && e.duplicateOf === undefined && e.result?.status === 'ok')
    .sort((a, b) => b.result!.reward - a.result!.reward || a.childId - b.childId);
  assert.deepEqual(new Set(finals.map((f) => f.hash)), new Set(bySearchReward.slice(0, 3).map((e) => e.hash)), 'the top 3 unique successful cells were retrained');
  for (const failed of [1, 2, 4]) assert.ok(!finals.some((f) => f.hash === state.entries[failed]!.hash || f.genotype === state.entries[failed]!.genotype));

  const summary = summarizeSearch(state);
  const retrained = summary.ranking.filter((a) => a.finalReward !== undefined);
  assert.equal(retrained.length, 3);
  const highestFinal = Math.max(...retrained.map((a) => a.finalReward!));
  assert.equal(summary.best!.finalReward, highestFinal, 'the best is the highest retrained reward');
  assert.equal(summary.bestFromFinalPhase, true);
  assert.equal(summary.bestSearchPhase!.childId, bySearchReward[0]!.childId, 'the search-phase best is reported beside it');
  assert.equal(summary.best!.finalParamCount, 1200, 'sizes of the retrained network');
  assert.deepEqual(summary.ranking.slice(0, 3).map((a) => a.finalReward), retrained.map((a) => a.finalReward!).sort((a, b) => b - a), 'retrained cells rank first, by retrained reward');
  assert.ok(summary.ranking.slice(3).every((a, i, rest) => a.finalReward === undefined && (i === 0 || rest[i - 1]!.reward >= a.reward)));
  assert.deepEqual(summary.ranking.map((a) => a.rank), summary.ranking.map((_, i) => i + 1));
  assert.equal(new Set(summary.ranking.map((a) => a.hash)).size, summary.ranking.length, 'one entry per canonical hash');
  assert.deepEqual(topArchitectures(state, 2), summary.ranking.slice(0, 2));

  const c = summary.counts;
  const search = state.entries.filter((e) => e.phase === 'search');
  assert.equal(c.submitted, search.length);
  assert.equal(c.cached, search.filter((e) => e.duplicateOf !== undefined).length);
  assert.deepEqual([c.failed, c.diverged, c.cancelled, c.inFlight], [2, 1, 0, 0]);
  assert.equal(c.trained, 10 - 3, 'trained counts only children that gave a reward');
  assert.deepEqual(summary.finalPhase, { queued: 3, retrained: 3, failed: 0 });
});

test('search summary - without a final phase the best is the best search reward; a failed retraining does not rank first', async () => {
  const spec = normalizeSpec({ ...base, budget: { architectures: 6, concurrency: 2 } });
  const state = await new SearchLoop(spec, { searchId: 's', executor: executor([]) }).run();
  const summary = summarizeSearch(state);
  assert.equal(summary.bestFromFinalPhase, false);
  assert.equal(summary.best, summary.bestSearchPhase);
  assert.equal(summary.best!.reward, Math.max(...state.entries.map((e) => e.result!.reward)));

  // The same state with a retraining of the second-best cell that failed: nothing changes at the top.
  const second = summary.ranking[1]!;
  const withFailedFinal = {
    entries: [...state.entries, {
      childId: state.entries.length, phase: 'final' as const, genotype: second.genotype, hash: second.hash, sourceChildId: second.childId, seed: 1, state: 'done' as const,
      result: { childId: state.entries.length, status: 'failed' as const, reward: 0, reason: 'out of memory', validationByEpoch: [], trainSeconds: 1, paramCount: 0, multAdds: 0 },
    }],
  };
  const again = summarizeSearch(withFailedFinal);
  assert.equal(again.best!.childId, summary.best!.childId);
  assert.equal(again.ranking[1]!.finalChildId, state.entries.length);
  assert.equal(again.ranking[1]!.finalReward, undefined);
  assert.deepEqual(again.finalPhase, { queued: 1, retrained: 0, failed: 1 });
});

test('search loop - the first children failing with one error stop the search at once with that error', async () => {
  const spec = normalizeSpec({ ...base, dataset: 'cifar10:/data/c10', budget: { architectures: 50, concurrency: 2 }, finalPhase: { topK: 2 } });
  const calls: ChildTask[] = [];
  const reason = 'dataset file /data/c10/data_batch_1.bin is truncated at byte offset 30730 (record 10): the file ends inside a record';
  const events: string[] = [];
  const state = await new SearchLoop(spec, {
    searchId: 's', executor: executor(calls, () => ({ status: 'failed', reason })),
    onEvent: (e) => { if (e.type === 'phase' || e.type === 'finished') events.push(e.type === 'phase' ? e.phase : `finished ${e.outcome}`); },
  }).run();
  assert.equal(state.outcome, 'failed');
  assert.match(state.reason!, /first 3 children all failed with the same error/);
  assert.ok(state.reason!.endsWith(reason), state.reason);
  assert.ok(calls.length <= FAIL_FAST_CHILDREN + spec.budget.concurrency, `${calls.length} children started, not the budget of 50`);
  assert.ok(!calls.some((c) => c.phase === 'final'), 'no failed child is retrained');
  assert.deepEqual(events, ['done', 'finished failed']);
});

test('search loop - a search whose children all failed, for different reasons, ends failed with the most common one', async () => {
  const spec = normalizeSpec({ ...base, budget: { architectures: 6, concurrency: 2 }, finalPhase: { topK: 2 } });
  const calls: ChildTask[] = [];
  // Alternating reasons keep the fail-fast rule out of it; "out of memory" is the most common.
  const fate = (t: ChildTask) => ({ status: t.childId === 1 ? 'diverged' as const : 'failed' as const, reason: t.childId % 3 === 0 ? 'worker died' : 'out of memory' });
  const state = await new SearchLoop(spec, { searchId: 's', executor: executor(calls, fate) }).run();
  assert.equal(state.outcome, 'failed');
  assert.match(state.reason!, /^all 6 children failed; most common reason \(4 of 6\): out of memory$/);
  assert.ok(!calls.some((c) => c.phase === 'final'), 'no failed child is retrained');
  const summary = summarizeSearch(state);
  assert.equal(summary.best, undefined);
  assert.deepEqual([summary.counts.trained, summary.counts.failed, summary.counts.diverged], [0, 5, 1]);
});

test('search loop - one good child among failures keeps the search going and is the only one retrained', async () => {
  const spec = normalizeSpec({ ...base, budget: { architectures: 5, concurrency: 1 }, finalPhase: { topK: 3 } });
  const calls: ChildTask[] = [];
  const state = await new SearchLoop(spec, { searchId: 's', executor: executor(calls, (t) => (t.childId === 2 ? undefined : { status: 'failed', reason: `error ${t.childId}` })) }).run();
  assert.equal(state.outcome, 'succeeded');
  const finals = calls.filter((c) => c.phase === 'final');
  assert.deepEqual(finals.map((f) => f.hash), [state.entries[2]!.hash]);
  assert.equal(summarizeSearch(state).best!.childId, 2);
});
