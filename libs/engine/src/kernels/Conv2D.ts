/**
 * Conv2D for wasm: pointwise convs (1x1, stride 1, unpadded, Cout a
 * multiple of 4) run our SIMD loop (see pointwise.ts); every other conv
 * runs tfjs's own XNNPACK kernel.
 */
import { backend_util, Conv2D, type Conv2DAttrs, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isPointwise, pointwiseConv } from './pointwise.js';
import { runBackendKernel } from './wasm-heap.js';

export function conv2D(args: { inputs: { x: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: Conv2DAttrs }): TensorInfo {
  const { inputs: { x, filter }, backend, attrs } = args;
  if (x.dtype === 'float32' && filter.dtype === 'float32' && attrs.dataFormat !== 'NCHW') {
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides,
      attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode);
    if (isPointwise(info) && info.outChannels % 4 === 0) return pointwiseConv(backend, x, filter, info.inChannels, info.outChannels, info.outShape);
  }
  return runBackendKernel(backend, Conv2D, { x, filter }, attrs as unknown as NamedAttrMap);
}

export const conv2DConfig: KernelConfig = {
  kernelName: Conv2D,
  backendName: 'wasm',
  kernelFunc: conv2D as unknown as KernelFunc,
};
