import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import {
  CIFAR_AUGMENT, DatasetOptionError, batchCount, batches, channelStats, loadMnist, makeSplit, syntheticDataset,
} from '../src/index.js';
import type { AugmentOptions, ChannelStats, ImageSplit } from '../src/index.js';

const IDENTITY1: ChannelStats = { mean: [0], std: [1] };

/** A 3x3 single-channel image 1..9 and its flipped rows. */
const HAND = makeSplit(1, 3, 3, 1, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), Uint8Array.from([4]));

function randomSplit(seed: number, count: number, h: number, w: number, c: number): ImageSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = i;
  return makeSplit(count, h, w, c, images, labels);
}

/**
 * Reference augmentation, written the slow obvious way: standardise, pad
 * with zeros into a bigger array, crop, flip, cut out. Draws the same
 * random numbers in the same order as the documented contract.
 */
function reference(split: ImageSplit, n: number, stats: ChannelStats, aug: Required<AugmentOptions>, rng: Rng): number[] {
  const { height: h, width: w, channels: c } = split;
  const p = aug.padding;
  const ph = h + 2 * p, pw = w + 2 * p;
  const padded = new Array<number>(ph * pw * c).fill(0);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    padded[((y + p) * pw + (x + p)) * c + k] = (split.images[((n * h + y) * w + x) * c + k]! - stats.mean[k]!) / stats.std[k]!;
  }
  const oy = p > 0 ? rng.int(2 * p + 1) : p;
  const ox = p > 0 ? rng.int(2 * p + 1) : p;
  const flip = aug.flip ? rng.next() < 0.5 : false;
  const out: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    const sx = flip ? w - 1 - x : x;
    out.push(padded[((y + oy) * pw + (sx + ox)) * c + k]!);
  }
  if (aug.cutout > 0) {
    const cy = rng.int(h), cx = rng.int(w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (y >= cy - Math.floor(aug.cutout / 2) && y < cy - Math.floor(aug.cutout / 2) + aug.cutout &&
          x >= cx - Math.floor(aug.cutout / 2) && x < cx - Math.floor(aug.cutout / 2) + aug.cutout) {
        for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = 0;
      }
    }
  }
  return out;
}

