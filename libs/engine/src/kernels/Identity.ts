/**
 * Identity for wasm without a copy: the output is a new reference to the
 * input's data, as tfjs's cpu backend (and tfjs-wasm's own Reshape) do.
 *
 * Why: tfjs's engine clones every tensor it saves for the backward pass
 * through this kernel, ~2,500 times per step of the NASNet search child;
 * tfjs-wasm copies each one (85-100 ms per step measured) and holds the
 * copies on the heap until the step ends: sharing took the child's heap
 * from 2.6 to 1.75 GB at F0 = 16, and F0 = 32 (3.4 GB) now fits in wasm32's
 * 4 GiB. Tensors are immutable and no wasm kernel (tfjs's or ours) writes
 * into its inputs, so sharing is safe.
 * Strings go to tfjs's kernel.
 */
import { Identity, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { onHeap } from './copy-region.js';
import { runBackendKernel } from './wasm-heap.js';

export function identity(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (!onHeap(x.dtype)) return runBackendKernel(backend, Identity, { x }, {});
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};
