import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SearchLoop, normalizeSpec, type ChildExecutor } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { writeSearchReport } from '../src/index.js';
import { checkSvg } from './helpers.js';

const score = (g: Genotype) => g.normal.blocks.filter((b) => b.combine === 'add').length / 10 + g.reduction.blocks.filter((b) => b.ops[0].startsWith('sep')).length / 100;

/** Search rewards by `score`; retrained rewards reverse the order; final children "export" a model.json naming themselves. */
function executor(models: string): ChildExecutor {
  return {
    async execute(task) {
      await new Promise((resolve) => setImmediate(resolve));
      const reward = task.phase === 'final' ? 1 - score(task.genotype) : score(task.genotype);
      if (task.phase === 'final') {
        mkdirSync(join(models, `child-${task.childId}`), { recursive: true });
        writeFileSync(join(models, `child-${task.childId}`, 'model.json'), JSON.stringify({ child: task.childId }));
      }
      return { childId: task.childId, status: 'ok', reward, validationByEpoch: [reward], trainSeconds: 0.5, paramCount: task.recipe.initialFilters * 10, multAdds: 7 };
    },
  };
}

test('search report - results.json holds both rewards of every retrained cell; report.md shows both rankings; the retrained winner is exported', async () => {
  const out = mkdtempSync(join(tmpdir(), 'nas-report-'));
  try {
    const models = join(out, 'models');
    const spec = normalizeSpec({ name: 'r', strategy: 'random', seed: 2, budget: { architectures: 7, concurrency: 2 }, recipe: { initialFilters: 4 }, finalPhase: { topK: 3, filters: 16, epochs: 3 } });
    const state = await new SearchLoop(spec, { searchId: 'r', executor: executor(models) }).run();
    const report = writeSearchReport(out, state, { backend: 'test', modelsDir: models });

    for (const f of ['results.json', 'report.md', 'best-cells.svg', 'reward-curve.svg']) assert.ok(report.files.includes(f) && existsSync(join(out, f)), f);
    for (const f of report.files.filter((f) => f.endsWith('.svg'))) checkSvg(readFileSync(join(out, f), 'utf8'));
    assert.equal(report.files.filter((f) => /^top-\d-child-\d+\.svg$/.test(f)).length, 3);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const retrained = results.summary.retrained as Array<{ childId: number; reward: number; finalReward: number; finalChildId: number; finalParamCount: number }>;
    assert.equal(retrained.length, 3);
    for (const r of retrained) {
      const search = results.children[r.childId];
      const final = results.children[r.finalChildId];
      assert.equal(search.phase, 'search');
      assert.equal(final.phase, 'final');
      assert.equal(final.sourceChildId, r.childId);
      assert.equal(r.reward, search.reward);
      assert.equal(r.finalReward, final.reward);
      assert.equal(r.finalParamCount, 160, 'the retrained network is the final recipe\'s');
    }
    const winner = retrained.reduce((a, b) => (b.finalReward > a.finalReward ? b : a));
    assert.equal(results.summary.best.childId, winner.childId);
    assert.equal(results.summary.bestFromFinalPhase, true);
    assert.equal(results.ranking[0].childId, winner.childId);
    assert.equal(results.backend, 'test');
    assert.deepEqual(results.counts, report.search.counts);

    assert.equal(report.summary.model, join(out, 'model'));
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'model', 'model.json'), 'utf8')), { child: winner.finalChildId }, 'the retrained winner\'s network is exported');

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /## Final phase: the two rankings/);
    const rows = md.split('\n').filter((l) => /^\| \d \| child/.test(l));
    assert.equal(rows.length, 3);
    const bySearch = retrained.slice().sort((a, b) => b.reward - a.reward);
    const byFinal = retrained.slice().sort((a, b) => b.finalReward - a.finalReward);
    rows.forEach((row, i) => {
      assert.equal(row, `| ${i + 1} | child ${bySearch[i]!.childId} | ${bySearch[i]!.reward.toFixed(4)} | child ${byFinal[i]!.childId} | ${byFinal[i]!.finalReward.toFixed(4)} |`);
    });
    assert.match(md, new RegExp(`best: child ${winner.childId}, .*retrained ${winner.finalReward.toFixed(4)} \\(chosen by the final phase\\)`));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('search report - a failed search says so and draws no best cell', async () => {
  const out = mkdtempSync(join(tmpdir(), 'nas-report-'));
  try {
    const spec = normalizeSpec({ name: 'f', strategy: 'random', seed: 1, budget: { architectures: 4, concurrency: 1 }, finalPhase: { topK: 2 } });
    const failing: ChildExecutor = { execute: async (t) => ({ childId: t.childId, status: 'failed', reward: 0, reason: 'dataset file d is truncated at byte offset 9', validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0 }) };
    const state = await new SearchLoop(spec, { searchId: 'f', executor: failing }).run();
    const report = writeSearchReport(out, state, { modelsDir: join(out, 'models') });
    assert.equal(report.summary.outcome, 'failed');
    assert.match(report.summary.reason!, /byte offset 9/);
    assert.equal(report.summary.best, undefined);
    assert.equal(report.summary.model, undefined);
    assert.ok(!existsSync(join(out, 'best-cells.svg')));
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /outcome: failed \(the first 3 children all failed with the same error/);
    assert.match(md, /best: none \(no child trained successfully\)/);
    assert.doesNotMatch(md, /best cells/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
