import type { Rng } from '@nasnet/random';
import type { ChannelStats, ImageSplit } from './dataset.js';
import { DatasetOptionError } from './errors.js';

export interface AugmentOptions {
  /**
   * Random crop after zero padding by this many pixels on every side
   * (NASNet CIFAR recipe: 4). 0 turns cropping off.
   * @default 4
   */
  padding?: number;
  /** Random horizontal flip with probability 1/2. @default true */
  flip?: boolean;
  /**
   * Side of a square cutout patch (DeVries & Taylor 2017: 16 for CIFAR-10,
   * used by the paper's final CIFAR models); 0 turns it off.
   * @default 0
   */
  cutout?: number;
}

/** The paper's CIFAR augmentation for the search: 4-pixel pad + random crop, random flip. */
export const CIFAR_AUGMENT: Readonly<Required<AugmentOptions>> = Object.freeze({ padding: 4, flip: true, cutout: 0 });
/** Cutout patch side for CIFAR-10 (DeVries & Taylor 2017), for the final-training recipe. */
export const CIFAR10_CUTOUT_SIZE = 16;

export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** Per-channel mean/std of the TRAINING split (`dataset.stats`), used for every split. */
  stats: ChannelStats;
  /** Visit the images in an order drawn from `rng`. @default false */
  shuffle?: boolean;
  /** Source of all randomness; required when shuffling or augmenting. */
  rng?: Rng;
  /** `true` = CIFAR_AUGMENT; an object overrides its fields. @default false */
  augment?: boolean | AugmentOptions;
  /** Skip a last batch smaller than `batchSize`. @default false */
  dropRemainder?: boolean;
}

export interface Batch {
  /** size x height x width x channels, standardised with the given stats. */
  x: Float32Array;
  y: Int32Array;
  /** Images in this batch (the last one may be smaller unless dropRemainder). */
  size: number;
  /** [size, height, width, channels]. */
  shape: [number, number, number, number];
}

/** Number of batches `batches()` yields for a split of `count` images. */
export function batchCount(count: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * Iterates a split in batches of standardised float32 NHWC images.
 *
 * Augmentation, per image and in this order of random draws: vertical then
 * horizontal crop offset (each uniform in [-padding, padding]), flip (one
 * draw), cutout centre row then column (uniform over the image). Padding and
 * cutout write 0 AFTER standardisation, i.e. the training mean colour: the
 * ENAS reference pipeline (melodyguan/enas) likewise standardises, then
 * pads with zeros, and DeVries & Taylor's cutout zeroes the normalised
 * tensor. The shuffle order is drawn when iteration starts; everything comes
 * from `rng`, so the same rng state gives the same batches.
 */
export function batches(split: ImageSplit, options: BatchOptions): IterableIterator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new DatasetOptionError('batchSize', `must be an integer >= 1, got ${batchSize}`);
  const aug = normaliseAugment(options.augment);
  const shuffle = options.shuffle ?? false;
  const rng = options.rng;
  if ((shuffle || aug) && !rng) throw new DatasetOptionError('rng', `is required when ${shuffle ? 'shuffle' : 'augment'} is on`);
  if (aug) {
    if (aug.padding > Math.min(split.height, split.width)) {
      throw new DatasetOptionError('augment.padding', `must be at most the image size ${Math.min(split.height, split.width)}, got ${aug.padding}`);
    }
  }
  const lut = lookupTable(options.stats, split.channels);
  return generate(split, batchSize, options.dropRemainder ?? false, shuffle, rng, aug, lut);
}

function* generate(
  split: ImageSplit, batchSize: number, dropRemainder: boolean, shuffle: boolean,
  rng: Rng | undefined, aug: Required<AugmentOptions> | undefined, lut: Float32Array,
): Generator<Batch> {
  const { count, height: h, width: w, channels: c, images, labels } = split;
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (shuffle) {
    for (let i = count - 1; i > 0; i--) {
      const j = rng!.int(i + 1);
      const t = order[i]!; order[i] = order[j]!; order[j] = t;
    }
  }
  const imageSize = h * w * c;
  const span = aug ? 2 * aug.padding + 1 : 1;
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    if (size < batchSize && dropRemainder) return;
    const x = new Float32Array(size * imageSize);
    const y = new Int32Array(size);
    for (let b = 0; b < size; b++) {
      const n = order[start + b]!;
      y[b] = labels[n]!;
      let dy = 0, dx = 0, flip = false;
      if (aug) {
        if (aug.padding > 0) { dy = rng!.int(span) - aug.padding; dx = rng!.int(span) - aug.padding; }
        if (aug.flip) flip = rng!.next() < 0.5;
      }
      copyImage(images, n * imageSize, x, b * imageSize, h, w, c, lut, dy, dx, flip);
      if (aug && aug.cutout > 0) cutout(x, b * imageSize, h, w, c, aug.cutout, rng!.int(h), rng!.int(w));
    }
    yield { x, y, size, shape: [size, h, w, c] };
  }
}

