import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchCount, batches } from '@nasnet/data';
import type { AugmentOptions, ImageDataset } from '@nasnet/data';
import { buildNetwork, saveModel } from '@nasnet/network';
import type { NetworkLayout } from '@nasnet/network';
import { Rng, deriveSeed } from '@nasnet/random';
import type { Genotype } from '@nasnet/search-space';
import { DivergedError, TrainingCancelledError, cosineLearningRate, evaluate } from '@nasnet/trainer';
import type { TransferRecipe } from './job.js';

/**
 * Training for what @nasnet/trainer's trainChild cannot express yet: the
 * ImageNet layout and an auxiliary-loss weight other than 0.4 (trainChild
 * builds the CIFAR layout with a fixed weight). Same recipe and step as
 * trainChild: SGD with momentum (v <- m v + g; w <- w - lr v), L2 decay on
 * kernels, cosine decay over all steps, global-norm clipping, ScheduledDropPath,
 * auxiliary head. Once trainChild takes `layout` and `auxWeight`, runTransfer
 * should call it for every layout and this file goes.
 */
export interface LocalTrainOptions {
  genotype: Genotype;
  layout: NetworkLayout;
  cells: number;
  initialFilters: number;
  recipe: TransferRecipe;
  dataset: ImageDataset;
  augment: AugmentOptions | false;
  seed: number;
  exportDir?: string;
  signal?: AbortSignal;
  onEpochStep?: (p: { epoch: number; step: number; stepsPerEpoch: number; loss: number; trainAccuracy: number; imagesPerSec: number; validationAccuracy?: number }) => void;
  progressEverySteps?: number;
}

export interface LocalTrainResult {
  paramCount: number;
  multAdds: number;
  validationByEpoch: number[];
  testAccuracy?: number;
  steps: number;
  imagesPerSec: number;
  trainSeconds: number;
  status: 'ok' | 'diverged';
  reason?: string;
}

function variableOf(w: tfl.LayerVariable): tf.Variable {
  // tfjs-layers keeps the engine variable in a protected field.
  return (w as unknown as { val: tf.Variable }).val;
}

