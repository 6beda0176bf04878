/**
 * AvgPoolGrad for wasm, replacing tfjs's C++ loop (15-30x slower than the
 * forward pool here).
 *
 * Each window spreads dy / (number of taps inside the input). That is the
 * true gradient of tfjs's forward AvgPool, which averages over in-bounds
 * taps only (TensorFlow's AvgPool semantics). tfjs's own AvgPoolGrad
 * kernels divide by the full window size, which is wrong at 'same'-padded
 * borders; with 'valid' padding both agree.
 *
 * Stride 1 without padding (NASNet's 'same' average pools run as a 'valid'
 * pool over a zero-padded input, see @nasnet/network) divides every window
 * by KH*KW, so dx is a depthwise convolution of dy, padded by K-1, with a
 * constant 1/(KH*KW) filter: it runs our depthwise forward loops (see
 * depthwise-forward.ts): 1.6-2.7x faster than the scatter loop below
 * (3x3, batch 32: 0.65 against 1.78 ms at 34x34x16).
 */
import { AvgPoolGrad, backend_util, type AvgPoolGradAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseForward } from './depthwise-forward.js';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, f32, geometryOf, heapOffset, release, requireFloat32, windowTables } from './wasm-heap.js';

export function avgPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo }; backend: BackendWasm; attrs: AvgPoolGradAttrs;
}): TensorInfo {
  const { inputs: { dy, input }, backend, attrs } = args;
  requireFloat32(AvgPoolGrad, { dy, input });
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad);
  const unpadded = info.padInfo.top === 0 && info.padInfo.left === 0 && info.padInfo.bottom === 0 && info.padInfo.right === 0;
  if (info.strideHeight === 1 && info.strideWidth === 1 && unpadded) {
    const kh = info.filterHeight, kw = info.filterWidth, c = info.inChannels;
    const filter = allocate(backend, [kh, kw, c, 1]);
    const dx = allocate(backend, [...input.shape]);
    f32(backend, filter).fill(1 / (kh * kw));
    depthwiseForward(backend, dx, dy, filter, {
      inHeight: info.outHeight, inWidth: info.outWidth, outHeight: info.inHeight, outWidth: info.inWidth,
      filterHeight: kh, filterWidth: kw, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
      padTop: kh - 1, padLeft: kw - 1,
    }, info.batchSize, c);
    release(backend, filter);
    return dx;
  }
  const dx = allocate(backend, [...input.shape], true);
  const tables = windowTables(backend, geometryOf({ ...info, dilationHeight: 1, dilationWidth: 1 }));
  // Images are independent: each thread takes a range of the batch.
  const n = info.batchSize, c = info.inChannels;
  const inImage = info.inHeight * info.inWidth * c * 4, outImage = info.outHeight * info.outWidth * c * 4;
  const dxAt = heapOffset(backend, dx), dyAt = heapOffset(backend, dy), tablesAt = heapOffset(backend, tables);
  const taps = info.filterHeight * info.filterWidth;
  const work = n * (inImage + outImage * taps) / 4;
  runParts(backend, 'avgPoolGrad', splitRange(n, partsFor(backend, n, work)).map(([b0, count]) =>
    [dxAt + b0 * inImage, 0, dyAt + b0 * outImage, tablesAt, count, info.inHeight, info.inWidth, info.outHeight, info.outWidth,
      c, info.filterWidth, info.strideHeight, info.strideWidth, 1, 1, info.padInfo.top, info.padInfo.left]), work);
  release(backend, tables);
  return dx;
}

export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as KernelFunc,
};
