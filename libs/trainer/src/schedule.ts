/**
 * Cosine learning-rate decay (Loshchilov & Hutter 2017, without restarts),
 * the schedule of the NASNet search and CIFAR recipes: from `initial` at step
 * 0 to `minimum` at `totalSteps`.
 */
export function cosineLearningRate(initial: number, step: number, totalSteps: number, minimum = 0): number {
  if (totalSteps <= 0) return initial;
  const progress = Math.min(1, Math.max(0, step / totalSteps));
  return minimum + 0.5 * (initial - minimum) * (1 + Math.cos(Math.PI * progress));
}

/**
 * Staircase exponential decay, the schedule of the NASNet ImageNet recipes
 * (reference nasnet.py training notes: "learning rate decay factor: 0.97,
 * num epochs per decay: 2.4"; slim train_image_classifier.py builds it with
 * tf.train.exponential_decay(..., staircase=True)):
 * `initial x rate^floor(step / decaySteps)`.
 */
export function exponentialLearningRate(initial: number, step: number, decaySteps: number, rate: number): number {
  if (!(decaySteps > 0)) throw new RangeError(`decaySteps must be > 0, got ${decaySteps}`);
  return initial * rate ** Math.floor(Math.max(0, step) / decaySteps);
}

/** How the learning rate moves over a run. */
export type LearningRateSchedule =
  /** Cosine decay to 0 over all steps (CIFAR recipe). */
  | { readonly kind: 'cosine' }
  /** Times `decayRate` every `decayEpochs` epochs, in steps (ImageNet recipes: 0.97 every 2.4 epochs). */
  | { readonly kind: 'exponential'; readonly decayRate: number; readonly decayEpochs: number };

/**
 * The learning rate at `step` of a run of `totalSteps` with `stepsPerEpoch`
 * steps an epoch. The exponential schedule decays every
 * floor(stepsPerEpoch x decayEpochs) steps (at least 1), as slim's
 * int(num_samples_per_epoch * num_epochs_per_decay / batch_size).
 */
export function learningRateAt(
  schedule: LearningRateSchedule, initial: number, step: number, totalSteps: number, stepsPerEpoch: number,
): number {
  if (schedule.kind === 'cosine') return cosineLearningRate(initial, step, totalSteps);
  return exponentialLearningRate(initial, step, Math.max(1, Math.floor(stepsPerEpoch * schedule.decayEpochs)), schedule.decayRate);
}
