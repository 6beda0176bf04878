/**
 * Custom tfjs layers the NASNet builder needs, each registered with
 * tf.serialization so a saved model loads back:
 * - DropPath: ScheduledDropPath with seeded, per-step reproducible masks;
 * - SeededDropout: dropout whose masks are seeded the same way (the stock
 *   layer with a fixed seed would draw the same mask on every step);
 * - SamePaddingAvgPool2d: 'same' average pooling that averages only real
 *   pixels in the forward pass AND the gradient (tfjs 4.22's cpu AvgPoolGrad
 *   divides border windows by k*k while the forward divides by the count of
 *   real pixels, so stock gradients are wrong at the borders);
 * - DilatedConv2d: a dilated conv written with space-to-batch (tfjs-core
 *   4.22 has no gradient for conv2d with dilation > 1).
 */
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { deriveSeed } from '@nasnet/random';
import { dropPathKeepProb } from './drop-path.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = { [key: string]: unknown };
type ShapeArg = tfl.Shape | tfl.Shape[];

function oneTensor(inputs: tfc.Tensor | tfc.Tensor[]): tfc.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`expected exactly one input tensor, got ${inputs.length}`);
    return inputs[0] as tfc.Tensor;
  }
  return inputs;
}

function oneShape(shape: ShapeArg): tfl.Shape {
  return Array.isArray(shape[0]) || shape[0] === undefined ? ((shape as tfl.Shape[])[0] as tfl.Shape) : (shape as tfl.Shape);
}

/**
 * Seeds for random masks: one per (training step, draw within the step), so
 * a run resumed at step s draws the same masks as the original run did.
 */
class MaskSeeds {
  private step = 0;
  private draws = 0;

  constructor(private readonly seed: number) {}

  setStep(step: number): void {
    if (step !== this.step) {
      this.step = step;
      this.draws = 0;
    }
  }

  currentStep(): number {
    return this.step;
  }

  next(): number {
    return deriveSeed(this.seed, 'mask', this.step, this.draws++);
  }
}

/** Something whose random masks follow the training step. */
export interface StepAware {
  setTrainingStep(step: number): void;
}

export function isStepAware(layer: unknown): layer is StepAware {
  return typeof (layer as Partial<StepAware>).setTrainingStep === 'function';
}

export interface DropPathArgs extends LayerArgs {
  /** keep0 of ScheduledDropPath. */
  keepProb: number;
  /** Cell number (counting stem and reduction cells). */
  cell: number;
  totalCells: number;
  /** Steps of the linear ramp; <= 0: no ramp. */
  totalSteps: number;
  seed: number;
}

/**
 * ScheduledDropPath on one op output (paper section 4.1, reference
 * nasnet_utils.drop_path): in training, each example's whole tensor is kept
 * with probability keep (dropPathKeepProb) and divided by keep, or zeroed.
 * At inference it is the identity.
 */
export class DropPath extends tfl.layers.Layer implements StepAware {
  static className = 'NasnetDropPath';
  readonly keepProb: number;
  readonly cell: number;
  readonly totalCells: number;
  readonly totalSteps: number;
  readonly seed: number;
  private readonly seeds: MaskSeeds;

  constructor(args: DropPathArgs) {
    super(args);
    this.keepProb = args.keepProb;
    this.cell = args.cell;
    this.totalCells = args.totalCells;
    this.totalSteps = args.totalSteps;
    this.seed = args.seed;
    this.seeds = new MaskSeeds(args.seed);
    // Fail at build time, not in the middle of training.
    this.currentKeepProb();
  }

  setTrainingStep(step: number): void {
    this.seeds.setStep(step);
  }

  /** The keep probability at the current training step. */
  currentKeepProb(): number {
    return dropPathKeepProb({
      keepProb: this.keepProb,
      cell: this.cell,
      totalCells: this.totalCells,
      step: this.seeds.currentStep(),
      totalSteps: this.totalSteps,
    });
  }

