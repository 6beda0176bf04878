import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { InvalidDrawingOptionError, InvalidRewardPointError, SERIES_COLORS, rewardCurveSvg } from '../src/index.js';
import type { RewardPoint } from '../src/index.js';
import { byClass, elements, textContent } from './xml.js';
import type { XmlElement } from './xml.js';
import { checkSvg, pathNumbers } from './helpers.js';

/** 100 PPO children trending up and 100 random-search children, interleaved. */
function twoSeries(): RewardPoint[] {
  const rng = new Rng(11);
  const points: RewardPoint[] = [];
  for (let i = 0; i < 100; i++) {
    points.push({ child: 2 * i, reward: 0.6 + 0.3 * (i / 100) + 0.03 * rng.normal(), strategy: 'ppo' });
    points.push({ child: 2 * i + 1, reward: 0.65 + 0.05 * rng.normal(), strategy: 'random' });
  }
  return points;
}

/** Maps an SVG y back to a reward, from the first and last grid line and their labels. */
function yToReward(root: XmlElement): (y: number) => number {
  const grid = byClass(root, 'grid').map((g) => Number(g.attrs['y1']));
  const labels = byClass(root, 'y-tick').map((t) => Number(textContent(t)));
  assert.equal(grid.length, labels.length);
  const [ya, yb, va, vb] = [grid[0]!, grid[grid.length - 1]!, labels[0]!, labels[labels.length - 1]!];
  return (y) => va + ((y - ya) / (yb - ya)) * (vb - va);
}

test('rewardCurveSvg - empty input draws axes and "no data"', () => {
  const root = checkSvg(rewardCurveSvg([]));
  assert.equal(byClass(root, 'no-data').length, 1);
  assert.equal(byClass(root, 'dots').length, 0);
  const texts = elements(root).filter((e) => e.name === 'text').map(textContent);
  assert.ok(texts.includes('child index') && texts.includes('validation accuracy'));
});

test('rewardCurveSvg - a single point draws one dot and no lines', () => {
  const root = checkSvg(rewardCurveSvg([{ child: 0, reward: 0.42 }]));
  const dots = byClass(root, 'dots');
  assert.equal(dots.length, 1);
  assert.equal(dots[0]!.children.length, 1);
  assert.equal(byClass(root, 'moving-average').length, 0);
  assert.equal(byClass(root, 'best-so-far').length, 0);
  assert.equal(byClass(root, 'best').length, 1);
  // Ticks stay at non-negative child indices even though the axis is padded.
  const xTicks = byClass(root, 'x-tick').map((t) => Number(textContent(t)));
  assert.ok(xTicks.length >= 1 && xTicks.every((t) => t >= 0), xTicks.join());
  // The dot is drawn at 0.42 on the y axis.
  const dot = dots[0]!.children[0] as XmlElement;
  const drawn = yToReward(root)(Number(dot.attrs['cy']));
  assert.ok(Math.abs(drawn - 0.42) < 1e-3, `dot at reward ${drawn}`);
});

test('rewardCurveSvg - 200 points in two series: dots, average and best lines, legend, distinct colours', () => {
  const svg = rewardCurveSvg(twoSeries(), {
    title: 'PPO vs random',
    series: [
      { strategy: 'random', label: 'random search' },
      { strategy: 'ppo', label: 'PPO' },
    ],
  });
  const root = checkSvg(svg);
  const dots = byClass(root, 'dots');
  assert.equal(dots.length, 2);
  assert.deepEqual(dots.map((g) => g.children.length), [100, 100]);
  // Series follow opts.series order and take the palette in that order.
  assert.deepEqual(dots.map((g) => g.attrs['fill']), [SERIES_COLORS[0], SERIES_COLORS[1]]);
  assert.equal(byClass(root, 'moving-average').length, 2);
  assert.equal(byClass(root, 'best-so-far').length, 2);
  const legend = textContent(byClass(root, 'legend')[0]!);
  assert.match(legend, /random search\s+n=100/);
  assert.match(legend, /PPO\s+n=100\s+best 0\.\d{3}/);
  assert.match(legend, /moving average \(20\)/);
  assert.match(legend, /best so far/);
});

test('rewardCurveSvg - best-so-far never decreases and ends at the series maximum', () => {
  const points = twoSeries();
  const root = checkSvg(rewardCurveSvg(points, { series: [{ strategy: 'ppo' }, { strategy: 'random' }] }));
  const toReward = yToReward(root);
  byClass(root, 'best-so-far').forEach((path, i) => {
    const d = path.attrs['d']!;
    // y values: the M's second number and every V.
    const ys = [pathNumbers(d)[1]!, ...[...d.matchAll(/V(-?[\d.]+)/g)].map((m) => Number(m[1]))];
    for (let j = 1; j < ys.length; j++) assert.ok(ys[j]! < ys[j - 1]!, 'a step must go up');
    const strategy = i === 0 ? 'ppo' : 'random';
    const max = Math.max(...points.filter((p) => p.strategy === strategy).map((p) => p.reward));
    assert.ok(Math.abs(toReward(ys[ys.length - 1]!) - max) < 1e-3, `${strategy} ends at ${max}`);
  });
});

