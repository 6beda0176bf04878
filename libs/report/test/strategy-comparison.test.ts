import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareStrategies, meanInterval, scoreRun, strategyComparisonSvg, studentTCdf, studentTQuantile, uniqueRewards,
  InvalidDrawingOptionError, RunWithoutRewardsError, type ComparedChild, type ComparedRun,
} from '../src/index.js';
import { byClass, elements } from './xml.js';
import { checkSvg } from './helpers.js';

test('stats - Student t quantiles match the published table', () => {
  // Two-sided 95% critical values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
  const table: Array<[number, number]> = [[1, 12.706], [2, 4.303], [3, 3.182], [4, 2.776], [5, 2.571], [9, 2.262], [30, 2.042], [100, 1.984]];
  for (const [df, t] of table) assert.ok(Math.abs(studentTQuantile(0.975, df) - t) < 5e-4, `df ${df}: ${studentTQuantile(0.975, df)} vs ${t}`);
  assert.ok(Math.abs(studentTQuantile(0.95, 10) - 1.812) < 5e-4);
  assert.equal(studentTCdf(0, 7), 0.5);
  assert.ok(Math.abs(studentTCdf(1, 1) - 0.75) < 1e-12, 'df 1 is the Cauchy distribution');
  assert.ok(Math.abs(studentTQuantile(0.025, 3) + studentTQuantile(0.975, 3)) < 1e-9, 'symmetric');
  assert.throws(() => studentTQuantile(1, 3), InvalidDrawingOptionError);
});

test('stats - mean interval over seeds: mean +- t * s / sqrt(n); one value has no interval', () => {
  const m = meanInterval([0.70, 0.74, 0.72]);
  assert.ok(Math.abs(m.mean - 0.72) < 1e-12);
  assert.ok(Math.abs(m.sd - 0.02) < 1e-12);
  assert.ok(Math.abs(m.halfWidth! - 4.302653 * 0.02 / Math.sqrt(3)) < 1e-6);
  assert.ok(Math.abs(m.lo! - (0.72 - m.halfWidth!)) < 1e-12 && Math.abs(m.hi! - (0.72 + m.halfWidth!)) < 1e-12);
  const one = meanInterval([0.5]);
  assert.equal(one.halfWidth, undefined);
  assert.equal(one.lo, undefined);
  assert.throws(() => meanInterval([]), /at least one value/);
  assert.throws(() => meanInterval([0.1, Number.NaN]), /values\[1\]/);
});

const child = (hash: string, reward: number, extra: Partial<ComparedChild> = {}): ComparedChild => ({ phase: 'search', hash, reward, status: 'ok', ...extra });

test('strategy comparison - top-N unique rewards leave out cached duplicates, failures and final-phase children', () => {
  const run: ComparedRun = {
    label: 'runs/ppo-1', strategy: 'ppo', seed: 1,
    children: [
      child('a', 0.9), child('a', 0.9, { duplicateOf: 0 }), child('a', 0.9, { duplicateOf: 0 }), // one architecture, proposed three times
      child('b', 0.8), child('c', 0.7), child('d', 0.0, { status: 'failed' }), child('e', 0.6), child('f', 0.5), child('g', 0.4),
      child('b', 0.99, { phase: 'final' }),
    ],
  };
  assert.deepEqual(uniqueRewards(run), [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
  const s = scoreRun(run, 5);
  assert.equal(s.best, 0.9);
  assert.ok(Math.abs(s.topMean - (0.9 + 0.8 + 0.7 + 0.6 + 0.5) / 5) < 1e-12, 'the duplicates of a would have made it 0.9 x 3 + 0.8 + 0.7');
  assert.equal(s.uniqueChildren, 6);
  assert.throws(() => scoreRun({ label: 'runs/broken', strategy: 'ppo', children: [child('x', 0, { status: 'failed' })] }), (e: unknown) => e instanceof RunWithoutRewardsError && /runs\/broken/.test((e as Error).message));
});

test('strategy comparison - groups runs by strategy with the mean and t interval of each score; one chart', () => {
  const run = (strategy: string, seed: number, rewards: number[]): ComparedRun => ({ label: `${strategy}-${seed}`, strategy, seed, children: rewards.map((r, i) => child(`${strategy}${seed}-${i}`, r)) });
  const runs = [
    run('ppo', 1, [0.80, 0.78, 0.75, 0.70, 0.69, 0.5]), run('random', 1, [0.74, 0.7, 0.69, 0.6, 0.55]),
    run('ppo', 2, [0.84, 0.80, 0.79, 0.72, 0.7]), run('random', 2, [0.76, 0.71, 0.7, 0.62, 0.58, 0.3]),
  ];
  const scores = compareStrategies(runs, { topN: 3 });
  assert.deepEqual(scores.map((s) => s.strategy), ['ppo', 'random']);
  const ppo = scores[0]!;
  assert.deepEqual(ppo.runs.map((r) => r.seed), [1, 2]);
  assert.ok(Math.abs(ppo.best.mean - 0.82) < 1e-12);
  const tops = [(0.80 + 0.78 + 0.75) / 3, (0.84 + 0.80 + 0.79) / 3];
  assert.ok(Math.abs(ppo.top.mean - (tops[0]! + tops[1]!) / 2) < 1e-12);
  assert.ok(Math.abs(ppo.best.halfWidth! - 12.7062 * (Math.SQRT2 * 0.02) / Math.SQRT2) < 1e-4, 'n = 2: t(0.975, 1) * s / sqrt(2)');

  const svg = strategyComparisonSvg(scores, { topN: 3 });
  const root = checkSvg(svg);
  assert.equal(byClass(root, 'panel').length, 2, 'best and top-N panels');
  assert.equal(byClass(root, 'strategy').length, 4, 'one column per strategy in each panel');
  assert.equal(byClass(root, 'seed').length, 8, 'a dot per run and panel');
  assert.equal(byClass(root, 'interval').length, 4);
  assert.ok(elements(root).some((e) => e.name === 'text' && e.children.some((c) => typeof c === 'string' && c.includes('top-3 unique'))));
  // The mean bar of ppo's best panel sits between its two seed dots.
  const ppoBest = byClass(root, 'strategy')[0]!;
  const [barY] = byClass(ppoBest, 'mean').map((m) => Number(m.attrs['y1']));
  const dots = byClass(ppoBest, 'seed').map((d) => Number(d.attrs['cy'])).sort((a, b) => a - b);
  assert.ok(dots[0]! < barY! && barY! < dots[1]!, `${dots} around ${barY}`);
  // ppo's best interval (0.82 +- 0.25) reaches past 1: accuracies are clipped to [0, 1], so the axis stays near the data.
  assert.ok(ppo.best.hi! > 1);
  const ticks = byClass(root, 'y-tick').map((t) => Number(t.children[0]));
  assert.ok(Math.max(...ticks) <= 1.1, `axis up to ${Math.max(...ticks)}`);
  assert.match(strategyComparisonSvg([]), /no data/);
});
