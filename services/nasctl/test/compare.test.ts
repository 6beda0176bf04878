import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSearchReport } from '@nasnet/report';
import { SearchLoop, normalizeSpec, type ChildExecutor, type SearchSpec } from '@nasnet/search';
import { NASNET_A, OPERATIONS, type Genotype } from '@nasnet/search-space';

const bin = fileURLToPath(new URL('../bin/nasctl.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'nas-compare-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A reward that depends on the architecture and, a little, on the seed (as a real child's does). */
function reward(g: Genotype, seed: number): number {
  const adds = [g.normal, g.reduction].flatMap((c) => c.blocks).filter((b) => b.combine === 'add').length;
  const seps = [g.normal, g.reduction].flatMap((c) => c.blocks).flatMap((b) => b.ops).filter((o) => o.startsWith('sep')).length;
  const first = OPERATIONS.indexOf(g.normal.blocks[0]!.ops[0]);
  return Math.round((0.4 + adds / 40 + seps / 60 + first / 200 + (seed % 3) / 100) * 1e4) / 1e4;
}

const executor = (seed: number): ChildExecutor => ({
  async execute(task) {
    await new Promise((resolve) => setImmediate(resolve));
    const r = reward(task.genotype, seed);
    return { childId: task.childId, status: 'ok', reward: r, validationByEpoch: [r], trainSeconds: 0.1, paramCount: 1, multAdds: 1 };
  },
});

/** A finished search folder, as `nasctl search --local` leaves it (same loop, same report writer; no training). */
async function runFolder(name: string, spec: SearchSpec, options: { strategy?: ConstructorParameters<typeof SearchLoop>[1]['strategy'] } = {}): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const state = await new SearchLoop(spec, { searchId: name, executor: executor(spec.seed), ...(options.strategy ? { strategy: options.strategy } : {}) }).run();
  writeSearchReport(dir, state);
  return dir;
}

/** NASNet-A with its first normal op replaced: 13 distinct architectures. */
const variants: Genotype[] = OPERATIONS.map((op) => ({
  ...NASNET_A, normal: { ...NASNET_A.normal, blocks: [{ ...NASNET_A.normal.blocks[0]!, ops: [op, NASNET_A.normal.blocks[0]!.ops[1]] as const }, ...NASNET_A.normal.blocks.slice(1)] },
}));

interface Child { phase: string; reward: number; duplicateOf?: number; status: string }

function expectedScores(dir: string): { best: number; top5: number; top5WithDuplicates: number } {
  const children = (JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).children as Child[]).filter((c) => c.phase === 'search' && c.status === 'ok');
  const unique = children.filter((c) => c.duplicateOf === undefined).map((c) => c.reward).sort((a, b) => b - a);
  const all = children.map((c) => c.reward).sort((a, b) => b - a);
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  return { best: unique[0]!, top5: mean(unique.slice(0, 5)), top5WithDuplicates: mean(all.slice(0, 5)) };
}

test('nasctl compare - per strategy the mean and 95% t interval over seeds of the best and top-5 unique rewards; table, chart, JSON', async () => {
  const base = { budget: { architectures: 10, concurrency: 2 }, controller: { batchSize: 5, lstmUnits: 16 } };
  const ppo = [await runFolder('ppo-1', normalizeSpec({ ...base, strategy: 'ppo', seed: 1 })), await runFolder('ppo-2', normalizeSpec({ ...base, strategy: 'ppo', seed: 2 }))];
  // One random run proposes every architecture twice in a row: its cached duplicates must not count twice.
  let k = 0;
  const twice = {
    name: 'random' as const,
    propose: () => ({ genotype: variants[Math.floor(k++ / 2) % variants.length]! }),
    observe: () => undefined,
    exportState: () => ({ name: 'random' as const, k }),
    importState: () => {},
  };
  const random = [
    await runFolder('random-1', normalizeSpec({ ...base, strategy: 'random', seed: 1 }), { strategy: twice }),
    await runFolder('random-2', normalizeSpec({ ...base, strategy: 'random', seed: 2 })),
  ];
  const dupes = expectedScores(random[0]!);
  assert.notEqual(dupes.top5, dupes.top5WithDuplicates, 'the run really has duplicates among its top rewards');

  const chart = join(root, 'compare.svg');
  // Two runs named with --run, two grouped by the strategy their results.json records.
  const res = spawnSync(process.execPath, [bin, 'compare', '--run', `ppo=${ppo[0]}`, '--run', `ppo=${ppo[1]}`, ...random, '--out', chart, '--json'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const scores = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Array<{ strategy: string; runs: unknown[]; best: { mean: number; halfWidth: number }; top: { mean: number; halfWidth: number } }>;
  assert.deepEqual(scores.map((s) => [s.strategy, s.runs.length]), [['ppo', 2], ['random', 2]]);
  const t1 = 12.7062; // t(0.975, 1 degree of freedom)
  for (const [i, dirs] of [ppo, random].entries()) {
    const e = dirs.map(expectedScores);
    const check = (got: { mean: number; halfWidth: number }, values: number[], what: string) => {
      const mean = (values[0]! + values[1]!) / 2;
      const sd = Math.abs(values[0]! - values[1]!) / Math.SQRT2;
      assert.ok(Math.abs(got.mean - mean) < 1e-9, `${scores[i]!.strategy} ${what} mean ${got.mean} vs ${mean}`);
      assert.ok(Math.abs(got.halfWidth - (t1 * sd) / Math.SQRT2) < 1e-3, `${scores[i]!.strategy} ${what} interval ${got.halfWidth}`);
    };
    check(scores[i]!.best, e.map((x) => x.best), 'best');
    check(scores[i]!.top, e.map((x) => x.top5), 'top-5');
  }
  assert.match(res.stdout, /^strategy\s+runs\s+unique\/run\s+best reward \(mean ± 95% CI\)/m);
  assert.match(res.stdout, new RegExp(`^ppo\\s+2\\s+10\\.0\\s+${scores[0]!.best.mean.toFixed(4)} ± ${scores[0]!.best.halfWidth.toFixed(4)}`, 'm'));
  assert.match(res.stdout, /^random\s+2\s+10\.0\s/m);
  const svg = readFileSync(chart, 'utf8');
  assert.match(svg, /^<svg[^>]*>/);
  assert.equal(svg.match(/class="seed"/g)?.length, 8, 'one dot per run in each of the two panels');
});

test('nasctl compare - bad arguments and folders are usage errors naming what is wrong', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'compare', ...args], { encoding: 'utf8' });
  const missing = join(root, 'nothing-here');
  let res = run(missing);
  assert.equal(res.status, 2);
  assert.match(res.stderr, new RegExp(`cannot read ${join(missing, 'results.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  res = run('--run', 'ppo');
  assert.equal(res.status, 2);
  assert.match(res.stderr, /--run takes STRATEGY=DIR, got 'ppo'/);
  res = run();
  assert.equal(res.status, 2);
  assert.match(res.stderr, /at least one run/);
});