test('rewardCurveSvg - the moving average is a trailing mean over the window', () => {
  // Alternating 0.2 / 0.8 with window 2: after the first child the mean is 0.5.
  const points = Array.from({ length: 10 }, (_, i) => ({ child: i, reward: i % 2 === 0 ? 0.2 : 0.8 }));
  const root = checkSvg(rewardCurveSvg(points, { movingAverageWindow: 2 }));
  const toReward = yToReward(root);
  const n = pathNumbers(byClass(root, 'moving-average')[0]!.attrs['d']!);
  const rewards = n.filter((_, i) => i % 2 === 1).map(toReward);
  assert.equal(rewards.length, 10);
  assert.ok(Math.abs(rewards[0]! - 0.2) < 1e-3);
  for (const r of rewards.slice(1)) assert.ok(Math.abs(r - 0.5) < 1e-3, String(r));
  // Window 20 over the same points averages from the start: 0.2, 0.5, 0.4, 0.5, ...
  const wide = checkSvg(rewardCurveSvg(points));
  const w = pathNumbers(byClass(wide, 'moving-average')[0]!.attrs['d']!).filter((_, i) => i % 2 === 1).map(yToReward(wide));
  assert.ok(Math.abs(w[2]! - 0.4) < 1e-3);
});

test('rewardCurveSvg - points are sorted by child within a series and unnamed points form one series', () => {
  const points = [
    { child: 5, reward: 0.5 },
    { child: 1, reward: 0.1 },
    { child: 3, reward: 0.3 },
  ];
  const root = checkSvg(rewardCurveSvg(points, { movingAverageWindow: 1 }));
  const n = pathNumbers(byClass(root, 'moving-average')[0]!.attrs['d']!);
  const xs = n.filter((_, i) => i % 2 === 0);
  assert.deepEqual([...xs].sort((a, b) => a - b), xs);
  assert.match(textContent(byClass(root, 'legend')[0]!), /children\s+n=3/);
});

test('rewardCurveSvg - custom colours and labels are used and escaped', () => {
  const svg = rewardCurveSvg([{ child: 0, reward: 0.5, strategy: 'a<b' }, { child: 1, reward: 0.6, strategy: 'a<b' }], {
    series: [{ strategy: 'a<b', label: 'A & B', color: '#123456' }],
    title: 'x < y',
  });
  const root = checkSvg(svg);
  assert.equal(byClass(root, 'dots')[0]!.attrs['fill'], '#123456');
  assert.match(textContent(byClass(root, 'legend')[0]!), /A & B/);
  assert.ok(svg.includes('x &lt; y'));
});

test('rewardCurveSvg - is deterministic', () => {
  assert.equal(rewardCurveSvg(twoSeries()), rewardCurveSvg(twoSeries()));
});

test('rewardCurveSvg - rejects non-finite points and bad options', () => {
  assert.throws(() => rewardCurveSvg([{ child: 0, reward: 0.5 }, { child: 1, reward: NaN }]), (e: unknown) => {
    assert.ok(e instanceof InvalidRewardPointError);
    assert.equal(e.index, 1);
    assert.match(e.message, /points\[1\]\.reward is NaN/);
    return true;
  });
  assert.throws(() => rewardCurveSvg([{ child: Infinity, reward: 0.5 }]), /points\[0\]\.child is Infinity/);
  assert.throws(() => rewardCurveSvg([], { movingAverageWindow: 0 }), InvalidDrawingOptionError);
  assert.throws(() => rewardCurveSvg([], { movingAverageWindow: 2.5 }), /movingAverageWindow = 2.5/);
  assert.throws(() => rewardCurveSvg([], { width: 10 }), InvalidDrawingOptionError);
});

test('rewardCurveSvg - large and flat inputs stay finite', () => {
  const flat = Array.from({ length: 50 }, (_, i) => ({ child: i, reward: 0.7 }));
  checkSvg(rewardCurveSvg(flat));
  const negative = [{ child: -3, reward: -1 }, { child: 4, reward: 2 }];
  checkSvg(rewardCurveSvg(negative, { width: 240, height: 200 }));
  const many = Array.from({ length: 5000 }, (_, i) => ({ child: i, reward: (i % 97) / 97, strategy: `s${i % 9}` }));
  const root = checkSvg(rewardCurveSvg(many));
  // More series than colours: the palette wraps instead of running out.
  assert.equal(byClass(root, 'dots').length, 9);
  assert.ok(byClass(root, 'dots').every((g) => g.attrs['fill'] !== undefined && g.attrs['fill'] !== 'undefined'));
});
