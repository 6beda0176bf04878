import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { validateGenotype, genotypeToDecisions } from '@nasnet/search-space';
import { LstmPolicy, StaleTraceError } from '../src/index.js';
import { createArena } from '../src/arena.js';

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
  assert.ok(wa.every((w) => w >= -0.1 && w <= 0.1));
  assert.deepEqual(wa, b.getWeights().flat());
  assert.notDeepEqual(wa, c.getWeights().flat());
  assert.equal(a.options.hiddenUnits, 100);
  assert.equal(a.options.precision, 'float32');
  // lstm.w is 4H x (E + H) = 400 x 200
  assert.equal(a.parameters()[4]!.length, 400 * 200);
});

test('policy - a batch evaluates each sequence exactly as sampling scored it, in any batch and order', () => {
  for (const precision of ['float32', 'float64'] as const) {
    const policy = new LstmPolicy({ seed: 5, precision });
    const rng = new Rng(1);
    const samples = Array.from({ length: 7 }, () => policy.sample(rng));
    const t = policy.evaluate(samples.map((s) => s.decisions));
    samples.forEach((s, k) => {
      assert.equal(t.logProb[k], s.logProb, `${precision} sequence ${k}`);
      assert.equal(t.entropy[k], s.entropy, `${precision} sequence ${k}`);
    });
    const reversed = policy.evaluate(samples.map((s) => s.decisions).reverse());
    assert.deepEqual([...reversed.logProb].reverse(), t.logProb);
  }
  const policy = new LstmPolicy({ seed: 5 });
  const s = policy.sample(new Rng(1));
  assert.throws(() => policy.evaluate([s.decisions.slice(0, 10)]), /expects 50 decisions, sequence 0 has 10/);
  const bad = s.decisions.slice(); bad[0] = 7;
  assert.throws(() => policy.evaluate([s.decisions, bad]), /sequence 1: decision 0 \(normal block 0 input1\) is 7/);
  assert.throws(() => policy.evaluate([]), /at least one decision sequence/);
});

test('policy - samples, weights and updates are reproducible from the seed in float32', () => {
  const run = () => {
    const policy = new LstmPolicy({ seed: 8, hiddenUnits: 20 });
    const rng = new Rng(3);
    const samples = Array.from({ length: 5 }, () => policy.sample(rng).decisions);
    const trace = policy.evaluate(samples);
    policy.zeroGradients();
    policy.backward(trace, [0.1, -0.2, 0.3, 0, 0.5], -0.01);
    return { samples, grads: policy.gradients().map((g) => Array.from(g)) };
  };
  assert.deepEqual(run(), run());
});

/** The given parameter entries where the analytic gradient and central differences disagree beyond the tolerance. */
function gradientMismatches(
  policy: LstmPolicy, batch: number[][], dLogProb: number[], dEntropy: number[], analytic: Float64Array[],
  entries: Array<[number, number]>,
): string[] {
  const objective = () => {
    const t = policy.evaluate(batch);
    return t.logProb.reduce((s, lp, k) => s + dLogProb[k]! * lp + dEntropy[k]! * t.entropy[k]!, 0);
  };
  const params = policy.parameters();
  const bad: string[] = [];
  for (const [k, i] of entries) {
    const old = params[k]![i]!;
    const eps = 1e-5;
    params[k]![i] = old + eps; const up = objective();
    params[k]![i] = old - eps; const down = objective();
    params[k]![i] = old;
    const numeric = (up - down) / (2 * eps);
    const a = analytic[k]![i]!;
    // eps = 1e-5 in float64: truncation ~eps^2, round-off ~1e-16 * |f| / eps, both far below 1e-8.
    const scale = Math.max(Math.abs(numeric), Math.abs(a));
    if (!(Math.abs(numeric - a) < 1e-8 + 1e-5 * scale)) bad.push(`param ${k}[${i}]: analytic ${a} vs numeric ${numeric}`);
  }
  return bad;
}

test('policy - batched backward matches central finite differences (float64, |err| < 1e-8 + 1e-5 x scale)', () => {
  const policy = new LstmPolicy({ seed: 11, hiddenUnits: 6, numBlocks: 2, initRange: 0.5, precision: 'float64' });
  const rng = new Rng(2);
  const batch = Array.from({ length: 3 }, () => policy.sample(rng).decisions);
  const dLogProb = [0.7, -0.4, 0], dEntropy = [-0.3, 0.2, 0.5];
  policy.zeroGradients();
  policy.backward(policy.evaluate(batch), dLogProb, dEntropy);
  const analytic = policy.gradients().map((g) => Float64Array.from(g));
  const pick = new Rng(4);
  const entries: Array<[number, number]> = [];
  for (let k = 0; k < analytic.length; k++) for (let trial = 0; trial < 8; trial++) entries.push([k, pick.int(analytic[k]!.length)]);
  assert.deepEqual(gradientMismatches(policy, batch, dLogProb, dEntropy, analytic, entries), []);

  // The check has teeth: an entry of the recurrent weights' gradient off by 2% is reported.
  const i = analytic[4]!.findIndex((x, j) => j % 12 >= 6 && Math.abs(x) > 1e-3);
  const broken = analytic.map((g) => g.slice());
  broken[4]![i] = broken[4]![i]! * 1.02;
  assert.equal(gradientMismatches(policy, batch, dLogProb, dEntropy, broken, [[4, i]]).length, 1);
});

