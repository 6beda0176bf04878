import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { channelStats } from '@nasnet/data';
import type { ImageSplit } from '@nasnet/data';
import {
  EmptyClassFolderError, ImageDecodeError, ImageFolderMissingError, NoImageClassesError, UnknownImageClassError,
  loadImageFolder, resizeImage,
} from '../src/index.js';
import { classColour, solidJpeg, tempImageFolder } from './jpeg-files.js';

/** Every pixel of image i is within `tol` of its class colour (images are up to 3 levels brighter, JPEG adds a few). */
function assertColoursMatchLabels(split: ImageSplit, tol = 7): void {
  const px = split.height * split.width;
  for (let i = 0; i < split.count; i++) {
    const want = classColour(split.labels[i]!);
    for (let p = 0; p < px; p++) {
      for (let c = 0; c < 3; c++) {
        const got = split.images[(i * px + p) * 3 + c]!;
        assert.ok(Math.abs(got - want[c]!) <= tol, `image ${i} pixel ${p} channel ${c}: ${got}, class colour ${want[c]}`);
      }
    }
  }
}

test('loadImageFolder - decodes, resizes and labels one sub-folder per class, holding out a seeded share', async () => {
  const f = tempImageFolder();
  try {
    f.write({ classes: { cat: 5, ant: 5, bee: 5 } });
    writeFileSync(join(f.root, 'cat', 'notes.txt'), 'not an image');
    const d = await loadImageFolder(f.root, { imageSize: 16, validationFraction: 0.2, seed: 1 });
    assert.deepEqual(d.classNames, ['ant', 'bee', 'cat']);
    assert.deepEqual([d.name, d.height, d.width, d.channels, d.numClasses], ['imagefolder', 16, 16, 3, 3]);
    assert.equal(d.train.count, 12);
    assert.equal(d.validation.count, 3);
    assert.equal(d.test, undefined);
    assert.equal(d.train.images.length, 12 * 16 * 16 * 3);
    for (const split of [d.train, d.validation]) {
      const perClass = [0, 0, 0];
      for (const l of split.labels) perClass[l]!++;
      assert.deepEqual(perClass, split === d.train ? [4, 4, 4] : [1, 1, 1]);
      assertColoursMatchLabels(split);
    }
    assert.deepEqual(d.stats, channelStats(d.train));
    // The same seed holds out the same images; the split is a function of the seed.
    const again = await loadImageFolder(f.root, { imageSize: 16, validationFraction: 0.2, seed: 1 });
    assert.deepEqual(again.validation.images, d.validation.images);
    const seeds = await Promise.all([2, 3, 4, 5].map((seed) => loadImageFolder(f.root, { imageSize: 8, validationFraction: 0.4, seed, maxPerClass: 4 })));
    const picks = new Set(seeds.map((s) => Buffer.from(s.validation.images).toString('hex')));
    assert.ok(picks.size > 1, 'different seeds hold out different images');
    assert.equal(seeds[0]!.train.count + seeds[0]!.validation.count, 12, 'maxPerClass caps every class');
  } finally {
    f.cleanup();
  }
});

test('loadImageFolder - train/ with val/ gives a test split; val may lack classes, not add them', async () => {
  const f = tempImageFolder();
  try {
    f.write({ sub: 'train', classes: { a: 3, b: 3 } });
    f.write({ sub: 'val', classes: { a: 2, b: 1 } });
    const d = await loadImageFolder(f.root, { imageSize: 8, validationFraction: 0 });
    assert.deepEqual(d.classNames, ['a', 'b']);
    assert.equal(d.train.count, 6);
    assert.equal(d.validation.count, 0);
    assert.equal(d.test?.count, 3);
    assert.deepEqual(Array.from(d.test!.labels), [0, 0, 1]);
    assertColoursMatchLabels(d.test!);
    mkdirSync(join(f.root, 'val', 'zebra'));
    writeFileSync(join(f.root, 'val', 'zebra', 'z.jpg'), solidJpeg(8, 8, [0, 0, 0]));
    await assert.rejects(loadImageFolder(f.root, { imageSize: 8 }), (err: unknown) => {
      assert.ok(err instanceof UnknownImageClassError);
      assert.equal(err.path, join(f.root, 'val', 'zebra'));
      return true;
    });
  } finally {
    f.cleanup();
  }
});

test('loadImageFolder - errors name the folder or file: missing, no classes, empty class, corrupt and truncated JPEG', async () => {
  const f = tempImageFolder();
  try {
    const missing = join(f.root, 'nope');
    await assert.rejects(loadImageFolder(missing), (e: unknown) => e instanceof ImageFolderMissingError && e.path === missing && /does not exist/.test(e.message));
    await assert.rejects(loadImageFolder(f.root), (e: unknown) => e instanceof NoImageClassesError && e.message.includes(f.root));
    f.write({ classes: { good: 2 } });
    mkdirSync(join(f.root, 'hollow'));
    writeFileSync(join(f.root, 'hollow', 'readme.md'), 'x');
    await assert.rejects(loadImageFolder(f.root), (e: unknown) => e instanceof EmptyClassFolderError && e.path === join(f.root, 'hollow'));
    writeFileSync(join(f.root, 'hollow', 'bad.jpg'), new Uint8Array([1, 2, 3, 4, 5, 6]));
    const bad = join(f.root, 'hollow', 'bad.jpg');
    await assert.rejects(loadImageFolder(f.root, { imageSize: 8 }), (e: unknown) => e instanceof ImageDecodeError && e.file === bad && e.message.includes(bad));
    const whole = solidJpeg(16, 16, [1, 2, 3]);
    writeFileSync(bad, whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(loadImageFolder(f.root, { imageSize: 8 }), (e: unknown) => e instanceof ImageDecodeError && e.file === bad);
    await assert.rejects(loadImageFolder(f.root, { validationFraction: 1 }), /validationFraction/);
  } finally {
    f.cleanup();
  }
});

test('resizeImage - area-averages when shrinking, matches tfjs bilinear (half-pixel centres) when growing, crops the centre square', async () => {
  // 4x4 single-channel ramp -> 2x2: each output is the mean of a 2x2 block.
  const ramp = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
  assert.deepEqual(Array.from(resizeImage(ramp, 4, 4, 1, 2)), [25, 45, 105, 125]);
  // 3 -> 2 along each axis: fractional overlaps (1, 0.5 | 0.5, 1) / 1.5.
  const three = Uint8Array.of(0, 30, 60, 90, 120, 150, 180, 210, 240);
  assert.deepEqual(Array.from(resizeImage(three, 3, 3, 1, 2)), [40, 80, 160, 200]);
  // Growing: compare with tf.image.resizeBilinear on the cpu backend.
  await tf.setBackend('cpu');
  const small = Uint8Array.from({ length: 3 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const ours = resizeImage(small, 3, 3, 3, 7);
  const ref = tf.image.resizeBilinear(tf.tensor4d(Float32Array.from(small), [1, 3, 3, 3]), [7, 7], false, true);
  const want = Array.from(await ref.data()).map((v) => Math.round(v));
  assert.deepEqual(Array.from(ours), want);
  // 'center' keeps the middle square of a 2x4 image; 'stretch' resamples all of it.
  const wide = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  assert.deepEqual(Array.from(resizeImage(wide, 2, 4, 1, 2, 'center')), [2, 3, 6, 7]);
  assert.deepEqual(Array.from(resizeImage(wide, 2, 4, 1, 2, 'stretch')), [2, 4, 6, 8]);
});
