import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetOptionError, syntheticDataset } from '../src/index.js';
import type { ImageDataset } from '../src/index.js';

test('synthetic - the same seed gives the same bytes, another seed different ones', () => {
  const a = syntheticDataset({ seed: 3 });
  const b = syntheticDataset({ seed: 3 });
  const c = syntheticDataset({ seed: 4 });
  assert.deepEqual(a.train.images, b.train.images);
  assert.deepEqual(a.validation.labels, b.validation.labels);
  assert.deepEqual(a.stats, b.stats);
  assert.notDeepEqual(a.train.images, c.train.images);
});

test('synthetic - shapes, counts and balanced labels follow the options', () => {
  const d = syntheticDataset({ seed: 1, height: 6, width: 5, channels: 2, numClasses: 4, trainCount: 40, validationCount: 12, testCount: 8 });
  assert.deepEqual([d.height, d.width, d.channels, d.numClasses], [6, 5, 2, 4]);
  assert.equal(d.train.images.length, 40 * 6 * 5 * 2);
  assert.deepEqual([d.train.count, d.validation.count, d.test!.count], [40, 12, 8]);
  const counts = [0, 0, 0, 0];
  for (const l of d.train.labels) counts[l]!++;
  assert.deepEqual(counts, [10, 10, 10, 10]);
  assert.equal(syntheticDataset({ seed: 1 }).test, undefined);
});

test('synthetic - a split keeps its images when another split changes size', () => {
  const a = syntheticDataset({ seed: 9, trainCount: 100 });
  const b = syntheticDataset({ seed: 9, trainCount: 300 });
  assert.deepEqual(a.validation.images, b.validation.images);
  assert.notEqual(a.train.count, b.train.count);
});

/** Accuracy on validation of the nearest class mean, computed from train. */
function nearestMeanAccuracy(d: ImageDataset): number {
  const size = d.height * d.width * d.channels;
  const means = new Float64Array(d.numClasses * size);
  const counts = new Float64Array(d.numClasses);
  for (let n = 0; n < d.train.count; n++) {
    const k = d.train.labels[n]!;
    counts[k]++;
    for (let i = 0; i < size; i++) means[k * size + i] += d.train.images[n * size + i]!;
  }
  for (let k = 0; k < d.numClasses; k++) for (let i = 0; i < size; i++) means[k * size + i] /= counts[k]!;
  let right = 0;
  for (let n = 0; n < d.validation.count; n++) {
    let best = -1, bestDist = Infinity;
    for (let k = 0; k < d.numClasses; k++) {
      let dist = 0;
      for (let i = 0; i < size; i++) { const e = d.validation.images[n * size + i]! - means[k * size + i]!; dist += e * e; }
      if (dist < bestDist) { bestDist = dist; best = k; }
    }
    if (best === d.validation.labels[n]) right++;
  }
  return right / d.validation.count;
}

test('synthetic - classes are learnable: a nearest-mean classifier is far above chance', () => {
  for (const seed of [1, 2, 3]) {
    const acc = nearestMeanAccuracy(syntheticDataset({ seed }));
    assert.ok(acc > 0.9, `seed ${seed}: accuracy ${acc} (chance 0.1)`);
  }
  // The noise makes single pixels unreliable: a pure-noise set is not learnable.
  const noise = syntheticDataset({ seed: 1, noise: 2000 });
  assert.ok(nearestMeanAccuracy(noise) < 0.5);
});

test('synthetic - invalid options are rejected by name', () => {
  assert.throws(() => syntheticDataset({ seed: 1, numClasses: 1 }), (err: unknown) => err instanceof DatasetOptionError && err.option === 'numClasses');
  assert.throws(() => syntheticDataset({ seed: 1, numClasses: 300 }), DatasetOptionError);
  assert.throws(() => syntheticDataset({ seed: 1, height: 0 }), (err: unknown) => err instanceof DatasetOptionError && err.option === 'height');
  assert.throws(() => syntheticDataset({ seed: 1, noise: -1 }), (err: unknown) => err instanceof DatasetOptionError && err.option === 'noise');
  assert.throws(() => syntheticDataset({ seed: Number.NaN }), (err: unknown) => err instanceof DatasetOptionError && err.option === 'seed');
});
