/**
 * ReLU gradient in one SIMD pass (wasm): dx = x > 0 ? dy : 0. tfjs
 * composes it from Step, Cast and Multiply, three passes and two
 * temporaries per ReLU, and NASNet has a ReLU before every convolution.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { RELU_GRAD } from './kernel-names.js';
import { runElementwise } from './parallel.js';
import { allocate, heapOffset, requireFloat32 } from './wasm-heap.js';

export function reluGrad(args: { inputs: { dy: TensorInfo; x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { dy, x }, backend } = args;
  requireFloat32(RELU_GRAD, { dy, x });
  const dx = allocate(backend, [...x.shape]);
  const n = x.shape.reduce((a, b) => a * b, 1);
  runElementwise(backend, 'reluGrad', [heapOffset(backend, dy), heapOffset(backend, x), heapOffset(backend, dx)], n, 3);
  return dx;
}

export const reluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: reluGrad as unknown as KernelFunc,
};
