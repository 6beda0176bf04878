/**
 * The one place our wasm training kernels and gradients are registered.
 */
import { getKernel, registerGradient, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { avgPoolGradConfig } from './gradients/AvgPool_grad.js';
import { conv2DGradConfig } from './gradients/Conv2D_grad.js';
import { depthwiseConv2dNativeGradConfig } from './gradients/DepthwiseConv2dNative_grad.js';
import { batchNormTrainingGradConfig } from './gradients/NasnetBatchNormTraining_grad.js';
import { reluGradConfig } from './gradients/Relu_grad.js';
import { WASM_TRAINING_KERNELS } from './training-kernels.js';
import { rememberReplacedKernel } from './wasm-heap.js';

/**
 * Registers our kernels for the 'wasm' backend, replacing tfjs's slow ones
 * of the same names. Idempotent; returns the kernel names. Kernels take
 * effect immediately, also on an already initialised backend (none of them
 * needs a setup step). A replaced kernel's setup step is kept: other tfjs
 * kernels call its wasm function (SpaceToBatchND pads through PadV2's).
 */
export function registerWasmTrainingKernels(): string[] {
  for (const config of WASM_TRAINING_KERNELS) {
    const existing = getKernel(config.kernelName, 'wasm');
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing) {
      rememberReplacedKernel(existing);
      unregisterKernel(config.kernelName, 'wasm');
    }
    registerKernel(existing?.setupFunc ? { ...config, setupFunc: existing.setupFunc } : config);
  }
  return WASM_TRAINING_KERNELS.map((k) => k.kernelName);
}

const GRADIENTS = [conv2DGradConfig, depthwiseConv2dNativeGradConfig, avgPoolGradConfig, reluGradConfig, batchNormTrainingGradConfig];

/**
 * Registers our gradients over tfjs's: Conv2D and DepthwiseConv2dNative
 * with dilation, AvgPool correct at padded borders on every backend, Relu
 * through our one-pass kernel where present, and our fused batch norm's.
 * Call after tfjs's gradients are registered: the last registration wins.
 */
export function registerTrainingGradients(): string[] {
  for (const config of GRADIENTS) registerGradient(config);
  return GRADIENTS.map((g) => g.kernelName);
}
