/**
 * Batch normalisation with batch statistics (training mode), the BN of
 * every NASNet "ReLU -> conv -> BN" unit (Zoph et al. 2017, section 4).
 */
import {
  add, engine, getBackend, getKernel, moments, mul, rsqrt, sub, tidy,
  type NamedAttrMap, type Tensor, type Tensor1D,
} from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAINING } from './kernel-names.js';

/**
 * epsilon = 1e-3: TF-slim's batch_norm default, which the NASNet reference
 * code keeps (nasnet.py, batch_norm_epsilon=0.001).
 */
export const BATCH_NORM_EPSILON = 1e-3;

export interface BatchNormTrainingResult {
  /** gamma * (x - mean) / sqrt(variance + epsilon) + beta. */
  y: Tensor;
  /** Per-channel mean over all axes but the last. */
  mean: Tensor1D;
  /** Per-channel biased variance (divided by the count), as tf.moments. */
  variance: Tensor1D;
}

/**
 * Normalises a channels-last tensor with its own batch statistics and
 * returns them for the running averages. Differentiable in x, gamma and
 * beta (and through mean and variance). On wasm it is one fused SIMD kernel
 * each way; elsewhere it is tf.moments and elementwise ops.
 */
export function batchNormTraining(
  x: Tensor, gamma: Tensor1D, beta: Tensor1D, epsilon: number = BATCH_NORM_EPSILON,
): BatchNormTrainingResult {
  if (getKernel(BATCH_NORM_TRAINING, getBackend()) != null) {
    const [y, mean, variance] = engine().runKernel(BATCH_NORM_TRAINING, { x, gamma, beta },
      { epsilon } as unknown as NamedAttrMap) as Tensor[];
    return { y, mean: mean as Tensor1D, variance: variance as Tensor1D };
  }
  return tidy(() => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = moments(x, axes);
    const y = add(mul(mul(sub(x, mean), rsqrt(add(variance, epsilon))), gamma), beta);
    return { y, mean: mean as Tensor1D, variance: variance as Tensor1D };
  });
}