export async function trainLocal(o: LocalTrainOptions): Promise<LocalTrainResult> {
  const { recipe, dataset, signal } = o;
  const started = performance.now();
  const fullSteps = batchCount(o.dataset.train.count, recipe.batchSize, true);
  const stepsPerEpoch = recipe.maxSteps > 0 ? Math.min(fullSteps, Math.ceil(recipe.maxSteps / recipe.epochs)) : fullSteps;
  if (stepsPerEpoch < 1) throw new RangeError(`training split has ${dataset.train.count} images, fewer than one batch of ${recipe.batchSize}`);
  const totalSteps = stepsPerEpoch * recipe.epochs;
  const built = buildNetwork(o.genotype, {
    layout: o.layout, cells: o.cells, initialFilters: o.initialFilters, imageSize: dataset.height,
    channels: dataset.channels, numClasses: dataset.numClasses, auxHead: recipe.auxHead,
    seed: o.seed, dropPathKeepProb: recipe.dropPathKeepProb, totalSteps,
  });
  const { model, plan } = built;
  const weights = model.trainableWeights;
  const vars = weights.map(variableOf);
  const decayMask = weights.map((w) => /kernel/.test(w.name));
  const velocity = vars.map((v) => tf.zerosLike(v));
  const rng = new Rng(deriveSeed(o.seed, 'data'));
  const every = o.progressEverySteps ?? 20;
  const result: LocalTrainResult = {
    paramCount: plan.paramCount, multAdds: plan.multAdds, validationByEpoch: [], steps: 0, imagesPerSec: 0, trainSeconds: 0, status: 'ok',
  };
  let trainingMs = 0;
  let imagesSeen = 0;
  try {
    let step = 0;
    for (let epoch = 1; epoch <= recipe.epochs; epoch++) {
      let lossSum = 0, correct = 0, seen = 0, k = 0;
      let windowStart = performance.now(), windowImages = 0;
      for (const batch of batches(dataset.train, { batchSize: recipe.batchSize, stats: dataset.stats, shuffle: true, rng, augment: o.augment, dropRemainder: true })) {
        if (k >= stepsPerEpoch) break;
        if (signal?.aborted) throw new TrainingCancelledError(signal.reason);
        const t0 = performance.now();
        built.setTrainingStep(step);
        const lr = cosineLearningRate(recipe.learningRate, step, totalSteps);
        const [lossT, correctT] = trainStep(model, vars, velocity, decayMask, batch, dataset.numClasses, recipe, lr);
        const loss = (await lossT.data())[0]!;
        const nCorrect = (await correctT.data())[0]!;
        lossT.dispose(); correctT.dispose();
        trainingMs += performance.now() - t0;
        if (!Number.isFinite(loss)) throw new DivergedError(epoch, k + 1, loss);
        lossSum += loss * batch.size; correct += nCorrect; seen += batch.size;
        imagesSeen += batch.size; windowImages += batch.size;
        step++; k++;
        if (o.onEpochStep && (k % every === 0 || k === stepsPerEpoch)) {
          const now = performance.now();
          o.onEpochStep({ epoch, step: k, stepsPerEpoch, loss: lossSum / seen, trainAccuracy: correct / seen, imagesPerSec: windowImages / Math.max(1e-9, (now - windowStart) / 1000) });
          windowStart = now; windowImages = 0;
        }
        if (k % 4 === 0) await new Promise((r) => setImmediate(r));
      }
      const valAcc = await evaluate(model, dataset.validation, dataset, recipe.batchSize);
      result.validationByEpoch.push(valAcc);
      o.onEpochStep?.({
        epoch, step: k, stepsPerEpoch, loss: lossSum / Math.max(1, seen), trainAccuracy: correct / Math.max(1, seen),
        imagesPerSec: imagesSeen / Math.max(1e-9, trainingMs / 1000), validationAccuracy: valAcc,
      });
    }
    result.steps = step;
    if (dataset.test && dataset.test.count > 0) result.testAccuracy = await evaluate(model, dataset.test, dataset, recipe.batchSize);
    if (o.exportDir) await saveModel(model, o.exportDir);
  } catch (err) {
    if (!(err instanceof DivergedError)) throw err;
    result.status = 'diverged';
    result.reason = err.message;
  } finally {
    for (const v of velocity) v.dispose();
    model.dispose();
  }
  result.trainSeconds = (performance.now() - started) / 1000;
  result.imagesPerSec = imagesSeen / Math.max(1e-9, trainingMs / 1000);
  return result;
}

function trainStep(
  model: tfl.LayersModel, vars: tf.Variable[], velocity: tf.Tensor[], decayMask: boolean[],
  batch: { x: Float32Array; y: Int32Array; shape: [number, number, number, number] }, numClasses: number, recipe: TransferRecipe, lr: number,
): [tf.Scalar, tf.Scalar] {
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const labels = tf.tensor1d(batch.y, 'int32');
    const onehot = tf.oneHot(labels, numClasses);
    let logitsKept: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const out = model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
      const outputs = Array.isArray(out) ? out : [out];
      logitsKept = tf.keep(outputs[0]!);
      let loss = tf.losses.softmaxCrossEntropy(onehot, outputs[0]!) as tf.Scalar;
      if (recipe.auxHead && outputs[1] && recipe.auxWeight > 0) {
        loss = tf.add(loss, tf.mul(tf.losses.softmaxCrossEntropy(onehot, outputs[1]), recipe.auxWeight)) as tf.Scalar;
      }
      return loss;
    }, vars);
    const gradList = vars.map((v) => grads[v.name]!);
    let scale: tf.Scalar | undefined;
    if (recipe.gradientClipNorm > 0) {
      const norm = tf.sqrt(tf.addN(gradList.map((g) => tf.sum(tf.square(g)))));
      scale = tf.div(recipe.gradientClipNorm, tf.maximum(norm, recipe.gradientClipNorm)) as tf.Scalar;
    }
    vars.forEach((v, i) => {
      let g = gradList[i]!;
      if (scale) g = tf.mul(g, scale);
      if (decayMask[i] && recipe.weightDecay > 0) g = tf.add(g, tf.mul(v, recipe.weightDecay));
      const vel = tf.add(tf.mul(velocity[i]!, recipe.momentum), g);
      velocity[i]!.dispose();
      velocity[i] = tf.keep(vel);
      v.assign(tf.sub(v, tf.mul(vel, lr)));
    });
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logitsKept!, -1), labels), 'float32')) as tf.Scalar;
    logitsKept!.dispose();
    return [value, correct];
  });
}