  override computeOutputShape(inputShape: ShapeArg): ShapeArg {
    return inputShape;
  }

  override call(inputs: tfc.Tensor | tfc.Tensor[], kwargs: Kwargs): tfc.Tensor {
    const x = oneTensor(inputs);
    const keep = this.currentKeepProb();
    if (kwargs['training'] !== true || keep >= 1) return x;
    const seed = this.seeds.next();
    return tfc.tidy(() => {
      const maskShape = [x.shape[0] as number, ...x.shape.slice(1).map(() => 1)];
      // floor(keep + U[0,1)) is 1 with probability keep (reference drop_path).
      const mask = tfc.floor(tfc.add(tfc.randomUniform(maskShape, 0, 1, 'float32', seed), keep));
      return tfc.mul(x, tfc.div(mask, keep));
    });
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      keepProb: this.keepProb,
      cell: this.cell,
      totalCells: this.totalCells,
      totalSteps: this.totalSteps,
      seed: this.seed,
    };
  }
}

export interface SeededDropoutArgs extends LayerArgs {
  rate: number;
  seed: number;
}

/** Inverted dropout (training only) with masks seeded per training step and draw. */
export class SeededDropout extends tfl.layers.Layer implements StepAware {
  static className = 'NasnetSeededDropout';
  readonly rate: number;
  readonly seed: number;
  private readonly seeds: MaskSeeds;

  constructor(args: SeededDropoutArgs) {
    super(args);
    this.rate = args.rate;
    this.seed = args.seed;
    this.seeds = new MaskSeeds(args.seed);
  }

  setTrainingStep(step: number): void {
    this.seeds.setStep(step);
  }

  override computeOutputShape(inputShape: ShapeArg): ShapeArg {
    return inputShape;
  }

