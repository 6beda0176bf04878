/**
 * ReLU gradient in one SIMD pass (wasm): dx = x > 0 ? dy : 0. tfjs
 * composes it from Step, Cast and Multiply, three passes and two
 * temporaries per ReLU, and NASNet has a ReLU before every convolution.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { RELU_GRAD } from './kernel-names.js';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, heapOffset, requireFloat32 } from './wasm-heap.js';

export function reluGrad(args: { inputs: { dy: TensorInfo; x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { dy, x }, backend } = args;
  requireFloat32(RELU_GRAD, { dy, x });
  const dx = allocate(backend, [...x.shape]);
  const n = x.shape.reduce((a, b) => a * b, 1);
  const dyAt = heapOffset(backend, dy), xAt = heapOffset(backend, x), dxAt = heapOffset(backend, dx);
  // Elementwise: ranges of whole vectors (4 floats).
  runParts(backend, 'reluGrad', splitRange(n, partsFor(backend, n, 3 * n), 4).map(([i, count]) =>
    [dyAt + i * 4, xAt + i * 4, dxAt + i * 4, count]), 3 * n);
  return dx;
}

export const reluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: reluGrad as unknown as KernelFunc,
};
