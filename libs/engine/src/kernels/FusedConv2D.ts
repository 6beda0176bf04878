/**
 * FusedConv2D for wasm (tfjs-layers' conv2d runs it): pointwise convs
 * (see pointwise.ts) with no activation or ReLU and an optional rank-1
 * bias run our SIMD loop, bias and ReLU applied in registers; every other
 * case runs tfjs's own XNNPACK kernel.
 */
import {
  backend_util, FusedConv2D, type FusedConv2DAttrs, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isPointwise, pointwiseConv } from './pointwise.js';
import { runBackendKernel } from './wasm-heap.js';

interface Inputs { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }

export function fusedConv2D(args: { inputs: Inputs; backend: BackendWasm; attrs: FusedConv2DAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs;
  const activation = attrs.activation ?? 'linear';
  if (x.dtype === 'float32' && filter.dtype === 'float32' && attrs.dataFormat !== 'NCHW' && preluActivationWeights == null &&
    (activation === 'linear' || activation === 'relu')) {
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides,
      attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode);
    const biasFits = bias == null || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === info.outChannels);
    if (isPointwise(info) && info.outChannels % 4 === 0 && biasFits) {
      return pointwiseConv(backend, x, filter, info.inChannels, info.outChannels, info.outShape, bias ?? null, activation === 'relu');
    }
  }
  return runBackendKernel(backend, FusedConv2D, inputs as unknown as Record<string, TensorInfo>, attrs as unknown as NamedAttrMap);
}

export const fusedConv2DConfig: KernelConfig = {
  kernelName: FusedConv2D,
  backendName: 'wasm',
  kernelFunc: fusedConv2D as unknown as KernelFunc,
};
