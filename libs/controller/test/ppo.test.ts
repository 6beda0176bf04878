import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Genotype } from '@nasnet/search-space';
import { PpoStrategy, RandomStrategy, createStrategy, type SearchStrategy } from '../src/index.js';

/**
 * A synthetic objective with a known optimum: reward grows with the number of
 * 3x3 separable convolutions, add-combines and blocks reading the cell inputs.
 * Uniform sampling averages about 0.31; the optimum is 1.
 */
function syntheticReward(g: Genotype): number {
  let sep = 0, add = 0, direct = 0;
  for (const cell of [g.normal, g.reduction]) {
    for (const b of cell.blocks) {
      sep += b.ops.filter((o) => o === 'sep_conv3x3').length;
      add += b.combine === 'add' ? 1 : 0;
      direct += b.inputs.filter((i) => i < 2).length;
    }
  }
  return 0.5 * (sep / 20) + 0.2 * (add / 10) + 0.3 * (direct / 20);
}

function run(strategy: SearchStrategy, n: number): number[] {
  const rewards: number[] = [];
  for (let k = 0; k < n; k++) {
    const c = strategy.propose();
    const r = syntheticReward(c.genotype);
    rewards.push(r);
    strategy.observe(c, r);
  }
  return rewards;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

test('ppo - beats random search on a synthetic objective over 5 seeds (last 100 of 1,000)', () => {
  // Paper settings (lr 0.00035, entropy 1e-5, baseline 0.95, 20 per update), clip 0.2, 4 epochs;
  // the LSTM has 32 units instead of 100 so the test runs in seconds rather than minutes in CI.
  const gains: number[] = [];
  for (const seed of [1, 2, 3, 4, 5]) {
    const ppo = mean(run(new PpoStrategy({ seed, policy: { hiddenUnits: 32 } }), 1000).slice(-100));
    const rnd = mean(run(new RandomStrategy({ seed }), 1000).slice(-100));
    gains.push(ppo - rnd);
    assert.ok(ppo > rnd + 0.05, `seed ${seed}: ppo ${ppo.toFixed(3)} vs random ${rnd.toFixed(3)}`);
  }
  assert.ok(mean(gains) > 0.08, `mean gain ${mean(gains).toFixed(3)}`);
});

test('ppo - updates once per 20 rewards with the EMA baseline', () => {
  const ppo = new PpoStrategy({ seed: 7, policy: { hiddenUnits: 16 } });
  const updates = [];
  let baseline: number | undefined;
  for (let k = 0; k < 40; k++) {
    const c = ppo.propose();
    const r = syntheticReward(c.genotype);
    baseline = baseline === undefined ? r : 0.95 * baseline + 0.05 * r;
    const u = ppo.observe(c, r);
    if (u) updates.push({ k, u });
  }
  assert.deepEqual(updates.map((x) => x.k), [19, 39]);
  assert.ok(Math.abs(updates[1]!.u.baseline - baseline!) < 1e-12);
  assert.equal(updates[1]!.u.update, 2);
});

test('ppo - exported state resumes exactly', () => {
  for (const name of ['ppo', 'random', 'evolution'] as const) {
    const a = createStrategy({ strategy: name, seed: 3, ppo: { policy: { hiddenUnits: 16 } } });
    run(a, 30);
    const saved = JSON.parse(JSON.stringify(a.exportState()));
    const b = createStrategy({ strategy: name, seed: 99, ppo: { policy: { hiddenUnits: 16 } } });
    b.importState(saved);
    const ra = run(a, 45), rb = run(b, 45);
    assert.deepEqual(ra, rb, name);
    assert.deepEqual(a.exportState(), b.exportState(), name);
  }
});

test('ppo - refuses foreign state and bad rewards', () => {
  const ppo = new PpoStrategy({ seed: 1 });
  assert.throws(() => ppo.importState({ name: 'random' }), /cannot load a 'random' state into the ppo strategy/);
  const c = ppo.propose();
  assert.throws(() => ppo.observe(c, Number.NaN), /non-finite reward/);
  assert.throws(() => ppo.observe({ genotype: c.genotype }, 0.5), /needs the decisions/);
});

test('ppo - state packs weights and Adam moments exactly and still loads a state of plain numbers', () => {
  const a = new PpoStrategy({ seed: 4, policy: { hiddenUnits: 12 } });
  run(a, 25);
  const packed = JSON.parse(JSON.stringify(a.exportState()));
  assert.equal(packed.weights.dtype, 'float32');
  assert.equal(packed.optimizer.m.dtype, 'float64');
  // The same state with every array written out as JSON numbers, as states were before packing.
  const plain = {
    ...packed,
    weights: a.policy.getWeights(),
    optimizer: { ...packed.optimizer, ...Object.fromEntries((['m', 'v'] as const).map((k) => [k, packed.optimizer[k].base64.map((s: string) => {
      const b = Buffer.from(s, 'base64');
      return Array.from(new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    })])) },
  };
  assert.ok(JSON.stringify(packed).length * 2 < JSON.stringify(plain).length, 'packing at least halves the state');
  const fromPacked = new PpoStrategy({ seed: 0, policy: { hiddenUnits: 12 } });
  const fromPlain = new PpoStrategy({ seed: 0, policy: { hiddenUnits: 12 } });
  fromPacked.importState(packed);
  fromPlain.importState(plain);
  const expected = run(a, 30);
  assert.deepEqual(run(fromPacked, 30), expected);
  assert.deepEqual(run(fromPlain, 30), expected);
  assert.deepEqual(fromPacked.exportState(), a.exportState());
  assert.deepEqual(fromPlain.exportState(), a.exportState());
});