test('policy - float32 gradients match the float64 reference to float32 accuracy', () => {
  const f32 = new LstmPolicy({ seed: 21, hiddenUnits: 10, numBlocks: 3, initRange: 0.4 });
  const f64 = new LstmPolicy({ seed: 0, hiddenUnits: 10, numBlocks: 3, precision: 'float64' });
  f64.setWeights(f32.getWeights()); // float32 values are exact in float64: the same function
  const rng = new Rng(6);
  const batch = Array.from({ length: 6 }, () => f32.sample(rng).decisions);
  const dLogProb = [0.5, -1, 0.25, 0, 2, -0.3], dEntropy = dLogProb.map((_, k) => -0.01 * (k + 1));
  const grads = [f32, f64].map((p) => {
    const t = p.evaluate(batch);
    p.zeroGradients();
    p.backward(t, dLogProb, dEntropy);
    return { t, g: p.gradients().map((g) => Float64Array.from(g)) };
  });
  const [a, b] = grads as [typeof grads[0], typeof grads[0]];
  a.t.logProb.forEach((lp, k) => assert.ok(Math.abs(lp - b.t.logProb[k]!) < 1e-4 * Math.abs(b.t.logProb[k]!), `logProb ${k}`));
  for (let k = 0; k < a.g.length; k++) {
    const ref = b.g[k]!, got = a.g[k]!;
    const rms = Math.sqrt(ref.reduce((s, x) => s + x * x, 0) / ref.length);
    // float32 carries ~7 digits; 50 steps of backpropagation lose a few: 1e-3 of the array's rms per entry
    // still fails a wrong term (errors of order the gradient itself).
    for (let i = 0; i < ref.length; i++) {
      assert.ok(Math.abs(got[i]! - ref[i]!) <= 1e-3 * rms + 1e-9, `param ${k}[${i}]: float32 ${got[i]} vs float64 ${ref[i]} (rms ${rms})`);
    }
  }
});

test('policy - backward refuses a trace whose activations a later pass overwrote', () => {
  const policy = new LstmPolicy({ seed: 1, hiddenUnits: 8 });
  const rng = new Rng(1);
  const trace = policy.evaluate([policy.sample(rng).decisions]);
  policy.sample(rng);
  assert.throws(() => policy.backward(trace, 1, 0), (e: unknown) => e instanceof StaleTraceError && /call backward before the next sample or evaluate/.test(e.message));
  const fresh = policy.evaluate([policy.sample(rng).decisions, policy.sample(rng).decisions]);
  assert.throws(() => policy.backward(fresh, [1], 0), /dLogProb has 1 values for a batch of 2/);
});

test('policy - wasm float32 matrix product is bit-exact against a float32 reference, tails and transposes included', () => {
  const arena = createArena('float32', 1 << 16);
  const d = arena.data;
  const shapes: Array<[number, number, number, boolean]> = [[20, 40, 10, false], [7, 13, 5, true], [1, 9, 30, false], [9, 3, 17, true], [5, 8, 1, false]];
  const rng = new Rng(12);
  for (const [M, N, K, transposed] of shapes) {
    for (const accumulate of [false, true]) {
      const A = 0, B = 20_000, C = 40_000;
      for (let i = 0; i < 60_000; i++) d[i] = rng.uniform(-1, 1);
      const sAm = transposed ? 1 : K + 2, sAk = transposed ? M + 1 : 1, ldb = N + 3, ldc = N + 5;
      const expect: number[] = [];
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = accumulate ? d[C + m * ldc + n]! : 0;
          for (let k = 0; k < K; k++) s = Math.fround(s + Math.fround(d[A + m * sAm + k * sAk]! * d[B + k * ldb + n]!));
          expect.push(s);
        }
      }
      arena.gemm(C, A, B, M, N, K, sAm, sAk, ldb, ldc, accumulate);
      const got: number[] = [];
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) got.push(d[C + m * ldc + n]!);
      assert.deepEqual(got, expect, `${M}x${N}x${K} transposed=${transposed} accumulate=${accumulate}`);
    }
  }
});