/**
 * out(y, x) = standardise(img(y + dy, x' + dx)) with x' = x, or W-1-x when
 * flipped; pixels that fall outside the image stay 0. Loops run over the
 * in-range part of each row only, with the source pointer stepping by +-C.
 */
function copyImage(
  src: Uint8Array, srcBase: number, out: Float32Array, outBase: number,
  h: number, w: number, c: number, lut: Float32Array, dy: number, dx: number, flip: boolean,
): void {
  const rowLen = w * c;
  // Output columns whose source column lies in [0, w).
  const x0 = flip ? Math.max(0, dx) : Math.max(0, -dx);
  const x1 = flip ? Math.min(w, w + dx) : Math.min(w, w - dx);
  if (x1 <= x0) return;
  const sx0 = flip ? w - 1 - x0 + dx : x0 + dx;
  const step = flip ? -c : c;
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= h) continue;
    let s = srcBase + sy * rowLen + sx0 * c;
    let o = outBase + y * rowLen + x0 * c;
    const end = outBase + y * rowLen + x1 * c;
    if (c === 3) {
      for (; o < end; o += 3, s += step) {
        out[o] = lut[src[s]!]!;
        out[o + 1] = lut[256 + src[s + 1]!]!;
        out[o + 2] = lut[512 + src[s + 2]!]!;
      }
    } else if (c === 1) {
      for (; o < end; o++, s += step) out[o] = lut[src[s]!]!;
    } else {
      for (; o < end; o += c, s += step) {
        for (let k = 0; k < c; k++) out[o + k] = lut[k * 256 + src[s + k]!]!;
      }
    }
  }
}

/** Zeroes a size x size square centred at (cy, cx), clipped to the image (DeVries & Taylor 2017). */
function cutout(out: Float32Array, base: number, h: number, w: number, c: number, size: number, cy: number, cx: number): void {
  const y0 = Math.max(0, cy - (size >> 1)), y1 = Math.min(h, cy - (size >> 1) + size);
  const x0 = Math.max(0, cx - (size >> 1)), x1 = Math.min(w, cx - (size >> 1) + size);
  if (x1 <= x0) return;
  for (let y = y0; y < y1; y++) out.fill(0, base + (y * w + x0) * c, base + (y * w + x1) * c);
}

/** (v - mean[k]) / std[k] for every byte v and channel k: one table lookup per pixel. */
function lookupTable(stats: ChannelStats, channels: number): Float32Array {
  if (stats.mean.length !== channels || stats.std.length !== channels) {
    throw new DatasetOptionError('stats', `must have ${channels} means and stds (one per channel), got ${stats.mean.length} and ${stats.std.length}`);
  }
  const lut = new Float32Array(256 * channels);
  for (let k = 0; k < channels; k++) {
    const m = stats.mean[k]!, s = stats.std[k]!;
    if (!Number.isFinite(m) || !(s > 0) || !Number.isFinite(s)) {
      throw new DatasetOptionError('stats', `channel ${k} needs a finite mean and a positive std, got ${m} and ${s}`);
    }
    for (let v = 0; v < 256; v++) lut[k * 256 + v] = (v - m) / s;
  }
  return lut;
}

function normaliseAugment(augment: boolean | AugmentOptions | undefined): Required<AugmentOptions> | undefined {
  if (!augment) return undefined;
  const a = augment === true ? CIFAR_AUGMENT : { ...CIFAR_AUGMENT, ...Object.fromEntries(Object.entries(augment).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(a.padding) || a.padding < 0) throw new DatasetOptionError('augment.padding', `must be an integer >= 0, got ${a.padding}`);
  if (!Number.isInteger(a.cutout) || a.cutout < 0) throw new DatasetOptionError('augment.cutout', `must be an integer >= 0, got ${a.cutout}`);
  if (typeof a.flip !== 'boolean') throw new DatasetOptionError('augment.flip', `must be a boolean, got ${String(a.flip)}`);
  return a;
}
