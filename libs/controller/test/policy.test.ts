import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { validateGenotype, genotypeToDecisions } from '@nasnet/search-space';
import { LstmPolicy } from '../src/index.js';

test('policy - samples 50 legal decisions that decode to a valid genotype', () => {
  const policy = new LstmPolicy({ seed: 3 });
  const rng = new Rng(9);
  for (let k = 0; k < 20; k++) {
    const s = policy.sample(rng);
    assert.equal(s.decisions.length, 50);
    validateGenotype(s.genotype);
    assert.deepEqual(genotypeToDecisions(s.genotype), s.decisions);
    assert.ok(s.logProb < 0 && Number.isFinite(s.logProb));
    assert.ok(s.entropy > 0);
  }
});

test('policy - weights start in U(-0.1, 0.1) with 100 units and are seeded', () => {
  const a = new LstmPolicy({ seed: 1 }), b = new LstmPolicy({ seed: 1 }), c = new LstmPolicy({ seed: 2 });
  const wa = a.getWeights().flat();
  assert.ok(wa.every((w) => w >= -0.1 && w < 0.1));
  assert.deepEqual(wa, b.getWeights().flat());
  assert.notDeepEqual(wa, c.getWeights().flat());
  assert.equal(a.options.hiddenUnits, 100);
  // lstm.w is 4H x (E + H) = 400 x 200
  assert.equal(a.parameters()[4]!.length, 400 * 200);
});

test('policy - evaluate reproduces the sampled log-probability and entropy', () => {
  const policy = new LstmPolicy({ seed: 5 });
  const s = policy.sample(new Rng(1));
  const t = policy.evaluate(s.decisions);
  assert.ok(Math.abs(t.logProb - s.logProb) < 1e-12);
  assert.ok(Math.abs(t.entropy - s.entropy) < 1e-12);
  assert.throws(() => policy.evaluate(s.decisions.slice(0, 10)), /expects 50 decisions/);
  const bad = s.decisions.slice(); bad[0] = 7;
  assert.throws(() => policy.evaluate(bad), /decision 0 \(normal block 0 input1\) is 7/);
});

test('policy - backward matches central finite differences (float64, |err| < 1e-8 + 1e-5 x scale)', () => {
  const policy = new LstmPolicy({ seed: 11, hiddenUnits: 6, numBlocks: 2, initRange: 0.5 });
  const s = policy.sample(new Rng(2));
  const dLogProb = 0.7, dEntropy = -0.3;
  const objective = () => { const t = policy.evaluate(s.decisions); return dLogProb * t.logProb + dEntropy * t.entropy; };
  const grads = policy.zeroGradients();
  policy.backward(policy.evaluate(s.decisions), dLogProb, dEntropy, grads);
  const params = policy.parameters();
  const rng = new Rng(4);
  let checked = 0;
  for (let k = 0; k < params.length; k++) {
    for (let trial = 0; trial < 6; trial++) {
      const i = rng.int(params[k]!.length);
      const old = params[k]![i]!;
      const eps = 1e-5;
      params[k]![i] = old + eps; const up = objective();
      params[k]![i] = old - eps; const down = objective();
      params[k]![i] = old;
      const numeric = (up - down) / (2 * eps);
      const analytic = grads[k]![i]!;
      // eps = 1e-5 in float64: truncation ~eps^2, round-off ~1e-16 * |f| / eps, both far below 1e-8.
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic));
      assert.ok(Math.abs(numeric - analytic) < 1e-8 + 1e-5 * scale,
        `param ${k}[${i}]: analytic ${analytic} vs numeric ${numeric}`);
      checked++;
    }
  }
  assert.equal(checked, params.length * 6);
});
