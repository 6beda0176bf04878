import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { syntheticDataset, type ImageDataset } from '@nasnet/data';
import { defaultRecipe, type ChildRecipe } from '@nasnet/search';
import { NASNET_A, type Genotype } from '@nasnet/search-space';
import { trainChild, cosineLearningRate, runChildTask } from '../src/index.js';

await initBackend('wasm', { log: () => {} });

const data: ImageDataset = syntheticDataset({ seed: 2, height: 8, width: 8, channels: 3, numClasses: 4, trainCount: 256, validationCount: 128 });
const recipe = (over: Partial<ChildRecipe> = {}): ChildRecipe => ({ ...defaultRecipe(), epochs: 2, batchSize: 32, initialFilters: 4, cells: 1, learningRate: 0.05, ...over });
/** A small cell mixing convs, pools and a separable conv. */
const small: Genotype = {
  normal: { blocks: [{ inputs: [0, 1], ops: ['conv3x3', 'avg_pool3x3'], combine: 'add' }, { inputs: [2, 0], ops: ['sep_conv3x3', 'identity'], combine: 'add' }], concat: [1, 3] },
  reduction: { blocks: [{ inputs: [0, 1], ops: ['max_pool3x3', 'conv1x1'], combine: 'add' }, { inputs: [2, 1], ops: ['conv3x3', 'identity'], combine: 'concat' }], concat: [3] },
};

test('cosine schedule - starts at the initial rate, halves midway, ends at the minimum', () => {
  assert.equal(cosineLearningRate(0.1, 0, 100), 0.1);
  assert.ok(Math.abs(cosineLearningRate(0.1, 50, 100) - 0.05) < 1e-12);
  assert.ok(Math.abs(cosineLearningRate(0.1, 100, 100)) < 1e-12);
  assert.ok(Math.abs(cosineLearningRate(0.1, 100, 100, 0.001) - 0.001) < 1e-12);
});

test('trainer - learns the synthetic task, reports every epoch, and is reproducible from the seed', async () => {
  const progress: number[] = [];
  const a = await trainChild({ genotype: small, recipe: recipe(), dataset: data, seed: 7, onProgress: (p) => { if (p.validationAccuracy !== undefined) progress.push(p.validationAccuracy); } });
  const b = await trainChild({ genotype: small, recipe: recipe(), dataset: data, seed: 7 });
  const c = await trainChild({ genotype: small, recipe: recipe(), dataset: data, seed: 8 });
  assert.equal(a.status, 'ok');
  assert.ok(a.reward > 0.5, `validation accuracy ${a.reward} (chance 0.25)`);
  assert.deepEqual(a.validationByEpoch, progress);
  assert.equal(a.validationByEpoch.length, 2);
  assert.deepEqual(a.validationByEpoch, b.validationByEpoch, 'same seed, same training');
  assert.notDeepEqual(a.validationByEpoch.concat(a.reward), c.validationByEpoch.concat(c.reward + 1e-9), 'another seed trains differently');
  assert.ok(a.paramCount > 0 && a.multAdds > 0 && a.imagesPerSec > 0);
});

test('trainer - memory stays flat across epochs and across many children in one process', async () => {
  const data16 = syntheticDataset({ seed: 2, height: 16, width: 16, channels: 3, numClasses: 4, trainCount: 128, validationCount: 64 });
  await trainChild({ genotype: small, recipe: recipe({ epochs: 1 }), dataset: data16, seed: 1 });
  const before = tf.memory();
  const perEpoch: number[] = [];
  for (let k = 0; k < 4; k++) {
    await trainChild({ genotype: k % 2 ? small : NASNET_A, recipe: recipe({ epochs: 3, maxStepsPerEpoch: 2, auxHead: k === 3, dropPathKeepProb: 0.7 }), dataset: data16, seed: k,
      onProgress: (p) => { if (p.validationAccuracy !== undefined) perEpoch.push(tf.memory().numTensors); } });
  }
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors, 'no tensor leaks across children');
  assert.equal(after.numBytes, before.numBytes);
  // Within a child, the tensor count at each epoch end is the same.
  for (let child = 0; child < 4; child++) {
    const e = perEpoch.slice(child * 3, child * 3 + 3);
    assert.ok(e.every((n) => n === e[0]), `child ${child}: tensors per epoch ${e.join(',')}`);
  }
});

test('trainer - a diverging child ends with reward 0 and a reason, not a crash', async () => {
  const before = tf.memory().numTensors;
  const r = await trainChild({ genotype: small, recipe: recipe({ learningRate: 1e30, gradientClipNorm: 0, epochs: 3 }), dataset: data, seed: 3 });
  assert.equal(r.status, 'diverged');
  assert.equal(r.reward, 0);
  assert.match(r.reason!, /loss diverged to (NaN|Infinity|-Infinity) at epoch \d+, step \d+/);
  assert.equal(tf.memory().numTensors, before);
});

test('trainer - cancel stops training promptly and frees everything', async () => {
  const before = tf.memory().numTensors;
  const abort = new AbortController();
  let steps = 0;
  await assert.rejects(
    trainChild({ genotype: small, recipe: recipe({ epochs: 50 }), dataset: data, seed: 3, signal: abort.signal, progressEverySteps: 1,
      onProgress: () => { if (++steps === 3) abort.abort(new Error('user')); } }),
    /training cancelled: user/,
  );
  assert.ok(steps < 10);
  assert.equal(tf.memory().numTensors, before);
});

test('trainer - median early stopping ends a child that falls behind', async () => {
  const r = await trainChild({ genotype: small, recipe: recipe({ epochs: 3 }), dataset: data, seed: 7, earlyStop: { minEpochs: 1, medianByEpoch: [0.99, 0.99, 0.99] } });
  assert.equal(r.status, 'early_stopped');
  assert.equal(r.validationByEpoch.length, 1);
  assert.match(r.reason!, /below the median 0.9900/);
});

test('child task - a bad data set fails the child with the reason', async () => {
  const r = await runChildTask({ searchId: 's', childId: 4, genotype: small, hash: 'h', recipe: recipe(), dataset: 'cifar10:/nonexistent/cifar', seed: 1, phase: 'search' });
  assert.equal(r.status, 'failed');
  assert.match(r.reason!, /\/nonexistent\/cifar/);
});
