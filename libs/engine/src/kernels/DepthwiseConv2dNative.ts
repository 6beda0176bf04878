/**
 * DepthwiseConv2dNative (forward) for wasm, replacing XNNPACK's for
 * channel multiplier 1: our SIMD loops keep 16 channels of sums in
 * registers across the taps (see depthwise-forward.ts); the generic loop
 * alone measured 11-19 GFLOP/s here against XNNPACK's 7-12 for 3x3 and
 * 5x5 and 1.9 for 7x7 (which NASNet's sep_conv7x7 runs twice per use).
 * Other multipliers go to tfjs's kernel.
 */
import {
  backend_util, DepthwiseConv2dNative, type DepthwiseConv2dNativeAttrs, type KernelConfig, type KernelFunc,
  type NamedAttrMap, type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseForward } from './depthwise-forward.js';
import { allocate, geometryOf, requireFloat32, runBackendKernel } from './wasm-heap.js';

export function depthwiseConv2dNative(args: {
  inputs: { x: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: DepthwiseConv2dNativeAttrs;
}): TensorInfo {
  const { inputs: { x, filter }, backend, attrs } = args;
  requireFloat32(DepthwiseConv2dNative, { x, filter });
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides,
    attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true);
  if (info.outChannels !== info.inChannels) {
    return runBackendKernel(backend, DepthwiseConv2dNative, { x, filter }, attrs as unknown as NamedAttrMap);
  }
  const out = allocate(backend, info.outShape as number[]);
  depthwiseForward(backend, out, x, filter, geometryOf(info), info.batchSize, info.inChannels);
  return out;
}

export const depthwiseConv2dNativeConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNative,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNative as unknown as KernelFunc,
};
