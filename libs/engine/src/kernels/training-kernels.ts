/**
 * The list of our wasm training kernels, in one place. Registering them is
 * `registerWasmTrainingKernels()` in register.ts.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { avgPoolGradConfig } from './AvgPoolGrad.js';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput.js';
import { depthwiseConv2dNativeConfig } from './DepthwiseConv2dNative.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.js';
import { maxPoolGradConfig } from './MaxPoolGrad.js';
import { batchNormTrainingConfig } from './NasnetBatchNormTraining.js';
import { batchNormTrainingGradConfig } from './NasnetBatchNormTrainingGrad.js';
import { reluGradConfig } from './NasnetReluGrad.js';

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
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
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

const OURS = new Set<KernelFunc>(WASM_TRAINING_KERNELS.map((k) => k.kernelFunc));

/** Whether `fn` is one of our kernels (they honour a `dilations` attribute). */
export function isTrainingKernel(fn: KernelFunc): boolean {
  return OURS.has(fn);
}
