import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batches, batchCount, type AugmentOptions, type ImageDataset, type ImageSplit } from '@nasnet/data';
import { applyReleasing, variableGradsReleasing, type FunctionalModel } from '@nasnet/engine';
import { buildNetwork, copyWeights, saveModel, type NetworkLayout, type NetworkOptions } from '@nasnet/network';
import { Rng, deriveSeed } from '@nasnet/random';
import type { ChildProgress, ChildRecipe, ChildResult } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { DivergedError, TrainingCancelledError } from './errors.js';
import { TrainingOptimizer, smoothLabels, type OptimizerSettings } from './optimizer.js';
import { learningRateAt, type LearningRateSchedule } from './schedule.js';

/** Auxiliary head loss weight: 0.4 in the NASNet CIFAR recipe. */
export const AUX_LOSS_WEIGHT = 0.4;

export interface TrainChildOptions {
  genotype: Genotype;
  recipe: ChildRecipe;
  dataset: ImageDataset;
  /** Seeds the weights, the data order, augmentation and drop-path masks. */
  seed: number;
  /** Child id used in progress reports. @default 0 */
  childId?: number;
  onProgress?: (progress: ChildProgress) => void;
  signal?: AbortSignal;
  /** Median stopping rule (see ChildTask.earlyStop). */
  earlyStop?: { minEpochs: number; medianByEpoch: number[] };
  /** Progress reports every this many steps (and at each epoch end). @default 20 */
  progressEverySteps?: number;
  /** Training augmentation; default depends on the data set (CIFAR: crop + flip; MNIST: 2-pixel shifts; synthetic: none). */
  augment?: AugmentOptions | false;
  /** Save the trained network (TensorFlow.js format) into this folder. */
  exportDir?: string;
  /** Evaluate on the test split too, when the data set has one. @default false */
  evaluateTest?: boolean;
  /** Network layout: search children use the CIFAR one; transfer also trains ImageNet-style stacks. @default 'cifar' */
  layout?: NetworkLayout;
  /** Weight of the auxiliary head's loss. @default 0.4 (NASNet CIFAR recipe) */
  auxWeight?: number;
  /**
   * The update rule; its momentum replaces recipe.momentum.
   * @default SGD with recipe.momentum (the search and CIFAR recipes)
   */
  optimizer?: OptimizerSettings;
  /** @default cosine decay to 0 over all steps (the search and CIFAR recipes) */
  learningRateSchedule?: LearningRateSchedule;
  /** Label smoothing of the cross-entropy, main and auxiliary heads alike. @default 0 (ImageNet recipes: 0.1) */
  labelSmoothing?: number;
  /** Network options beyond the recipe's (stem multiplier, dense dropout, Large wiring, batch norm). @default the layout's */
  network?: Pick<NetworkOptions, 'stemMultiplier' | 'denseDropout' | 'skipReductionLayerInput' | 'batchNormMomentum' | 'batchNormEpsilon'>;
  /**
   * Checkpoint each cell: keep only the cells' inputs in the forward pass and recompute one cell at
   * a time in the backward pass (@nasnet/engine applyReleasing). Peak memory falls to the cell
   * boundaries plus one cell, for about one more forward pass of compute; the gradients agree with
   * the plain pass to float32 rounding (sums of a cell output's gradient come in another order).
   * For networks too large for the memory otherwise (N = 6, F0 = 32 on the 4 GiB wasm heap).
   * @default recipe.checkpointCells (a search's or transfer's recipe field), else false
   */
  checkpointCells?: boolean;
}

/** Checkpoint group of a layer: its cell (plan layer names start with `cell<index>_`). */
function cellOf(layerName: string): string | undefined {
  return /^(cell\d+)_/.exec(layerName)?.[1];
}

export interface TrainChildResult extends ChildResult {
  testAccuracy?: number;
  /** Mean training images per second over the whole run. */
  imagesPerSec: number;
  steps: number;
}

function defaultAugment(dataset: ImageDataset): AugmentOptions | false {
  if (dataset.name.startsWith('cifar')) return { padding: 4, flip: true };
  if (dataset.name.startsWith('mnist')) return { padding: 2, flip: false };
  return false;
}

function variableOf(w: tfl.LayerVariable): tf.Variable {
  // tfjs-layers keeps the engine variable in a protected field.
  return (w as unknown as { val: tf.Variable }).val;
}

