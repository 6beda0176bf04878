/**
 * Names of the kernels we add to tfjs (no tfjs kernel has them). The
 * `Nasnet` prefix keeps them apart from any kernel tfjs may add later.
 */
export const BATCH_NORM_TRAINING = 'NasnetBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'NasnetBatchNormTrainingGrad';
export const RELU_GRAD = 'NasnetReluGrad';

export interface BatchNormTrainingAttrs {
  epsilon: number;
}
