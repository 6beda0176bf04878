import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import { DropPath, InvalidNetworkOptionError, buildNetwork, dropPathKeepProb } from '../src/index.js';
import { tfc, values } from './support.js';

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;

test('drop path - keep probability matches hand-computed ScheduledDropPath values', () => {
  // keep0 = 0.6 (CIFAR recipe), 20 cells (N = 6: 18 normal + 2 reduction).
  // Last cell, no ramp: 1 - (20/20) * 0.4 = 0.6.
  assert.ok(close(dropPathKeepProb({ keepProb: 0.6, cell: 19, totalCells: 20 }), 0.6));
  // First cell: 1 - (1/20) * 0.4 = 0.98.
  assert.ok(close(dropPathKeepProb({ keepProb: 0.6, cell: 0, totalCells: 20 }), 0.98));
  // Cell 9: 1 - 0.5 * 0.4 = 0.8; a quarter into the ramp: 1 - 0.25 * 0.2 = 0.95.
  assert.ok(close(dropPathKeepProb({ keepProb: 0.6, cell: 9, totalCells: 20, step: 250, totalSteps: 1000 }), 0.95));
  // Past the ramp the per-cell value holds: 0.8.
  assert.ok(close(dropPathKeepProb({ keepProb: 0.6, cell: 9, totalCells: 20, step: 5000, totalSteps: 1000 }), 0.8));
  // At step 0 of a ramp nothing is dropped.
  assert.equal(dropPathKeepProb({ keepProb: 0.6, cell: 19, totalCells: 20, step: 0, totalSteps: 1000 }), 1);
  // ImageNet 4@1056 with keep0 0.7: 16 cells; cell 3 -> 1 - (4/16) * 0.3 = 0.925, half-way -> 0.9625.
  assert.ok(close(dropPathKeepProb({ keepProb: 0.7, cell: 3, totalCells: 16, step: 50, totalSteps: 100 }), 0.9625));
  assert.equal(dropPathKeepProb({ keepProb: 1, cell: 5, totalCells: 20, step: 7, totalSteps: 10 }), 1);
});

test('drop path - out-of-range schedule inputs are rejected', () => {
  const rejects = (field: string, s: Parameters<typeof dropPathKeepProb>[0]) =>
    assert.throws(() => dropPathKeepProb(s), (e: unknown) => e instanceof InvalidNetworkOptionError && e.field === field);
  rejects('keepProb', { keepProb: 0, cell: 0, totalCells: 4 });
  rejects('keepProb', { keepProb: 1.2, cell: 0, totalCells: 4 });
  rejects('cell', { keepProb: 0.5, cell: 4, totalCells: 4 });
  rejects('step', { keepProb: 0.5, cell: 0, totalCells: 4, step: -1 });
});

test('drop path - layer keeps or zeroes whole examples, scaled by 1/keep, seeded per step', async () => {
  // Last cell of 2 with keep0 0.5 and no ramp: keep = 0.5.
  const layer = new DropPath({ name: 'dp', keepProb: 0.5, cell: 1, totalCells: 2, totalSteps: 0, seed: 11 });
  assert.equal(layer.currentKeepProb(), 0.5);
  const x = tfc.ones([16, 2, 2, 3]);
  const y1 = await values(layer.apply(x, { training: true }) as tfc.Tensor);
  const perExample = Array.from({ length: 16 }, (_, i) => y1.slice(i * 12, (i + 1) * 12));
  for (const ex of perExample) {
    assert.ok(ex.every((v) => v === 0) || ex.every((v) => v === 2), `example not uniformly kept/dropped: ${ex}`);
  }
  const kept = perExample.filter((ex) => ex[0] === 2).length;
  assert.ok(kept > 0 && kept < 16, `kept ${kept} of 16`);
  // Inference: identity.
  assert.deepEqual(await values(layer.apply(x, { training: false }) as tfc.Tensor), new Array(192).fill(1));
  // A second draw in the same step differs; a new layer with the same seed replays the first.
  const y2 = await values(layer.apply(x, { training: true }) as tfc.Tensor);
  assert.notDeepEqual(y2, y1);
  const again = new DropPath({ name: 'dp2', keepProb: 0.5, cell: 1, totalCells: 2, totalSteps: 0, seed: 11 });
  assert.deepEqual(await values(again.apply(x, { training: true }) as tfc.Tensor), y1);
  // Masks follow the training step: step 1 differs, returning to step 0 replays it.
  again.setTrainingStep(1);
  const s1 = await values(again.apply(x, { training: true }) as tfc.Tensor);
  assert.notDeepEqual(s1, y1);
  again.setTrainingStep(0);
  assert.deepEqual(await values(again.apply(x, { training: true }) as tfc.Tensor), y1);
});

test('drop path - in a network, training outputs depend on keep and are reproducible; inference is deterministic', async () => {
  const options = { cells: 1, initialFilters: 4, imageSize: 8, numClasses: 5, seed: 21 };
  const a = buildNetwork(NASNET_A, { ...options, dropPathKeepProb: 0.5 });
  const b = buildNetwork(NASNET_A, { ...options, dropPathKeepProb: 0.5 });
  const noDrop = buildNetwork(NASNET_A, { ...options, dropPathKeepProb: 1 });
  const x = tfc.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 3);

  // Inference first (training calls move batch-norm statistics): deterministic,
  // and drop path is inert, so the same seed gives the same outputs whatever keep is.
  const inferA = await values(a.model.predict(x) as tfc.Tensor);
  assert.deepEqual(await values(a.model.predict(x) as tfc.Tensor), inferA);
  assert.deepEqual(await values(noDrop.model.predict(x) as tfc.Tensor), inferA);

  // Training mode: the same seed replays the same masks...
  const trainA = await values(a.model.apply(x, { training: true }) as tfc.Tensor);
  const trainB = await values(b.model.apply(x, { training: true }) as tfc.Tensor);
  assert.deepEqual(trainB, trainA);
  // ...and with keep < 1 they differ from training without drop path (both use batch statistics).
  const trainNoDrop = await values(noDrop.model.apply(x, { training: true }) as tfc.Tensor);
  const maxDiff = Math.max(...trainA.map((v, i) => Math.abs(v - (trainNoDrop[i] as number))));
  assert.ok(maxDiff > 1e-3, `drop path changed nothing (max diff ${maxDiff})`);
  assert.notDeepEqual(trainA, inferA);

  // The ramp: at step 0 of a 100-step schedule nothing is dropped.
  const ramp = buildNetwork(NASNET_A, { ...options, dropPathKeepProb: 0.5, totalSteps: 100 });
  const fresh = buildNetwork(NASNET_A, { ...options, dropPathKeepProb: 1 });
  ramp.setTrainingStep(0);
  const r0 = await values(ramp.model.apply(x, { training: true }) as tfc.Tensor);
  const f0 = await values(fresh.model.apply(x, { training: true }) as tfc.Tensor);
  assert.deepEqual(r0, f0);
  assert.throws(() => ramp.setTrainingStep(-1), InvalidNetworkOptionError);
});
