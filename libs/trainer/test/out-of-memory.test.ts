import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { defaultRecipe, type ChildRecipe } from '@nasnet/search';
import { genotypeHash, NASNET_A } from '@nasnet/search-space';
import { runChildTask } from '../src/index.js';

// Its own process (one test file): a 256 MiB wasm heap, as a trainer with little memory would set.
await initBackend('wasm', { log: () => {}, wasmHeapLimitBytes: 256 * 1024 ** 2 });

const recipe = (over: Partial<ChildRecipe>): ChildRecipe => ({ ...defaultRecipe(), epochs: 1, maxStepsPerEpoch: 2, cells: 1, validationLimit: 64, ...over });
const task = (childId: number, r: ChildRecipe) => ({
  searchId: 'oom', childId, genotype: NASNET_A, hash: genotypeHash(NASNET_A), recipe: r, dataset: 'synthetic', seed: childId, phase: 'search' as const,
});

test('child task - a child that runs out of memory fails with the reason, frees everything, and the next child trains', async () => {
  const before = tf.memory();
  const lines: string[] = [];
  // Batch 512 at F=64 on 8x8 images: the first step needs well over 256 MiB.
  const big = await runChildTask(task(1, recipe({ batchSize: 512, initialFilters: 64 })), { log: (l) => lines.push(l) });
  assert.equal(big.status, 'failed');
  assert.match(big.reason!, /^wasm backend out of memory: a tensor of [0-9.]+ MiB does not fit \(heap [0-9.]+ MiB, limit 256\.0 MiB\)/);
  assert.equal(lines.length, 1, 'the failure is logged with its stack');
  // The failed child's weights, momentum buffers and half a forward pass are all gone.
  assert.equal(tf.memory().numTensors, before.numTensors);
  assert.equal(tf.memory().numBytes, before.numBytes);
  for (let k = 2; k <= 3; k++) {
    const small = await runChildTask(task(k, recipe({ batchSize: 16, initialFilters: 4 })));
    assert.equal(small.status, 'ok', `child ${k} after the out-of-memory one: ${small.reason ?? ''}`);
    assert.ok(small.reward >= 0 && small.validationByEpoch.length === 1);
  }
  assert.equal(tf.memory().numTensors, before.numTensors);
});
