/**
 * Cast for wasm. To the same dtype it is a new reference to the input's
 * data (no copy, see Identity.ts): the gradient of every clone the engine
 * saves for the backward pass is such a float32 -> float32 cast. To bool it
 * tests `!= 0` as tfjs's cpu backend does (tfjs-wasm's own stores the
 * number modulo 256, so 256 and -0.5 became false and 2.7 became 2). Other
 * casts go to tfjs's kernel.
 */
import { Cast, type CastAttrs, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { onHeap } from './copy-region.js';
import { allocate, runBackendKernel } from './wasm-heap.js';

export function cast(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: CastAttrs }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  if (onHeap(x.dtype) && attrs.dtype === x.dtype) {
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }
  if (onHeap(x.dtype) && attrs.dtype === 'bool') {
    const out = allocate(backend, [...x.shape], false, 'bool');
    const from = backend.typedArrayFromHeap(x), to = backend.typedArrayFromHeap(out);
    for (let i = 0; i < from.length; i++) to[i] = from[i] !== 0 ? 1 : 0;
    return out;
  }
  return runBackendKernel(backend, Cast, { x }, attrs as unknown as NamedAttrMap);
}

export const castConfig: KernelConfig = {
  kernelName: Cast,
  backendName: 'wasm',
  kernelFunc: cast as unknown as KernelFunc,
};
