import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { loadDataset } from '@nasnet/data';
import { defaultRecipe } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { trainChild } from '../src/index.js';

test('trainer - a small child reaches >= 96% validation accuracy on the built-in MNIST in two epochs (wasm)', async (t) => {
  await initBackend('wasm', { log: () => {} });
  const dataset = await loadDataset('mnist'); // 8,000 train / 2,000 validation real digits
  const child: Genotype = {
    normal: { blocks: [{ inputs: [0, 1], ops: ['conv3x3', 'avg_pool3x3'], combine: 'add' }, { inputs: [2, 0], ops: ['sep_conv3x3', 'identity'], combine: 'add' }], concat: [1, 3] },
    reduction: { blocks: [{ inputs: [0, 1], ops: ['max_pool3x3', 'conv1x1'], combine: 'add' }, { inputs: [2, 1], ops: ['conv3x3', 'identity'], combine: 'concat' }], concat: [3] },
  };
  const before = tf.memory().numTensors;
  const r = await trainChild({
    genotype: child, dataset, seed: 3,
    recipe: { ...defaultRecipe(), epochs: 2, batchSize: 32, initialFilters: 12, cells: 1, learningRate: 0.1 },
  });
  t.diagnostic(`validation accuracy ${r.validationByEpoch.join(', ')}; ${r.imagesPerSec.toFixed(0)} images/s; ${r.paramCount} parameters`);
  assert.equal(r.status, 'ok');
  assert.equal(r.validationByEpoch.length, 2);
  // 96%, not 97%: two epochs end within half a point of 97% (0.972 with one summation order of the
  // filter-gradient sums, 0.9665 with the fixed-group order of kernels/parallel.ts), while a trainer
  // that is broken lands far below (an untrained child: ~10%).
  assert.ok(r.reward >= 0.96, `validation accuracy ${r.reward}`);
  assert.equal(tf.memory().numTensors, before);
});
