/**
 * Concat for wasm, replacing tfjs-wasm's JavaScript loop (one
 * `TypedArray.set` per input per outer index: 32,768 x 6 calls for a NASNet
 * cell output on a 32x32 batch of 32). Each input is one box of the output:
 * on the last axis (NHWC channels) one strided level of runs, and all
 * inputs go in one interleaved pass over the output; on other axes a few
 * long runs per input. Our SIMD copies move them (copy-region.ts). A single
 * non-empty input is returned as is (a new reference, no copy). Strings
 * and mixed dtypes go to tfjs's kernel.
 */
import { backend_util, Concat, util, type ConcatAttrs, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyBoxes, onHeap } from './copy-region.js';
import { allocate, runBackendKernel } from './wasm-heap.js';

export function concat(args: { inputs: TensorInfo[]; backend: BackendWasm; attrs: ConcatAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const first = inputs[0] as TensorInfo;
  const dtype = first.dtype;
  if (!onHeap(dtype) || inputs.some((t) => t.dtype !== dtype)) {
    return runBackendKernel(backend, Concat, inputs as unknown as Record<string, TensorInfo>, attrs as unknown as NamedAttrMap);
  }
  const axis = util.parseAxisParam(attrs.axis, first.shape)[0] as number;
  const shapes = inputs.map((t) => t.shape);
  backend_util.assertParamsConsistent(shapes, axis);
  const outShape = backend_util.computeOutShape(shapes, axis);
  const parts = inputs.filter((t) => util.sizeFromShape(t.shape) > 0);
  if (parts.length === 1) {
    backend.incRef((parts[0] as TensorInfo).dataId);
    return { dataId: (parts[0] as TensorInfo).dataId, shape: outShape, dtype };
  }
  const out = allocate(backend, outShape, false, dtype);
  let at = 0;
  copyBoxes(backend, parts.map((t) => {
    const dstStart = outShape.map((_, i) => (i === axis ? at : 0));
    at += t.shape[axis] as number;
    return { from: t, srcStart: t.shape.map(() => 0), to: out, dstStart, shape: t.shape };
  }));
  return out;
}

export const concatConfig: KernelConfig = {
  kernelName: Concat,
  backendName: 'wasm',
  kernelFunc: concat as unknown as KernelFunc,
};