  override call(inputs: tfc.Tensor | tfc.Tensor[], kwargs: Kwargs): tfc.Tensor {
    const x = oneTensor(inputs);
    if (kwargs['training'] !== true || this.rate <= 0) return x;
    const seed = this.seeds.next();
    const keep = 1 - this.rate;
    return tfc.tidy(() => {
      const mask = tfc.floor(tfc.add(tfc.randomUniform(x.shape, 0, 1, 'float32', seed), keep));
      return tfc.mul(x, tfc.div(mask, keep));
    });
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}

export interface SamePaddingAvgPool2dArgs extends LayerArgs {
  poolSize: number;
  strides: number;
}

/** TensorFlow's 'same' padding split: total padding and the amount before. */
function samePadding(size: number, kernel: number, stride: number): { out: number; before: number; after: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/**
 * k x k average pool with 'same' padding whose border windows average only
 * the real pixels (TensorFlow semantics). Computed as a 'valid' pool over a
 * zero-padded input times a constant k*k / count map, so the gradient is the
 * exact one.
 */
export class SamePaddingAvgPool2d extends tfl.layers.Layer {
  static className = 'NasnetSamePaddingAvgPool2d';
  readonly poolSize: number;
  readonly strides: number;

  constructor(args: SamePaddingAvgPool2dArgs) {
    super(args);
    this.poolSize = args.poolSize;
    this.strides = args.strides;
  }

  override computeOutputShape(inputShape: ShapeArg): ShapeArg {
    const [n, h, w, c] = oneShape(inputShape);
    const out = (s: number | null): number | null => (s === null || s === undefined ? null : Math.ceil(s / this.strides));
    return [n ?? null, out(h ?? null), out(w ?? null), c ?? null];
  }

  override call(inputs: tfc.Tensor | tfc.Tensor[]): tfc.Tensor {
    const x = oneTensor(inputs) as tfc.Tensor4D;
    const [, h, w] = x.shape;
    const k = this.poolSize;
    const s = this.strides;
    const ph = samePadding(h, k, s);
    const pw = samePadding(w, k, s);
    const scale = new Float32Array(ph.out * pw.out);
    const covered = (i: number, size: number, before: number): number => {
      const start = i * s - before;
      return Math.min(start + k, size) - Math.max(start, 0);
    };
    for (let i = 0; i < ph.out; i++) {
      for (let j = 0; j < pw.out; j++) {
        scale[i * pw.out + j] = (k * k) / (covered(i, h, ph.before) * covered(j, w, pw.before));
      }
    }
    return tfc.tidy(() => {
      const padded = tfc.pad(x, [
        [0, 0],
        [ph.before, ph.after],
        [pw.before, pw.after],
        [0, 0],
      ]);
      const pooled = tfc.avgPool(padded, k, s, 'valid');
      return tfc.mul(pooled, tfc.tensor4d(scale, [1, ph.out, pw.out, 1]));
    });
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return { ...super.getConfig(), poolSize: this.poolSize, strides: this.strides };
  }
}

export interface DilatedConv2dArgs extends LayerArgs {
  filters: number;
  kernelSize: number;
  rate: number;
  /** Seed of the kernel initializer. */
  seed: number;
}

/**
 * k x k conv with dilation `rate`, stride 1, 'same' padding, no bias.
 * Written as space-to-batch -> plain 'valid' conv -> batch-to-space (the way
 * TensorFlow runs atrous convs), which tfjs can differentiate.
 */
export class DilatedConv2d extends tfl.layers.Layer {
  static className = 'NasnetDilatedConv2d';
  readonly filters: number;
  readonly kernelSize: number;
  readonly rate: number;
  readonly seed: number;
  private kernel: tfl.LayerVariable | null = null;

  constructor(args: DilatedConv2dArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.rate = args.rate;
    this.seed = args.seed;
  }

  override build(inputShape: ShapeArg): void {
    const channels = oneShape(inputShape)[3];
    if (typeof channels !== 'number') throw new Error(`layer ${this.name}: the channel axis of the input must be known`);
    this.kernel = this.addWeight(
      'kernel',
      [this.kernelSize, this.kernelSize, channels, this.filters],
      'float32',
      convInitializer(this.seed),
      undefined,
      true,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: ShapeArg): ShapeArg {
    const [n, h, w] = oneShape(inputShape);
    return [n ?? null, h ?? null, w ?? null, this.filters];
  }

  override call(inputs: tfc.Tensor | tfc.Tensor[]): tfc.Tensor {
    const x = oneTensor(inputs) as tfc.Tensor4D;
    const kernel = (this.kernel as tfl.LayerVariable).read() as tfc.Tensor4D;
    const r = this.rate;
    const [, h, w] = x.shape;
    const total = (this.kernelSize - 1) * r;
    const before = Math.floor(total / 2);
    const after = total - before;
    // Extra zeros at the end so each padded axis divides by the rate; cropped again after.
    const extraH = (r - ((h + total) % r)) % r;
    const extraW = (r - ((w + total) % r)) % r;
    return tfc.tidy(() => {
      const batched = tfc.spaceToBatchND(x, [r, r], [
        [before, after + extraH],
        [before, after + extraW],
      ]);
      const y = tfc.conv2d(batched as tfc.Tensor4D, kernel, 1, 'valid');
      return tfc.batchToSpaceND(y, [r, r], [
        [0, extraH],
        [0, extraW],
      ]);
    });
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, rate: this.rate, seed: this.seed };
  }
}

/**
 * Conv kernel initializer: variance scaling 2.0 over fan-out, truncated
 * normal (reference nasnet_*_arg_scope: variance_scaling_initializer(mode='FAN_OUT')).
 */
export function convInitializer(seed: number): ReturnType<typeof tfl.initializers.varianceScaling> {
  return tfl.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed });
}

tfc.serialization.registerClass(DropPath);
tfc.serialization.registerClass(SeededDropout);
tfc.serialization.registerClass(SamePaddingAvgPool2d);
tfc.serialization.registerClass(DilatedConv2d);
