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
