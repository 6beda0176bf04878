/**
 * DepthwiseConv2dNativeBackpropInput for wasm (tfjs registers none).
 *
 * - stride 1: dx is the depthwise convolution of dy with the spatially
 *   flipped filter, padded by (K-1)*d - pad; it runs on our forward SIMD
 *   loops (sums in registers; see depthwise-forward.ts).
 * - stride > 1: SIMD scatter, one dy row at a time: each tap's weights sit
 *   in registers while dx[input pixel] += W[tap] * dy[pixel] along the row.
 *
 * Channel multiplier 1 (NASNet's separable convs); larger multipliers use
 * plain JS.
 */
import {
  backend_util, DepthwiseConv2dNativeBackpropInput, type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig, type KernelFunc, type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseForward } from './depthwise-forward.js';
import { depthwiseInputGradReference } from './depthwise-reference.js';
import { partsFor, runParts, splitRange } from './parallel.js';
import {
  allocate, columnTable, f32, geometryOf, heapOffset, release, requireFloat32, windowTables,
} from './wasm-heap.js';

export function depthwiseConv2dNativeBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs: { dy, filter }, backend, attrs } = args;
  requireFloat32(DepthwiseConv2dNativeBackpropInput, { dy, filter });
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode, true);
  const { filterHeight: kh, filterWidth: kw, inChannels: c } = info;
  const padTop = (kh - 1) * info.dilationHeight - info.padInfo.top;
  const padLeft = (kw - 1) * info.dilationWidth - info.padInfo.left;

  if (info.outChannels !== c) {
    const dx = allocate(backend, [...attrs.inputShape], true);
    depthwiseInputGradReference(info, f32(backend, filter), f32(backend, dy), f32(backend, dx));
    return dx;
  }
  if (info.strideHeight === 1 && info.strideWidth === 1 && padTop >= 0 && padLeft >= 0) {
    const flipped = allocate(backend, [kh, kw, c, 1]);
    const dx = allocate(backend, [...attrs.inputShape]);
    const src = f32(backend, filter), dst = f32(backend, flipped);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        dst.set(src.subarray(((kh - 1 - i) * kw + (kw - 1 - j)) * c, ((kh - 1 - i) * kw + (kw - j)) * c), (i * kw + j) * c);
      }
    }
    depthwiseForward(backend, dx, dy, flipped, {
      inHeight: info.outHeight, inWidth: info.outWidth, outHeight: info.inHeight, outWidth: info.inWidth,
      filterHeight: kh, filterWidth: kw, strideHeight: 1, strideWidth: 1,
      dilationHeight: info.dilationHeight, dilationWidth: info.dilationWidth, padTop, padLeft,
    }, info.batchSize, c);
    release(backend, flipped);
    return dx;
  }
  const dx = allocate(backend, [...attrs.inputShape], true);
  const geometry = geometryOf(info);
  const rows = windowTables(backend, geometry);
  const cols = columnTable(backend, geometry);
  // Images are independent: each thread takes a range of the batch.
  const n = info.batchSize;
  const inImage = info.inHeight * info.inWidth * c * 4, outImage = info.outHeight * info.outWidth * c * 4;
  const dxAt = heapOffset(backend, dx), wAt = heapOffset(backend, filter), dyAt = heapOffset(backend, dy);
  const rowsAt = heapOffset(backend, rows), colsAt = heapOffset(backend, cols);
  const work = n * (inImage + outImage * kh * kw) / 4;
  runParts(backend, 'dwInputGrad', splitRange(n, partsFor(backend, n, work)).map(([b0, count]) =>
    [dxAt + b0 * inImage, wAt, dyAt + b0 * outImage, rowsAt, count, info.inHeight, info.inWidth, info.outHeight, info.outWidth,
      c, kw, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left, colsAt]), work);
  release(backend, rows, cols);
  return dx;
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
};
