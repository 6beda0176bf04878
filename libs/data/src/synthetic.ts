import { Rng, deriveSeed } from '@nasnet/random';
import { channelStats, emptySplit, intOption, makeSplit } from './dataset.js';
import type { ImageDataset, ImageSplit } from './dataset.js';
import { DatasetOptionError } from './errors.js';

export interface SyntheticOptions {
  /** Everything below is a function of this seed. */
  seed: number;
  /** @default 8 */
  height?: number;
  /** @default 8 */
  width?: number;
  /** @default 3 */
  channels?: number;
  /** @default 10 */
  numClasses?: number;
  /** @default 512 */
  trainCount?: number;
  /** @default 128 */
  validationCount?: number;
  /** 0 leaves `test` undefined. @default 0 */
  testCount?: number;
  /** Standard deviation of the per-pixel Gaussian noise, in pixel units (0..255). @default 40 */
  noise?: number;
  /** Each template is a grid x grid mosaic of flat blocks per channel. @default 4 */
  grid?: number;
}

export function defaultSyntheticOptions(seed: number): Required<SyntheticOptions> {
  return { seed, height: 8, width: 8, channels: 3, numClasses: 10, trainCount: 512, validationCount: 128, testCount: 0, noise: 40, grid: 4 };
}

/**
 * A seeded, learnable image data set for tests: each class has a template,
 * a coarse mosaic of random intensities per channel (coarse so that pooling
 * and small shifts keep it recognisable), and each image is its class's
 * template plus Gaussian noise, clipped to 0..255. Labels are balanced
 * (image i of a split gets class i mod numClasses before the split is
 * shuffled). Templates and each split draw from their own stream derived
 * from `seed`, so changing one split's size leaves the others unchanged.
 */
export function syntheticDataset(options: SyntheticOptions): ImageDataset {
  const o = { ...defaultSyntheticOptions(options.seed), ...stripUndefined(options) };
  const height = intOption('height', o.height, 8, 1);
  const width = intOption('width', o.width, 8, 1);
  const channels = intOption('channels', o.channels, 3, 1);
  const numClasses = intOption('numClasses', o.numClasses, 10, 2);
  if (numClasses > 256) throw new DatasetOptionError('numClasses', `must be at most 256 (labels are bytes), got ${numClasses}`);
  const grid = intOption('grid', o.grid, 4, 1);
  const trainCount = intOption('trainCount', o.trainCount, 512, 1);
  const validationCount = intOption('validationCount', o.validationCount, 128);
  const testCount = intOption('testCount', o.testCount, 0);
  if (!(o.noise >= 0) || !Number.isFinite(o.noise)) throw new DatasetOptionError('noise', `must be a finite number >= 0, got ${o.noise}`);
  if (!Number.isFinite(o.seed)) throw new DatasetOptionError('seed', `must be a finite number, got ${o.seed}`);

  const size = height * width * channels;
  const templates = new Float32Array(numClasses * size);
  const tRng = new Rng(deriveSeed(o.seed, 'synthetic', 'templates'));
  const cells = new Float32Array(grid * grid * channels);
  for (let k = 0; k < numClasses; k++) {
    // Intensities in [32, 224): room for the noise on both sides before clipping.
    for (let i = 0; i < cells.length; i++) cells[i] = tRng.uniform(32, 224);
    for (let y = 0; y < height; y++) {
      const gy = Math.min(grid - 1, Math.floor((y * grid) / height));
      for (let x = 0; x < width; x++) {
        const gx = Math.min(grid - 1, Math.floor((x * grid) / width));
        for (let c = 0; c < channels; c++) {
          templates[k * size + (y * width + x) * channels + c] = cells[(gy * grid + gx) * channels + c]!;
        }
      }
    }
  }

  const make = (label: string, count: number): ImageSplit => {
    if (count === 0) return emptySplit(height, width, channels);
    const rng = new Rng(deriveSeed(o.seed, 'synthetic', label));
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) labels[i] = i % numClasses;
    for (let i = count - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = labels[i]!; labels[i] = labels[j]!; labels[j] = t;
    }
    const images = new Uint8Array(count * size);
    for (let n = 0; n < count; n++) {
      const t = labels[n]! * size;
      for (let i = 0; i < size; i++) {
        const v = Math.round(templates[t + i]! + o.noise * rng.normal());
        images[n * size + i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
    return makeSplit(count, height, width, channels, images, labels);
  };

  const train = make('train', trainCount);
  return {
    name: 'synthetic',
    height, width, channels, numClasses,
    train,
    validation: make('validation', validationCount),
    ...(testCount > 0 ? { test: make('test', testCount) } : {}),
    stats: channelStats(train),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
