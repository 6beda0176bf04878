import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, planNetwork, trainableParamCount } from '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { syntheticDataset } from '@nasnet/data';
import { defaultRecipe, type ChildRecipe } from '@nasnet/search';
import { NASNET_A } from '@nasnet/search-space';
import {
  RMSPROP_DEFAULTS, TrainingOptimizer, exponentialLearningRate, learningRateAt, smoothLabels, trainChild,
} from '../src/index.js';

// The pure-JS cpu backend: the numerical reference (DESIGN.md section 3).
await initBackend('cpu', { log: () => {} });

const close = (got: ArrayLike<number>, want: number[], tol = 1e-6, what = '') => {
  assert.equal(got.length, want.length, what);
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= tol, `${what}[${i}]: got ${got[i]}, want ${w}`));
};

test('exponential schedule - staircase: x0.97 every floor(steps per epoch x 2.4) steps', () => {
  assert.equal(exponentialLearningRate(0.04, 0, 24, 0.97), 0.04);
  assert.equal(exponentialLearningRate(0.04, 23, 24, 0.97), 0.04);
  assert.equal(exponentialLearningRate(0.04, 24, 24, 0.97), 0.04 * 0.97);
  close([exponentialLearningRate(0.04, 71, 24, 0.97)], [0.04 * 0.97 * 0.97], 1e-15);
  // 10 steps an epoch, decay every 2.4 epochs -> every 24 steps.
  const schedule = { kind: 'exponential', decayRate: 0.97, decayEpochs: 2.4 } as const;
  assert.equal(learningRateAt(schedule, 0.04, 47, 1000, 10), 0.04 * 0.97);
  close([learningRateAt(schedule, 0.04, 48, 1000, 10)], [0.04 * 0.97 * 0.97], 1e-15);
  // Cosine is unchanged: half way, half the rate.
  assert.ok(Math.abs(learningRateAt({ kind: 'cosine' }, 0.1, 50, 100, 10) - 0.05) < 1e-12);
  assert.throws(() => exponentialLearningRate(0.1, 1, 0, 0.9), /decaySteps must be > 0/);
});

test('rmsprop - two steps match TensorFlow 1 RMSPropOptimizer by hand (ms starts at 1, epsilon 1.0)', () => {
  assert.deepEqual({ ...RMSPROP_DEFAULTS }, { decay: 0.9, momentum: 0.9, epsilon: 1.0 });
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new TrainingOptimizer({ kind: 'rmsprop', ...RMSPROP_DEFAULTS }, [w]);
  const lr = tf.scalar(0.1);
  // Step 1, g = [0.5, 1]: ms = 1 + (g^2 - 1) x 0.1 = [0.925, 1]; mom = 0.1 g / sqrt(ms + 1) = [0.0360375, 0.0707107].
  tf.tidy(() => opt.apply([tf.tensor1d([0.5, 1])], lr));
  close(w.dataSync(), [1 - 0.03603749850782236, -2 - 0.07071067811865475], 1e-6, 'after step 1');
  // Step 2, g = [-1, 2]: ms = [0.9325, 1.3]; mom = 0.9 mom + 0.1 g / sqrt(ms + 1) = [-0.0395013, 0.1955157].
  tf.tidy(() => opt.apply([tf.tensor1d([-1, 2])], lr));
  close(w.dataSync(), [1.003463752961698, -2.2662263831046014], 1e-6, 'after step 2');
  const before = tf.memory().numTensors;
  opt.dispose();
  assert.equal(tf.memory().numTensors, before - 2 - 3, 'dispose frees the two slots of the variable and the three constants');
  w.dispose();
  lr.dispose();
});

test('sgd - momentum update v <- m v + g; w <- w - lr v, by hand', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new TrainingOptimizer({ kind: 'sgd', momentum: 0.9 }, [w]);
  const lr = tf.scalar(0.1);
  tf.tidy(() => opt.apply([tf.tensor1d([0.5, 1])], lr));
  close(w.dataSync(), [0.95, -2.1]);
  // v = 0.9 [0.5, 1] + [-1, 2] = [-0.55, 2.9]
  tf.tidy(() => opt.apply([tf.tensor1d([-1, 2])], lr));
  close(w.dataSync(), [1.005, -2.39]);
  opt.dispose();
  w.dispose();
  lr.dispose();
  assert.throws(() => new TrainingOptimizer({ kind: 'rmsprop', momentum: 0.9, decay: 0.9, epsilon: 0 }, []), /epsilon must be > 0/);
});

