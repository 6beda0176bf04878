/**
 * Slice for wasm, replacing tfjs-wasm's JavaScript loop (one
 * `TypedArray.set` per innermost run, 32,768 calls for one NHWC channel
 * slice of a 32x32x32 batch). Any rank and any box: the box collapses to
 * contiguous runs and at most a few strided levels (see copy-region.ts),
 * which our SIMD loop copies. Strings go to tfjs's kernel.
 */
import { Slice, slice_util, type KernelConfig, type KernelFunc, type NamedAttrMap, type SliceAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyBox, onHeap } from './copy-region.js';
import { allocate, runBackendKernel } from './wasm-heap.js';

export function slice(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: SliceAttrs }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  if (!onHeap(x.dtype)) return runBackendKernel(backend, Slice, { x }, attrs as unknown as NamedAttrMap);
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  const out = allocate(backend, size, false, x.dtype);
  copyBox(backend, x, begin, out, size.map(() => 0), size);
  return out;
}

export const sliceConfig: KernelConfig = {
  kernelName: Slice,
  backendName: 'wasm',
  kernelFunc: slice as unknown as KernelFunc,
};
