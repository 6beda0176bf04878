/**
 * PadV2 (constant padding) for wasm: fill the output with the constant,
 * then copy x into its interior box with our SIMD strided copy. tfjs-wasm's
 * C++ kernel walks every output element through index arithmetic; NASNet
 * pads for its 'same' average pools and the factorized reduction's shift,
 * and PadV2 is also the gradient of every Slice. Strings go to tfjs's kernel.
 */
import { PadV2, type KernelConfig, type KernelFunc, type NamedAttrMap, type PadV2Attrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyBox, onHeap } from './copy-region.js';
import { allocate, runBackendKernel } from './wasm-heap.js';

export function padV2(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: PadV2Attrs }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  if (!onHeap(x.dtype)) return runBackendKernel(backend, PadV2, { x }, attrs as unknown as NamedAttrMap);
  const { paddings, constantValue } = attrs;
  const outShape = x.shape.map((n, i) => (paddings[i] as [number, number])[0] + n + (paddings[i] as [number, number])[1]);
  // Zero (NASNet's only pad value) comes zeroed from allocate; -0 and the rest go through the dtype's
  // typed array, the fill rule of tfjs's cpu kernel.
  const zero = Object.is(constantValue, 0);
  const out = allocate(backend, outShape, zero, x.dtype);
  if (!zero) backend.typedArrayFromHeap(out).fill(constantValue);
  copyBox(backend, x, x.shape.map(() => 0), out, paddings.map((p) => p[0]), x.shape);
  return out;
}

export const padV2Config: KernelConfig = {
  kernelName: PadV2,
  backendName: 'wasm',
  kernelFunc: padV2 as unknown as KernelFunc,
};
