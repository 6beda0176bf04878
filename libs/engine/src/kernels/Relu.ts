/**
 * ReLU for wasm over float32: one SIMD pass, split over the kernel threads
 * (NASNet puts a ReLU before every convolution: ~100 per search-child
 * step). Other dtypes go to tfjs's kernel.
 */
import { Relu, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runElementwise } from './parallel.js';
import { allocate, heapOffset, runBackendKernel } from './wasm-heap.js';

export function relu(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x.dtype !== 'float32') return runBackendKernel(backend, Relu, { x }, {});
  const y = allocate(backend, [...x.shape]);
  const n = x.shape.reduce((a, b) => a * b, 1);
  runElementwise(backend, 'relu', [heapOffset(backend, x), heapOffset(backend, y)], n, 2);
  return y;
}

export const reluConfig: KernelConfig = {
  kernelName: Relu,
  backendName: 'wasm',
  kernelFunc: relu as unknown as KernelFunc,
};
