import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { NASNET_A } from '@nasnet/search-space';
import { BatchNorm, buildNetwork, planNetwork } from '../src/index.js';
import { tfc } from './support.js';

function maxDiff(a: tfc.Tensor, b: tfc.Tensor): number {
  return tfc.tidy(() => tfc.max(tfc.abs(tfc.sub(a, b))).dataSync()[0] as number);
}

/** Ours and the stock layer, built on the same input shape with the same (non-default) gamma and beta. */
function pair(channels: number, momentum: number, epsilon: number) {
  const ours = new BatchNorm({ name: 'ours', momentum, epsilon });
  const stock = tfl.layers.batchNormalization({ name: 'stock', axis: -1, momentum, epsilon });
  const shape = [null, 5, 5, channels];
  ours.build(shape);
  stock.build(shape);
  const gamma = tfc.randomNormal([channels], 1, 0.3, 'float32', 11);
  const beta = tfc.randomNormal([channels], 0, 0.3, 'float32', 12);
  for (const layer of [ours, stock]) {
    const [, , mean, variance] = layer.getWeights();
    layer.setWeights([gamma, beta, mean as tfc.Tensor, variance as tfc.Tensor]);
  }
  return { ours, stock };
}

test('batch norm - training and inference match tfjs-layers BatchNormalization, moving averages included', () => {
  const { ours, stock } = pair(3, 0.9, 1e-5);
  for (let step = 0; step < 3; step++) {
    const x = tfc.randomNormal([4, 5, 5, 3], step, 2, 'float32', 20 + step);
    const a = ours.apply(x, { training: true }) as tfc.Tensor;
    const b = stock.apply(x, { training: true }) as tfc.Tensor;
    assert.ok(maxDiff(a, b) < 1e-5, `training output, step ${step}: ${maxDiff(a, b)}`);
  }
  // Three updates towards the batch statistics moved the averages away from their 0 / 1 start.
  const [, , mean, variance] = ours.getWeights() as tfc.Tensor[];
  const [, , stockMean, stockVariance] = stock.getWeights() as tfc.Tensor[];
  assert.ok(maxDiff(mean!, stockMean!) < 1e-5 && maxDiff(variance!, stockVariance!) < 1e-4);
  assert.ok(maxDiff(mean!, tfc.zerosLike(mean!)) > 0.1, 'moving mean was not updated');
  const x = tfc.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 30);
  const inference = ours.apply(x) as tfc.Tensor;
  assert.ok(maxDiff(inference, stock.apply(x) as tfc.Tensor) < 1e-5);
  // Inference normalises with the moving statistics, not the batch's.
  assert.ok(maxDiff(inference, ours.apply(x, { training: true }) as tfc.Tensor) > 1e-2);
});

test('batch norm - gradients in x, gamma and beta match the stock layer', () => {
  const { ours, stock } = pair(4, 0.9, 1e-3);
  const x = tfc.randomNormal([3, 5, 5, 4], 1, 2, 'float32', 40);
  const w = tfc.randomNormal([3, 5, 5, 4], 0, 1, 'float32', 41);
  const grads = (layer: tfl.layers.Layer) => {
    const vars = layer.trainableWeights.map((v) => v.read() as tfc.Variable);
    const f = (t: tfc.Tensor) => tfc.sum(tfc.mul(layer.apply(t, { training: true }) as tfc.Tensor, w)) as tfc.Scalar;
    const dx = tfc.grad(f)(x);
    const { grads: g } = tfc.variableGrads(() => f(x), vars);
    return [dx, ...vars.map((v) => g[v.name] as tfc.Tensor)];
  };
  const a = grads(ours);
  const b = grads(stock);
  assert.equal(a.length, 3);
  a.forEach((g, i) => assert.ok(maxDiff(g, b[i] as tfc.Tensor) < 1e-4, `gradient ${i}: ${maxDiff(g, b[i] as tfc.Tensor)}`));
});

test('batch norm - weights are named and ordered as the stock layer\'s; only gamma and beta train', () => {
  const { ours, stock } = pair(2, 0.9, 1e-5);
  const suffix = (l: tfl.layers.Layer) => l.weights.map((v) => v.name.replace(/^.*\//, '').replace(/_\d+$/, ''));
  assert.deepEqual(suffix(ours), ['gamma', 'beta', 'moving_mean', 'moving_variance']);
  assert.deepEqual(suffix(ours), suffix(stock));
  assert.deepEqual(ours.trainableWeights.map((v) => v.name.replace(/^.*\//, '').replace(/_\d+$/, '')), ['gamma', 'beta']);
});

test('batch norm - the builder uses it everywhere the plan has batch_norm, and it survives JSON', async () => {
  const options = { cells: 1, initialFilters: 4, imageSize: 8, numClasses: 3 };
  const plan = planNetwork(NASNET_A, options);
  const { model } = buildNetwork(NASNET_A, { ...options, seed: 2, batchNormMomentum: 0.8, batchNormEpsilon: 2e-3 });
  const bn = model.layers.filter((l) => l instanceof BatchNorm) as BatchNorm[];
  assert.equal(bn.length, plan.layers.filter((l) => l.spec.kind === 'batch_norm').length);
  assert.ok(bn.length > 10);
  const json = JSON.parse(JSON.stringify(model.toJSON(null, false))) as tfc.serialization.ConfigDict;
  const restored = await tfl.models.modelFromJSON({ modelTopology: json });
  const again = restored.layers.filter((l) => l instanceof BatchNorm) as BatchNorm[];
  assert.equal(again.length, bn.length);
  assert.ok(again.every((l) => l.momentum === 0.8 && l.epsilon === 2e-3));
});
