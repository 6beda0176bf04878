/**
 * The memory-saving forward and backward passes the trainer uses
 * (@nasnet/engine applyReleasing and variableGradsReleasing) against
 * tfjs's own (model.apply and tf.variableGrads), on a NASNet network with
 * drop path on, on wasm: the plain releasing pass gives the same gradients
 * to the bit; the cell-checkpointed one (each cell recomputed in the
 * backward pass) the same to float32 rounding, the same drop-path masks,
 * and the moving statistics updated once, not twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyReleasing, initBackend, variableGradsReleasing, type FunctionalModel } from '@nasnet/engine';
import { buildNetwork } from '@nasnet/network';
import { Rng } from '@nasnet/random';
import { NASNET_A } from '@nasnet/search-space';
import { runChildTask, trainChild } from '../src/index.js';
import { syntheticDataset } from '@nasnet/data';
import { defaultRecipe } from '@nasnet/search';

await initBackend('wasm', { log: () => {} });

const cellOf = (name: string): string | undefined => /^(cell\d+)_/.exec(name)?.[1];

interface Run { loss: number; grads: Float32Array[]; moving: Float32Array[] }

/** One loss and gradient computation from freshly built (same-seed) weights. */
function gradientsOf(mode: 'tfjs' | 'releasing' | 'checkpointed'): Run {
  const { model, setTrainingStep } = buildNetwork(NASNET_A, {
    layout: 'cifar', cells: 1, initialFilters: 6, imageSize: 8, channels: 3, numClasses: 4, seed: 11,
    dropPathKeepProb: 0.6, totalSteps: 10,
  });
  try {
    setTrainingStep(5); // drop path on: keep probability below 1 from step 1
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const rng = new Rng(4);
    const result = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from({ length: 4 * 8 * 8 * 3 }, () => rng.normal()), [4, 8, 8, 3]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
      const lossOf = (logits: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      const { value, grads } = mode === 'tfjs'
        ? tf.variableGrads(() => lossOf(model.apply(x, { training: true }) as tf.Tensor), vars)
        : variableGradsReleasing(() => lossOf(applyReleasing(model as unknown as FunctionalModel, [x],
          mode === 'checkpointed' ? { checkpoint: cellOf } : {})[0]!), vars);
      return [value, ...vars.map((v) => grads[v.name]!)];
    });
    const moving = (model.layers as tfl.layers.Layer[]).flatMap((l) => l.nonTrainableWeights.map((w) => w.read().dataSync() as Float32Array));
    const run = { loss: result[0]!.dataSync()[0]!, grads: result.slice(1).map((g) => g.dataSync() as Float32Array), moving };
    tf.dispose(result);
    return run;
  } finally {
    model.dispose();
  }
}

test('releasing forward and backward - the same loss, gradients and moving statistics as model.apply with tf.variableGrads', () => {
  const tensors = tf.memory().numTensors;
  const reference = gradientsOf('tfjs');
  const releasing = gradientsOf('releasing');
  assert.equal(releasing.loss, reference.loss);
  assert.equal(releasing.grads.length, reference.grads.length);
  releasing.grads.forEach((g, i) => assert.deepEqual(Array.from(g), Array.from(reference.grads[i]!), `gradient ${i}`));
  releasing.moving.forEach((m, i) => assert.deepEqual(Array.from(m), Array.from(reference.moving[i]!), `moving statistic ${i}`));
  assert.equal(tf.memory().numTensors, tensors, 'nothing left behind');
});

test('cell checkpointing - gradients agree with the plain pass, same drop-path masks, moving statistics updated once', () => {
  const tensors = tf.memory().numTensors;
  const plain = gradientsOf('releasing');
  const checkpointed = gradientsOf('checkpointed');
  assert.equal(checkpointed.loss, plain.loss, 'the forward pass is the same computation');
  assert.equal(checkpointed.grads.length, plain.grads.length);
  // Float32 rounding only: a cell output's gradient is summed from its consumers in another order.
  const scale = Math.max(...plain.grads.map((g) => Math.max(...Array.from(g, Math.abs))));
  let worst = 0;
  checkpointed.grads.forEach((g, i) => {
    const p = plain.grads[i]!;
    for (let k = 0; k < g.length; k++) worst = Math.max(worst, Math.abs(g[k]! - p[k]!));
  });
  assert.ok(worst <= 1e-5 * Math.max(1, scale), `largest gradient difference ${worst} (largest gradient ${scale})`);
  checkpointed.moving.forEach((m, i) => assert.deepEqual(Array.from(m), Array.from(plain.moving[i]!), `moving statistic ${i}`));
  assert.equal(tf.memory().numTensors, tensors, 'nothing left behind');
});

test('cell checkpointing - trainChild with checkpointCells trains and leaves no tensor behind', async () => {
  const data = syntheticDataset({ seed: 2, height: 8, width: 8, channels: 3, numClasses: 4, trainCount: 64, validationCount: 32 });
  const recipe = { ...defaultRecipe(), epochs: 1, batchSize: 16, initialFilters: 4, cells: 1, dropPathKeepProb: 0.6 };
  const tensors = tf.memory().numTensors;
  const a = await trainChild({ genotype: NASNET_A, recipe, dataset: data, seed: 3, checkpointCells: true });
  const b = await trainChild({ genotype: NASNET_A, recipe, dataset: data, seed: 3 });
  assert.equal(a.status, 'ok');
  assert.equal(a.steps, b.steps);
  assert.ok(Math.abs(a.reward - b.reward) <= 1 / 32 + 1e-9, `rewards ${a.reward} (checkpointed) and ${b.reward} (plain) differ by more than one image`);
  assert.equal(tf.memory().numTensors, tensors);
});

test('cell checkpointing - a child task whose recipe says checkpointCells runs the cells again (the search path)', async () => {
  const recipe = { ...defaultRecipe(), epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, maxStepsPerEpoch: 2, trainLimit: 16, validationLimit: 8 };
  const kernels = async (checkpointCells: boolean): Promise<number> => {
    const info = await tf.profile(async () => {
      const r = await runChildTask({
        searchId: 's', childId: 1, genotype: NASNET_A, hash: 'h', recipe: { ...recipe, checkpointCells },
        dataset: 'synthetic', seed: 5, phase: 'search',
      });
      assert.equal(r.status, 'ok', r.reason);
    });
    return info.kernels.length;
  };
  const plain = await kernels(false), checkpointed = await kernels(true);
  assert.ok(checkpointed > plain, `kernels with checkpointing ${checkpointed}, without ${plain}: the cells must run again`);
});
