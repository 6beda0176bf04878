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
 *   4.22 has no gradient for conv2d with dilation > 1);
 * - BatchNorm: batch normalisation over the channel axis whose training
 *   pass is @nasnet/engine's batchNormTraining (one fused kernel each way on
 *   wasm, where tfjs-layers' BatchNormalization runs ~20 small kernels and
 *   their gradients per call).
 */
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { MASK_SEED_LOG, RECOMPUTING, WASM_TRAINING_KERNELS, batchNormTraining, movingAverages } from '@nasnet/engine';
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
    // A checkpointed forward pass (@nasnet/engine applyReleasing) runs a cell twice, the second time
    // to recompute it for the backward pass: the mask must be the one the first run drew.
    const replay = kwargs[MASK_SEED_LOG] as Map<string, number> | undefined;
    let seed = replay?.get(this.name);
    if (seed === undefined) {
      seed = this.seeds.next();
      replay?.set(this.name, seed);
    }
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

/** Our wasm AvgPoolGrad kernel (from @nasnet/engine): it divides by the real pixels of each window. */
const VALID_TAPS_AVG_POOL_GRAD = WASM_TRAINING_KERNELS.find((k) => k.kernelName === tfc.AvgPoolGrad)?.kernelFunc;

/**
 * Whether tfc.avgPool with 'same' padding is exact both ways on the active
 * backend: every tfjs backend's forward averages the real pixels only, but
 * only TensorFlow's AvgPoolGrad and our wasm kernel divide the gradient the
 * same way (see @nasnet/engine's AvgPool gradient).
 */
function exactSameAvgPool(): boolean {
  const backend = tfc.getBackend();
  if (backend === 'tensorflow') return true;
  const kernel = tfc.getKernel(tfc.AvgPoolGrad, backend);
  return kernel != null && kernel.kernelFunc === VALID_TAPS_AVG_POOL_GRAD;
}

/**
 * k x k average pool with 'same' padding whose border windows average only
 * the real pixels (TensorFlow semantics). Where the backend's pool gradient
 * is exact (wasm with our kernels, tensorflow) it is tfc.avgPool itself;
 * elsewhere a 'valid' pool over a zero-padded input times a constant
 * k*k / count map, so the gradient is the exact one there too (the pad and
 * its gradient's slice cost ~3 ms each per call on wasm, which is why the
 * direct path is taken where it can be).
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
    if (exactSameAvgPool()) return tfc.avgPool(x, k, s, 'same');
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

export interface BatchNormArgs extends LayerArgs {
  /** Moving-average momentum: moving = momentum * moving + (1 - momentum) * batch statistic. */
  momentum: number;
  epsilon: number;
}

/**
 * Batch normalisation over the last (channel) axis, the BN of every NASNet
 * "ReLU -> conv -> BN" unit. Weights, their names and order, and the
 * inference pass are those of tfjs-layers' BatchNormalization (gamma, beta
 * trainable; moving_mean, moving_variance not), so parameter counts and
 * saved weights are unchanged. Training normalises with the batch mean and
 * biased variance through batchNormTraining and moves the running averages
 * towards them, as the stock layer does.
 */
export class BatchNorm extends tfl.layers.Layer {
  static className = 'NasnetBatchNormalization';
  readonly momentum: number;
  readonly epsilon: number;
  private gamma: tfl.LayerVariable | null = null;
  private beta: tfl.LayerVariable | null = null;
  private movingMean: tfl.LayerVariable | null = null;
  private movingVariance: tfl.LayerVariable | null = null;

  constructor(args: BatchNormArgs) {
    super(args);
    this.supportsMasking = true;
    this.momentum = args.momentum;
    this.epsilon = args.epsilon;
  }

  override build(inputShape: ShapeArg): void {
    const shape = oneShape(inputShape);
    const channels = shape[shape.length - 1];
    if (typeof channels !== 'number') throw new Error(`layer ${this.name}: the channel axis of the input must be known`);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones(), undefined, true);
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros(), undefined, true);
    this.movingMean = this.addWeight('moving_mean', [channels], 'float32', tfl.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [channels], 'float32', tfl.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: ShapeArg): ShapeArg {
    return inputShape;
  }

  override call(inputs: tfc.Tensor | tfc.Tensor[], kwargs: Kwargs): tfc.Tensor {
    const x = oneTensor(inputs);
    const gamma = (this.gamma as tfl.LayerVariable).read() as tfc.Tensor1D;
    const beta = (this.beta as tfl.LayerVariable).read() as tfc.Tensor1D;
    const movingMean = this.movingMean as tfl.LayerVariable;
    const movingVariance = this.movingVariance as tfl.LayerVariable;
    if (kwargs['training'] !== true) {
      return tfc.batchNorm(x, movingMean.read(), movingVariance.read(), beta, gamma, this.epsilon);
    }
    const { y, mean, variance } = batchNormTraining(x, gamma, beta, this.epsilon);
    // A checkpointed cell recomputed for its gradient already updated the moving statistics once.
    if (kwargs[RECOMPUTING] !== true) {
      // moving <- moving - (1 - momentum) * (moving - batch), as tfjs-layers and Keras (one kernel on wasm).
      const [newMean, newVariance] = movingAverages([movingMean.read(), movingVariance.read()], [mean, variance], this.momentum);
      movingMean.write(newMean!);
      movingVariance.write(newVariance!);
      // The variables hold the new values now; these handles are not needed.
      newMean!.dispose();
      newVariance!.dispose();
    }
    mean.dispose();
    variance.dispose();
    return y;
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
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
tfc.serialization.registerClass(BatchNorm);