test('batches - without augmentation images are standardised in order with their labels', () => {
  const split = randomSplit(1, 10, 4, 3, 2);
  const stats: ChannelStats = { mean: [100, 20], std: [50, 4] };
  const got = [...batches(split, { batchSize: 4, stats })];
  assert.deepEqual(got.map((b) => b.size), [4, 4, 2]);
  assert.deepEqual(got.map((b) => b.shape), [[4, 4, 3, 2], [4, 4, 3, 2], [2, 4, 3, 2]]);
  assert.deepEqual(got.flatMap((b) => [...b.y]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const x = got.flatMap((b) => [...b.x]);
  split.images.forEach((v, i) => {
    const k = i % 2;
    assert.ok(Math.abs(x[i]! - (v - stats.mean[k]!) / stats.std[k]!) < 1e-5, `value ${i}`);
  });
  assert.deepEqual([...batches(split, { batchSize: 4, stats, dropRemainder: true })].map((b) => b.size), [4, 4]);
  assert.equal(batchCount(10, 4), 3);
  assert.equal(batchCount(10, 4, true), 2);
  assert.equal(batchCount(8, 4, true), 2);
});

test('batches - a flip mirrors each row of a hand-made image', () => {
  // Find a seed whose first draw flips, and one whose first draw does not.
  let flipSeed = -1, keepSeed = -1;
  for (let s = 0; flipSeed < 0 || keepSeed < 0; s++) {
    if (new Rng(s).next() < 0.5) { if (flipSeed < 0) flipSeed = s; } else if (keepSeed < 0) keepSeed = s;
  }
  const aug = { padding: 0, flip: true };
  const flipped = [...batches(HAND, { batchSize: 1, stats: IDENTITY1, rng: new Rng(flipSeed), augment: aug })][0]!;
  assert.deepEqual([...flipped.x], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
  assert.deepEqual([...flipped.y], [4]);
  const kept = [...batches(HAND, { batchSize: 1, stats: IDENTITY1, rng: new Rng(keepSeed), augment: aug })][0]!;
  assert.deepEqual([...kept.x], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('batches - a crop shifts the hand-made image and fills the padding with zeros', () => {
  // With padding 1 the offsets are rng.int(3) - 1; find the seed giving (dy, dx) = (+1, -1).
  let seed = 0;
  for (;; seed++) { const r = new Rng(seed); if (r.int(3) === 2 && r.int(3) === 0) break; }
  const b = [...batches(HAND, { batchSize: 1, stats: IDENTITY1, rng: new Rng(seed), augment: { padding: 1, flip: false } })][0]!;
  // out(y, x) = img(y + 1, x - 1): rows 2 and 3 of the image, shifted right; bottom row is padding.
  assert.deepEqual([...b.x], [0, 4, 5, 0, 7, 8, 0, 0, 0]);
});

test('batches - crop, flip and cutout match a slow reference on random images', () => {
  for (const [h, w, c] of [[32, 32, 3], [7, 5, 1], [6, 6, 4]] as const) {
    const split = randomSplit(h * w * c, 12, h, w, c);
    const stats = channelStats(split);
    for (const aug of [CIFAR_AUGMENT, { padding: 2, flip: true, cutout: 3 }, { padding: 0, flip: false, cutout: 16 }, { padding: 4, flip: false, cutout: 0 }]) {
      const full = { ...CIFAR_AUGMENT, ...aug };
      const replay = new Rng(77);
      const order = Array.from({ length: split.count }, (_, i) => i);
      replay.shuffle(order); // same Fisher-Yates draws as batches()
      const expected = order.flatMap((n) => reference(split, n, stats, full, replay));
      const got = [...batches(split, { batchSize: 5, stats, shuffle: true, rng: new Rng(77), augment: aug })];
      assert.deepEqual(got.flatMap((b) => [...b.y]), order, `${h}x${w}x${c} order`);
      const x = got.flatMap((b) => [...b.x]);
      assert.equal(x.length, expected.length);
      for (let i = 0; i < x.length; i++) {
        if (Math.abs(x[i]! - expected[i]!) > 1e-5) assert.fail(`${h}x${w}x${c} ${JSON.stringify(aug)}: value ${i} is ${x[i]}, expected ${expected[i]}`);
      }
    }
  }
});

test('batches - cutout zeroes a square of the standardised image, clipped at the border', () => {
  const split = makeSplit(1, 8, 8, 1, new Uint8Array(64).fill(200), Uint8Array.from([0]));
  for (let seed = 0; seed < 20; seed++) {
    const replay = new Rng(seed);
    const cy = replay.int(8), cx = replay.int(8);
    const b = [...batches(split, { batchSize: 1, stats: IDENTITY1, rng: new Rng(seed), augment: { padding: 0, flip: false, cutout: 4 } })][0]!;
    const rows = Math.min(8, cy + 2) - Math.max(0, cy - 2);
    const cols = Math.min(8, cx + 2) - Math.max(0, cx - 2);
    assert.equal([...b.x].filter((v) => v === 0).length, rows * cols, `seed ${seed} centre (${cy}, ${cx})`);
    assert.equal(b.x[cy * 8 + cx], 0);
  }
});

test('batches - the same rng seed gives the same batches, another seed different ones', () => {
  const split = randomSplit(5, 40, 32, 32, 3);
  const stats = channelStats(split);
  const run = (seed: number) => [...batches(split, { batchSize: 16, stats, shuffle: true, rng: new Rng(seed), augment: { cutout: 16 } })];
  const a = run(11), b = run(11), c = run(12);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((x) => [...x.y]), c.map((x) => [...x.y]));
  assert.notDeepEqual(a[0]!.x, c[0]!.x);
});

test('batches - a shuffled epoch visits every image exactly once', () => {
  const split = randomSplit(6, 103, 2, 2, 1);
  const seen = [...batches(split, { batchSize: 10, stats: IDENTITY1, shuffle: true, rng: new Rng(3) })].flatMap((b) => [...b.y]);
  assert.equal(seen.length, 103);
  assert.deepEqual([...seen].sort((p, q) => p - q), Array.from({ length: 103 }, (_, i) => i));
  assert.notDeepEqual(seen, Array.from({ length: 103 }, (_, i) => i));
});

test('batches - training stats standardise the train split to zero mean and unit std', () => {
  for (const data of [syntheticDataset({ seed: 2, height: 12, width: 12 }), loadMnist({ trainCount: 2000, validationCount: 500 })]) {
    const c = data.channels;
    const sum = new Float64Array(c), sq = new Float64Array(c);
    let pixels = 0;
    for (const b of batches(data.train, { batchSize: 64, stats: data.stats })) {
      for (let i = 0; i < b.x.length; i++) { sum[i % c] += b.x[i]!; sq[i % c] += b.x[i]! ** 2; }
      pixels += b.x.length / c;
    }
    for (let k = 0; k < c; k++) {
      const mean = sum[k]! / pixels;
      const std = Math.sqrt(sq[k]! / pixels - mean * mean);
      assert.ok(Math.abs(mean) < 1e-4, `${data.name} channel ${k} mean ${mean}`);
      assert.ok(Math.abs(std - 1) < 1e-4, `${data.name} channel ${k} std ${std}`);
    }
    // Validation uses the same (training) numbers, so its mean is near, not exactly, zero.
    const v = [...batches(data.validation, { batchSize: 1, stats: data.stats })][0]!;
    const k0 = data.validation.images[0]!;
    assert.ok(Math.abs(v.x[0]! - (k0 - data.stats.mean[0]!) / data.stats.std[0]!) < 1e-5);
  }
});

test('batches - bad options are rejected by name before iteration starts', () => {
  const split = randomSplit(9, 4, 4, 4, 3);
  const stats = channelStats(split);
  const rejects = (option: string, f: () => unknown) =>
    assert.throws(f, (err: unknown) => err instanceof DatasetOptionError && err.option === option, option);
  rejects('batchSize', () => batches(split, { batchSize: 0, stats }));
  rejects('rng', () => batches(split, { batchSize: 2, stats, shuffle: true }));
  rejects('rng', () => batches(split, { batchSize: 2, stats, augment: true }));
  rejects('stats', () => batches(split, { batchSize: 2, stats: IDENTITY1 }));
  rejects('stats', () => batches(split, { batchSize: 2, stats: { mean: [0, 0, 0], std: [1, 0, 1] } }));
  rejects('augment.padding', () => batches(split, { batchSize: 2, stats, rng: new Rng(1), augment: { padding: 5 } }));
  rejects('augment.cutout', () => batches(split, { batchSize: 2, stats, rng: new Rng(1), augment: { cutout: -2 } }));
});
