import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DatasetOptionError, MNIST_COUNT, loadMnist } from '../src/index.js';
import type { ImageSplit } from '../src/index.js';

function hashes(split: ImageSplit): string[] {
  const size = split.height * split.width * split.channels;
  const out: string[] = [];
  for (let n = 0; n < split.count; n++) {
    out.push(createHash('sha1').update(split.images.subarray(n * size, (n + 1) * size)).update(String(split.labels[n])).digest('hex'));
  }
  return out;
}

test('mnist - the package\'s 10,000 digits load with every label 0..9 and sane pixels', (t) => {
  const start = performance.now();
  const data = loadMnist({ trainCount: 6000, validationCount: 2000, testCount: 2000 });
  t.diagnostic(`first load ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(MNIST_COUNT, 10_000);
  assert.equal(data.name, 'mnist');
  assert.deepEqual([data.height, data.width, data.channels, data.numClasses], [28, 28, 1, 10]);
  assert.equal(data.train.count + data.validation.count + data.test!.count, 10_000);
  for (const split of [data.train, data.validation, data.test!]) {
    const counts = new Array(10).fill(0);
    for (const l of split.labels) counts[l]++;
    assert.ok(counts.every((c) => c > 100), `labels per class ${counts}`);
    let min = 255, max = 0, sum = 0;
    for (const v of split.images) { if (v < min) min = v; if (v > max) max = v; sum += v; }
    assert.equal(min, 0);
    assert.equal(max, 255);
    // MNIST's mean intensity is about 0.13 of full scale (33 of 255): mostly black background.
    const mean = sum / split.images.length;
    assert.ok(mean > 25 && mean < 45, `mean pixel ${mean}`);
  }
  // A digit has ink in its centre and a blank border row.
  const first = data.train.images.subarray(0, 784);
  assert.ok(first.subarray(0, 28).every((v) => v === 0), 'top row is background');
  assert.ok(first.some((v) => v > 200), 'some ink');
});

test('mnist - the split is deterministic per seed, disjoint and covers every digit once', (t) => {
  const a = loadMnist({ trainCount: 8000, validationCount: 2000 });
  const start = performance.now();
  const b = loadMnist({ trainCount: 8000, validationCount: 2000 });
  t.diagnostic(`cached load ${(performance.now() - start).toFixed(1)} ms`);
  assert.deepEqual(a.train.images, b.train.images);
  assert.deepEqual(a.validation.labels, b.validation.labels);
  const c = loadMnist({ seed: 7 });
  assert.equal(c.train.count, 8000);
  assert.equal(c.validation.count, 2000);
  assert.equal(c.test, undefined);
  assert.notDeepEqual(c.train.labels, a.train.labels);
  // Same multiset of digits, dealt differently.
  const all = (d: typeof a) => [...hashes(d.train), ...hashes(d.validation)].sort();
  assert.deepEqual(all(a), all(c));
  const trainA = new Set(hashes(a.train));
  const overlap = hashes(a.validation).filter((h) => trainA.has(h)).length;
  assert.ok(overlap <= 5, `validation shares ${overlap} digits with train (only exact duplicates in MNIST may)`);
});

test('mnist - padTo32 centres each digit in a 32x32 zero frame', () => {
  const plain = loadMnist({ trainCount: 50, validationCount: 10 });
  const padded = loadMnist({ trainCount: 50, validationCount: 10, padTo32: true });
  assert.deepEqual([padded.height, padded.width, padded.train.height, padded.validation.width], [32, 32, 32, 32]);
  assert.equal(padded.train.images.length, 50 * 1024);
  assert.deepEqual(padded.train.labels, plain.train.labels);
  for (let n = 0; n < 50; n++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const expected = inside ? plain.train.images[n * 784 + (y - 2) * 28 + (x - 2)] : 0;
        if (padded.train.images[n * 1024 + y * 32 + x] !== expected) assert.fail(`digit ${n} (${y}, ${x})`);
      }
    }
  }
});

test('mnist - sizes beyond the 10,000 digits are rejected', () => {
  assert.throws(() => loadMnist({ trainCount: 9000, validationCount: 1001 }), (err: unknown) =>
    err instanceof DatasetOptionError && /10001 exceeds the 10000 digits/.test(err.message));
  assert.throws(() => loadMnist({ trainCount: 0 }), DatasetOptionError);
});
