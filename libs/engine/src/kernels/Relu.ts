/**
 * ReLU for wasm over float32: one SIMD pass, split over the kernel threads
 * (NASNet puts a ReLU before every convolution: ~100 per search-child
 * step). Other dtypes go to tfjs's kernel.
 */
import { Relu, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, heapOffset, runBackendKernel } from './wasm-heap.js';

export function relu(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x.dtype !== 'float32') return runBackendKernel(backend, Relu, { x }, {});
  const y = allocate(backend, [...x.shape]);
  const n = x.shape.reduce((a, b) => a * b, 1);
  const xAt = heapOffset(backend, x), yAt = heapOffset(backend, y);
  runParts(backend, 'relu', splitRange(n, partsFor(backend, n, 2 * n), 4).map(([i, count]) => [xAt + i * 4, yAt + i * 4, count]), 2 * n);
  return y;
}

export const reluConfig: KernelConfig = {
  kernelName: Relu,
  backendName: 'wasm',
  kernelFunc: relu as unknown as KernelFunc,
};
