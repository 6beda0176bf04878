/** Gradient of our fused batch-norm kernel: its grad kernel, in one call. */
import {
  engine, type GradConfig, type NamedAttrMap, type Tensor,
} from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../kernel-names.js';

export const batchNormTrainingGradConfig: GradConfig = {
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, gamma, mean, variance] = saved;
    const [dy, dmean, dvariance] = dys as Tensor[];
    const [dx, dgamma, dbeta] = engine().runKernel(BATCH_NORM_TRAINING_GRAD,
      { dy, x, gamma, mean, variance, dmean, dvariance }, attrs) as Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};
