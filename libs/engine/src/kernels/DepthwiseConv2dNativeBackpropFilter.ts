/**
 * DepthwiseConv2dNativeBackpropFilter for wasm (tfjs registers none).
 *
 * SIMD, one dy row at a time: for each (row, tap) the products x * dy are
 * summed along the row in registers (16 channels at a time) and added to
 * the tap's gradient once. x and dy rows stay in L1 across the taps.
 * Strides, dilation and any padding; channel multiplier 1 (NASNet's
 * separable convs); larger multipliers use plain JS.
 */
import {
  backend_util, DepthwiseConv2dNativeBackpropFilter, type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig, type KernelFunc, type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseFilterGradReference } from './depthwise-reference.js';
import { reduceParts, reductionGroups, splitRange } from './parallel.js';
import {
  allocate, columnTable, f32, geometryOf, heapOffset, release, requireFloat32, windowTables,
} from './wasm-heap.js';

export function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo }; backend: BackendWasm; attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs: { x, dy }, backend, attrs } = args;
  requireFloat32(DepthwiseConv2dNativeBackpropFilter, { x, dy });
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode, true);
  const dw = allocate(backend, [...attrs.filterShape], true);
  if (info.outChannels !== info.inChannels) {
    depthwiseFilterGradReference(info, f32(backend, x), f32(backend, dy), f32(backend, dw));
    return dw;
  }
  const geometry = geometryOf(info);
  const rows = windowTables(backend, geometry);
  const cols = columnTable(backend, geometry);
  // A sum over every image: in groups of images fixed by the size (parallel.ts).
  const n = info.batchSize, c = info.inChannels, taps = info.filterHeight * info.filterWidth;
  const inImage = info.inHeight * info.inWidth * c * 4, outImage = info.outHeight * info.outWidth * c * 4;
  const work = n * (inImage + outImage * taps) / 4;
  const groups = splitRange(n, reductionGroups(n, work));
  const xAt = heapOffset(backend, x), dyAt = heapOffset(backend, dy), rowsAt = heapOffset(backend, rows), colsAt = heapOffset(backend, cols);
  reduceParts(backend, 'dwFilterGrad', [{ tensor: dw, at: heapOffset(backend, dw), floats: taps * c }], groups.length,
    (g, [acc]) => [acc!, xAt + groups[g]![0] * inImage, dyAt + groups[g]![0] * outImage, rowsAt, groups[g]![1],
      info.inHeight, info.inWidth, info.outHeight, info.outWidth, c, info.filterWidth, info.strideHeight, info.strideWidth,
      info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left, colsAt], work);
  release(backend, rows, cols);
  return dw;
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
};
