/**
 * SplitV for wasm (tfjs's concat gradient is a split, so every NASNet
 * cell output's gradient passes here). tfjs-wasm's own
 * calls its JavaScript Slice per part; ours copies all parts in one
 * interleaved SIMD pass over x when they are channel slices, else part by
 * part (copy-region.ts).
 */
import { backend_util, SplitV, util, type KernelConfig, type KernelFunc, type NamedAttrMap, type SplitVAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyBoxes, onHeap } from './copy-region.js';
import { allocate, runBackendKernel } from './wasm-heap.js';

export function splitV(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: SplitVAttrs }): TensorInfo[] {
  const { inputs: { x }, backend, attrs } = args;
  if (!onHeap(x.dtype)) return runBackendKernel(backend, SplitV, { x }, attrs as unknown as NamedAttrMap) as unknown as TensorInfo[];
  const axis = util.parseAxisParam(attrs.axis, x.shape)[0] as number;
  const sizes = backend_util.prepareSplitSize(x, attrs.numOrSizeSplits, axis);
  const outs = sizes.map((s) => allocate(backend, x.shape.map((n, i) => (i === axis ? s : n)), false, x.dtype));
  let at = 0;
  copyBoxes(backend, outs.map((out) => {
    const srcStart = x.shape.map((_, i) => (i === axis ? at : 0));
    at += out.shape[axis] as number;
    return { from: x, srcStart, to: out, dstStart: out.shape.map(() => 0), shape: out.shape };
  }));
  return outs;
}

export const splitVConfig: KernelConfig = {
  kernelName: SplitV,
  backendName: 'wasm',
  kernelFunc: splitV as unknown as KernelFunc,
};
