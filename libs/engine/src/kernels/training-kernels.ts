/**
 * The list of our wasm training kernels, in one place. Registering them is
 * `registerWasmTrainingKernels()` in register.ts.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { addConfig } from './Add.js';
import { avgPoolGradConfig } from './AvgPoolGrad.js';
import { castConfig } from './Cast.js';
import { concatConfig } from './Concat.js';
import { conv2DConfig } from './Conv2D.js';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput.js';
import { depthwiseConv2dNativeConfig } from './DepthwiseConv2dNative.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.js';
import { fusedConv2DConfig } from './FusedConv2D.js';
import { identityConfig } from './Identity.js';
import { maxPoolGradConfig } from './MaxPoolGrad.js';
import { batchNormTrainingConfig } from './NasnetBatchNormTraining.js';
import { batchNormTrainingGradConfig } from './NasnetBatchNormTrainingGrad.js';
import { clippedSgdStepConfig } from './NasnetClippedSgdStep.js';
import { movingAveragesConfig } from './NasnetMovingAverages.js';
import { reluGradConfig } from './NasnetReluGrad.js';
import { padV2Config } from './PadV2.js';
import { reluConfig } from './Relu.js';
import { sliceConfig } from './Slice.js';
import { splitVConfig } from './SplitV.js';

/**
 * Found by running forward and backward of every NASNet op on wasm: the
 * first three are missing from tfjs 4.22's wasm backend; the next three
 * exist there but run 10-60x slower than the forward op (AvgPoolGrad also
 * uses the wrong divisor at padded borders); DepthwiseConv2dNative replaces
 * XNNPACK's depthwise forward, 1.2-10x slower than ours (7x7 worst); the
 * Nasnet* kernels are new: batch norm with batch statistics and the ReLU
 * gradient, each fused into one or two passes (see batch-norm.ts and
 * gradients/Relu_grad.ts).
 */
const WINDOW_AND_NORM_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  avgPoolGradConfig,
  depthwiseConv2dNativeConfig,
  batchNormTrainingConfig,
  batchNormTrainingGradConfig,
  reluGradConfig,
];

/**
 * Data movement, measured in a profile of one training step of the search
 * child (~1.5 s): tfjs-wasm's SplitV (the concat gradient), Slice, Concat
 * and PadV2 took ~300 ms together, copying in JavaScript one small run per
 * pixel; its Identity and same-dtype Cast copied every tensor the engine
 * saves for the backward pass (~2,500 per step, ~100 ms). Ours copy with
 * one SIMD strided loop, or share the data where tfjs's cpu backend does.
 */
const DATA_MOVEMENT_KERNELS: readonly KernelConfig[] = [
  sliceConfig,
  splitVConfig,
  concatConfig,
  padV2Config,
  identityConfig,
  castConfig,
];

/**
 * Forward convolutions: pointwise ones (1x1, stride 1) run our SIMD loop,
 * 1.2-1.65x XNNPACK's at the search child's shapes (see pointwise.ts);
 * the rest still run XNNPACK.
 */
const FORWARD_CONV_KERNELS: readonly KernelConfig[] = [conv2DConfig, fusedConv2DConfig];

/**
 * Elementwise ops big enough to split over the kernel threads (tfjs's run
 * on one): ReLU before every convolution, Add for the sums of a cell's
 * branches. Same bits as tfjs's.
 */
const ELEMENTWISE_KERNELS: readonly KernelConfig[] = [reluConfig, addConfig];

/**
 * Updates outside the gradient: the optimizer step (sgd-step.ts) and batch
 * norm's running statistics (moving-averages.ts), each one kernel. Composed
 * from tfjs ops they were ~5,000 tiny kernels and tape clones per step of
 * the search child (~90 ms of ~600).
 */
const OPTIMIZER_KERNELS: readonly KernelConfig[] = [clippedSgdStepConfig, movingAveragesConfig];

/** Every kernel we register for wasm over (or next to) tfjs's own. */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  ...WINDOW_AND_NORM_KERNELS, ...DATA_MOVEMENT_KERNELS, ...FORWARD_CONV_KERNELS, ...ELEMENTWISE_KERNELS, ...OPTIMIZER_KERNELS,
];

const OURS = new Set<KernelFunc>(WINDOW_AND_NORM_KERNELS.map((k) => k.kernelFunc));

/** Whether `fn` is one of our window or norm kernels (they honour a `dilations` attribute). */
export function isTrainingKernel(fn: KernelFunc): boolean {
  return OURS.has(fn);
}