test('step - the L2 gradient joins, the total is clipped to its global norm, then SGD (fused kernel) or RMSProp updates', () => {
  // w = [3, 4], g = 0, weight decay 1 on it: the total gradient is w itself, norm 5, clipped to 1: [0.6, 0.8].
  // The second variable is not decayed and has g = 0: it must not move.
  const run = (settings: ConstructorParameters<typeof TrainingOptimizer>[0]) => {
    const [w, b] = tf.tidy(() => [tf.variable(tf.tensor1d([3, 4])), tf.variable(tf.tensor1d([7]))]);
    const opt = new TrainingOptimizer(settings, [w, b]);
    tf.tidy(() => opt.step([tf.zeros([2]), tf.zeros([1])], { learningRate: 0.1, weightDecay: 1, clipNorm: 1, decay: [true, false] }));
    const out = [...w.dataSync(), ...b.dataSync()];
    opt.dispose();
    w.dispose();
    b.dispose();
    return out;
  };
  const before = tf.memory().numTensors;
  close(run({ kind: 'sgd', momentum: 0.9 }), [3 - 0.06, 4 - 0.08, 7], 1e-6, 'sgd');
  // RMSProp: ms = 1 + (g^2 - 1) x 0.1; w -= 0.1 g / sqrt(ms + 1).
  close(run({ kind: 'rmsprop', ...RMSPROP_DEFAULTS }), [3 - 0.06 / Math.sqrt(1.936), 4 - 0.08 / Math.sqrt(1.964), 7], 1e-6, 'rmsprop');
  assert.equal(tf.memory().numTensors, before, 'a step inside tidy leaves no tensor behind');
  assert.throws(() => new TrainingOptimizer({ kind: 'sgd', momentum: 0.9 }, [])
    .step([tf.zeros([1])], { learningRate: 0.1, weightDecay: 0, clipNorm: 0, decay: [] }), /expected 0 gradients, got 1/);
});

test('label smoothing - targets onehot x 0.9 + 0.1 / K; the loss matches the hand value and tfjs\' own smoothing', () => {
  const onehot = tf.oneHot(tf.tensor1d([0], 'int32'), 3);
  const smoothed = smoothLabels(onehot, 0.1);
  close(smoothed.dataSync(), [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]);
  const logits = tf.tensor2d([[2, 1, 0]]);
  // -sum t log softmax([2, 1, 0]) with t = [0.9333, 0.0333, 0.0333].
  const loss = tf.losses.softmaxCrossEntropy(smoothed, logits);
  close(loss.dataSync(), [0.5076059644443801], 1e-6);
  close(tf.losses.softmaxCrossEntropy(onehot, logits, undefined, 0.1).dataSync(), [0.5076059644443801], 1e-6);
  assert.equal(smoothLabels(onehot, 0), onehot);
  assert.throws(() => smoothLabels(onehot, 1), /label smoothing must be in \[0, 1\)/);
  tf.dispose([onehot, smoothed, logits, loss]);
});

test('trainer - the ImageNet recipe (RMSProp, exponential decay, label smoothing, dense dropout) trains; the export is the inference model', async () => {
  await initBackend('wasm', { log: () => {} });
  const data = syntheticDataset({ seed: 2, height: 16, width: 16, channels: 3, numClasses: 4, trainCount: 256, validationCount: 128 });
  const recipe: ChildRecipe = { ...defaultRecipe(), epochs: 3, batchSize: 32, initialFilters: 4, cells: 1, learningRate: 0.04, auxHead: true, dropPathKeepProb: 0.7, gradientClipNorm: 10, weightDecay: 4e-5 };
  const dir = mkdtempSync(join(tmpdir(), 'trainer-export-'));
  const before = tf.memory().numTensors;
  try {
    const options = {
      genotype: NASNET_A, recipe, dataset: data, seed: 3, optimizer: { kind: 'rmsprop', ...RMSPROP_DEFAULTS } as const,
      learningRateSchedule: { kind: 'exponential', decayRate: 0.97, decayEpochs: 2.4 } as const, labelSmoothing: 0.1, network: { denseDropout: 0.5 },
    };
    const a = await trainChild({ ...options, exportDir: join(dir, 'model') });
    const b = await trainChild(options);
    assert.equal(a.status, 'ok');
    assert.ok(a.reward > 0.4, `validation accuracy ${a.reward} (chance 0.25)`);
    assert.deepEqual(a.validationByEpoch, b.validationByEpoch, 'same seed, same training');
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind (optimizer slots, inference model)');

    const plan = planNetwork(NASNET_A, { cells: 1, initialFilters: 4, imageSize: 16, numClasses: 4, denseDropout: 0.5 });
    assert.equal(a.paramCount, plan.paramCount);
    const manifest = JSON.parse(readFileSync(join(dir, 'model', 'model.json'), 'utf8')).weightsManifest[0].weights as Array<{ name: string; shape: number[] }>;
    const trainable = manifest.filter((w) => !/moving_(mean|variance)/.test(w.name)).reduce((n, w) => n + w.shape.reduce((p, d) => p * d, 1), 0);
    assert.equal(trainable, plan.paramCount, 'the export holds exactly the planned parameters (no auxiliary head)');
    const model = await loadModel(join(dir, 'model'));
    assert.equal(trainableParamCount(model), plan.paramCount);
    assert.equal(model.outputs.length, 1);
    const classes = new Set(model.layers.map((l) => l.getClassName()));
    assert.ok(!classes.has('NasnetDropPath') && !classes.has('NasnetSeededDropout'), [...classes].join(', '));
    // Inference mode: the same batch predicts the same logits twice (no dropout, moving batch-norm statistics).
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 9);
    const y1 = model.predict(x) as tf.Tensor;
    const y2 = model.predict(x) as tf.Tensor;
    assert.deepEqual(Array.from(y1.dataSync()), Array.from(y2.dataSync()));
    tf.dispose([x, y1, y2]);
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
