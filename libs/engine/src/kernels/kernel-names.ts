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
export const CLIPPED_SGD_STEP = 'NasnetClippedSgdStep';

/** Attributes of one clipped SGD-with-momentum step over every variable (see sgd-step.ts). */
export interface ClippedSgdStepAttrs {
  learningRate: number;
  momentum: number;
  weightDecay: number;
  /** Global-norm clip; 0 turns clipping off. */
  clipNorm: number;
  /** Per variable: whether weightDecay * w joins its gradient. */
  decay: boolean[];
}

export const MOVING_AVERAGES = 'NasnetMovingAverages';

/** Attributes of NasnetMovingAverages (see moving-averages.ts). */
export interface MovingAveragesAttrs {
  /** 1 - momentum: moving <- moving - decay * (moving - batch). */
  decay: number;
  /** How many (moving, batch) pairs the inputs hold. */
  count: number;
}
