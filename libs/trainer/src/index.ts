/**
 * Child training: the NASNet search recipe on any TensorFlow.js backend.
 *
 * ```ts
 * const dataset = await loadDataset('mnist');
 * const r = await trainChild({ genotype: NASNET_A, recipe: { ...defaultRecipe(), epochs: 2 }, dataset, seed: 1 });
 * r.reward; // validation accuracy
 *
 * // The ImageNet mobile recipe's update rule and schedule (reference nasnet.py notes):
 * await trainChild({ genotype: NASNET_A, recipe, dataset, seed: 1, layout: 'imagenet',
 *   optimizer: { kind: 'rmsprop', ...RMSPROP_DEFAULTS }, learningRateSchedule: { kind: 'exponential', decayRate: 0.97, decayEpochs: 2.4 },
 *   labelSmoothing: 0.1, network: { denseDropout: 0.5 } });
 * ```
 */
export { trainChild, evaluate, AUX_LOSS_WEIGHT } from './train.js';
export type { TrainChildOptions, TrainChildResult } from './train.js';
export { runChildTask, cachedDataset } from './task.js';
export { cosineLearningRate, exponentialLearningRate, learningRateAt } from './schedule.js';
export type { LearningRateSchedule } from './schedule.js';
export { RMSPROP_DEFAULTS, TrainingOptimizer, smoothLabels } from './optimizer.js';
export type { OptimizerSettings } from './optimizer.js';
export { DivergedError, TrainingCancelledError } from './errors.js';
export { LOCAL_WORKER_ENTRY, LocalWorkerPool, localWorkerName } from './workers.js';
export type { TrainFunction, TrainerWorkerSettings } from './workers.js';