/**
 * Trains one child network with the NASNet search recipe (paper section 4):
 * SGD with momentum, L2 weight decay on kernels, cosine learning-rate decay
 * over all steps, gradient-norm clipping, ScheduledDropPath and an optional
 * auxiliary head. The ImageNet recipes swap in RMSProp, staircase
 * exponential decay, label smoothing and dense dropout (options.optimizer,
 * learningRateSchedule, labelSmoothing, network). The reward is the
 * validation accuracy after the last epoch. An export (exportDir) is the
 * inference model: no auxiliary head, drop path or dropout. A diverging
 * child ends with reward 0 and a reason; nothing leaks.
 */
export async function trainChild(options: TrainChildOptions): Promise<TrainChildResult> {
  const { genotype, recipe, dataset, seed, signal } = options;
  const childId = options.childId ?? 0;
  const started = performance.now();
  const train = limitSplit(dataset.train, recipe.trainLimit);
  const validation = limitSplit(dataset.validation, recipe.validationLimit);
  const fullSteps = batchCount(train.count, recipe.batchSize, true);
  const stepsPerEpoch = recipe.maxStepsPerEpoch > 0 ? Math.min(fullSteps, recipe.maxStepsPerEpoch) : fullSteps;
  if (stepsPerEpoch < 1) throw new RangeError(`training split has ${train.count} images, fewer than one batch of ${recipe.batchSize}`);
  const totalSteps = stepsPerEpoch * recipe.epochs;
  if (dataset.height !== dataset.width) throw new RangeError(`images must be square, got ${dataset.height}x${dataset.width}`);

  // A network that cannot be built (out of memory half way) must not leave its first layers' weights behind.
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  let built: ReturnType<typeof buildNetwork>;
  try {
    built = buildNetwork(genotype, networkOptions(options, totalSteps));
  } catch (err) {
    for (const [name, v] of Object.entries(tf.engine().registeredVariables)) if (!variablesBefore.has(name)) v.dispose();
    throw err;
  }
  const { model, plan } = built;
  const weights = model.trainableWeights;
  const vars = weights.map(variableOf);
  const decayMask = weights.map((w) => /kernel/.test(w.name));
  const optimizerSettings: OptimizerSettings = options.optimizer ?? { kind: 'sgd', momentum: recipe.momentum };
  const schedule: LearningRateSchedule = options.learningRateSchedule ?? { kind: 'cosine' };
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new RangeError(`labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  // Created inside the try below: an allocation failing there still disposes the model.
  let optimizer: TrainingOptimizer | undefined;
  const rng = new Rng(deriveSeed(seed, 'data'));
  const augment = options.augment ?? defaultAugment(dataset);
  const every = options.progressEverySteps ?? 20;

  const result: TrainChildResult = {
    childId, status: 'ok', reward: 0, validationByEpoch: [], trainSeconds: 0,
    paramCount: plan.paramCount, multAdds: plan.multAdds, imagesPerSec: 0, steps: 0,
  };
  let imagesSeen = 0;
  let trainingMs = 0;
  try {
    optimizer = new TrainingOptimizer(optimizerSettings, vars);
    let step = 0;
    for (let epoch = 1; epoch <= recipe.epochs; epoch++) {
      let lossSum = 0, correct = 0, seen = 0;
      let windowStart = performance.now(), windowImages = 0;
      let k = 0;
      for (const batch of batches(train, { batchSize: recipe.batchSize, stats: dataset.stats, shuffle: true, rng, augment, dropRemainder: true })) {
        if (k >= stepsPerEpoch) break;
        if (signal?.aborted) throw new TrainingCancelledError(signal.reason);
        const t0 = performance.now();
        built.setTrainingStep(step);
        const lr = learningRateAt(schedule, recipe.learningRate, step, totalSteps, stepsPerEpoch);
        // One read-back per step (loss and correct count together): each is a sync point, a GPU round trip on webgpu.
        const stats = trainStep(model, vars, optimizer, decayMask, batch, dataset.numClasses, recipe, lr, options.auxWeight ?? AUX_LOSS_WEIGHT, labelSmoothing, options.checkpointCells ?? recipe.checkpointCells ?? false);
        const [loss, nCorrect] = await stats.data();
        stats.dispose();
        trainingMs += performance.now() - t0;
        if (!Number.isFinite(loss!)) throw new DivergedError(epoch, k + 1, loss!);
        lossSum += loss! * batch.size; correct += nCorrect!; seen += batch.size;
        imagesSeen += batch.size; windowImages += batch.size;
        step++; k++;
        if (options.onProgress && (k % every === 0 || k === stepsPerEpoch)) {
          const now = performance.now();
          options.onProgress({
            childId, epoch, epochs: recipe.epochs, step: k, stepsPerEpoch, loss: lossSum / seen, trainAccuracy: correct / seen,
            imagesPerSec: windowImages / Math.max(1e-9, (now - windowStart) / 1000),
          });
          windowStart = now; windowImages = 0;
        }
        // Let cancel messages and timers in after every step: a trainer's working() ticks keep its
        // child past the ack deadline only if they run (4 steps at a time blocked for over 2 s on a
        // busy 2-core machine; setImmediate costs microseconds next to a step).
        await new Promise((r) => setImmediate(r));
      }
      const valAcc = await evaluate(model, validation, dataset, recipe.batchSize);
      result.validationByEpoch.push(valAcc);
      result.reward = valAcc;
      options.onProgress?.({
        childId, epoch, epochs: recipe.epochs, step: k, stepsPerEpoch, loss: lossSum / Math.max(1, seen), trainAccuracy: correct / Math.max(1, seen),
        imagesPerSec: imagesSeen / Math.max(1e-9, trainingMs / 1000), validationAccuracy: valAcc,
      });
      const median = options.earlyStop?.medianByEpoch[epoch - 1];
      if (epoch < recipe.epochs && options.earlyStop && epoch >= options.earlyStop.minEpochs && median !== undefined && valAcc < median) {
        result.status = 'early_stopped';
        result.reason = `validation accuracy ${valAcc.toFixed(4)} after epoch ${epoch} is below the median ${median.toFixed(4)}`;
        break;
      }
    }
    result.steps = step;
    if (options.evaluateTest && dataset.test && dataset.test.count > 0) {
      result.testAccuracy = await evaluate(model, dataset.test, dataset, recipe.batchSize);
    }
    if (options.exportDir) await exportInferenceModel(model, genotype, networkOptions(options, totalSteps), options.exportDir);
  } catch (err) {
    if (err instanceof DivergedError) {
      result.status = 'diverged';
      result.reward = 0;
      result.reason = err.message;
    } else {
      throw err;
    }
  } finally {
    optimizer?.dispose();
    model.dispose();
  }
  result.trainSeconds = (performance.now() - started) / 1000;
  result.imagesPerSec = imagesSeen / Math.max(1e-9, trainingMs / 1000);
  return result;
}

/**
 * tfjs-core keeps a clone of every tensor a gradient needs (the tape's
 * `saved` tensors) until the backward pass has run, and only a successful
 * backward pass disposes them (engine.gradients). A step that throws half
 * way, out of memory say, would leave a whole forward pass of activations
 * on the heap for the next child; this disposes them as gradients() would.
 */
function releaseTape(): void {
  const state = tf.engine().state as unknown as { gradientDepth: number; activeTape: Array<{ saved?: tf.Tensor[] }> | null };
  if (state.gradientDepth !== 0) return; // an enclosing gradient computation still owns the tape
  for (const node of state.activeTape ?? []) for (const t of node.saved ?? []) if (!t.isDisposed) t.dispose();
  state.activeTape = null;
}

/** The network a run trains (and, with inference: true, the one it exports). */
function networkOptions(options: TrainChildOptions, totalSteps: number): Parameters<typeof buildNetwork>[1] {
  const { recipe, dataset } = options;
  return {
    ...options.network,
    layout: options.layout ?? 'cifar', cells: recipe.cells, initialFilters: recipe.initialFilters, imageSize: dataset.height,
    channels: dataset.channels, numClasses: dataset.numClasses, auxHead: recipe.auxHead,
    seed: options.seed, dropPathKeepProb: recipe.dropPathKeepProb, totalSteps,
  };
}

/**
 * Saves the inference model of a trained network: the same layers and
 * weights without the auxiliary head, drop path and dropout (training-only
 * parts), so the file holds exactly the parameters planNetwork counts plus
 * the batch-norm moving statistics, which the saved BatchNorm layers use.
 */
async function exportInferenceModel(
  trained: tfl.LayersModel, genotype: Genotype, options: Parameters<typeof buildNetwork>[1], dir: string,
): Promise<void> {
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  let inference: tfl.LayersModel | undefined;
  try {
    inference = buildNetwork(genotype, { ...options, inference: true }).model;
    copyWeights(trained, inference);
    await saveModel(inference, dir);
  } finally {
    if (inference) inference.dispose();
    else for (const [name, v] of Object.entries(tf.engine().registeredVariables)) if (!variablesBefore.has(name)) v.dispose();
  }
}

function trainStep(
  model: tfl.LayersModel, vars: tf.Variable[], optimizer: TrainingOptimizer, decayMask: boolean[],
  batch: { x: Float32Array; y: Int32Array; shape: [number, number, number, number] }, numClasses: number, recipe: ChildRecipe, lr: number,
  auxWeight: number, labelSmoothing: number, checkpointCells: boolean,
): tf.Tensor1D {
  try {
    return trainStepTidy(model, vars, optimizer, decayMask, batch, numClasses, recipe, lr, auxWeight, labelSmoothing, checkpointCells);
  } catch (err) {
    releaseTape();
    throw err;
  }
}

function trainStepTidy(
  model: tfl.LayersModel, vars: tf.Variable[], optimizer: TrainingOptimizer, decayMask: boolean[],
  batch: { x: Float32Array; y: Int32Array; shape: [number, number, number, number] }, numClasses: number, recipe: ChildRecipe, lr: number,
  auxWeight: number, labelSmoothing: number, checkpointCells: boolean,
): tf.Tensor1D {
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const labels = tf.tensor1d(batch.y, 'int32');
    const onehot = smoothLabels(tf.oneHot(labels, numClasses), labelSmoothing);
    let logitsKept: tf.Tensor | undefined;
    // Not tf.variableGrads: this one frees each activation and intermediate gradient as soon as the
    // backward pass is done with it (same gradients; peak memory about half, see @nasnet/engine).
    const { value, grads } = variableGradsReleasing(() => {
      // model.apply(x, { training: true }) that frees each layer output after its last consumer.
      const outputs = applyReleasing(model as unknown as FunctionalModel, [x], checkpointCells ? { checkpoint: cellOf } : {});
      const logits = outputs[0]!;
      logitsKept = tf.keep(logits);
      let loss = tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      if (recipe.auxHead && outputs[1]) loss = tf.add(loss, tf.mul(tf.losses.softmaxCrossEntropy(onehot, outputs[1]), auxWeight)) as tf.Scalar;
      return loss;
    }, vars);
    const gradList = vars.map((v) => grads[v.name]!);
    // The gradient of the whole loss, L2 term included (its gradient is weightDecay * w), is what gets
    // clipped, as in the reference: slim adds the regularisation losses to the total loss and
    // clip_by_global_norm clips the gradients of that total.
    optimizer.step(gradList, { learningRate: lr, weightDecay: recipe.weightDecay, clipNorm: recipe.gradientClipNorm, decay: decayMask });
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logitsKept!, -1), labels), 'float32')) as tf.Scalar;
    logitsKept!.dispose();
    return tf.stack([value, correct]) as tf.Tensor1D;
  });
}

/** Top-1 accuracy of the model in inference mode. */
export async function evaluate(model: tfl.LayersModel, split: ImageSplit, dataset: ImageDataset, batchSize: number): Promise<number> {
  if (split.count === 0) return 0;
  let correct = 0;
  for (const batch of batches(split, { batchSize: Math.max(batchSize, 64), stats: dataset.stats })) {
    const c = tf.tidy(() => {
      const out = model.predict(tf.tensor4d(batch.x, batch.shape)) as tf.Tensor | tf.Tensor[];
      const logits = Array.isArray(out) ? out[0]! : out;
      return tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.tensor1d(batch.y, 'int32')), 'float32'));
    });
    correct += (await c.data())[0]!;
    c.dispose();
  }
  return correct / split.count;
}

function limitSplit(split: ImageSplit, limit: number): ImageSplit {
  if (limit <= 0 || limit >= split.count) return split;
  const px = split.height * split.width * split.channels;
  return { ...split, count: limit, images: split.images.subarray(0, limit * px), labels: split.labels.subarray(0, limit) };
}
