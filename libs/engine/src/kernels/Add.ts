/**
 * Add for wasm when both inputs are float32 of the same shape (the sums of
 * a cell's branches and of gradients reaching one tensor twice): one SIMD
 * pass, split over the kernel threads. Broadcasts and other dtypes go to
 * tfjs's kernel.
 */
import { Add, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runElementwise } from './parallel.js';
import { allocate, heapOffset, runBackendKernel } from './wasm-heap.js';

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function add(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { a, b }, backend } = args;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !sameShape(a.shape, b.shape)) return runBackendKernel(backend, Add, { a, b }, {});
  const out = allocate(backend, [...a.shape]);
  const n = a.shape.reduce((p, d) => p * d, 1);
  runElementwise(backend, 'addArrays', [heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, out)], n, 3);
  return out;
}

export const addConfig: KernelConfig = {
  kernelName: Add,
  backendName: 'wasm',
  kernelFunc: add as unknown as KernelFunc,
};
