/**
 * MaxPoolGrad for wasm, replacing tfjs's C++ loop (30-60x slower than the
 * forward pool here). Each window's gradient goes to the first input, in
 * row-major order, equal to the pooled output: the position tfjs's cpu
 * kernel picks (first strict maximum), so ties after a ReLU route the same.
 * SIMD over 4 channels; windows are clipped to the input ('same' padding
 * never wins).
 */
import { backend_util, MaxPoolGrad, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, geometryOf, heapOffset, release, requireFloat32, windowTables } from './wasm-heap.js';

export function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo }; backend: BackendWasm; attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs: { dy, input, output }, backend, attrs } = args;
  requireFloat32(MaxPoolGrad, { dy, input, output });
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const dx = allocate(backend, [...input.shape], true);
  const tables = windowTables(backend, geometryOf({ ...info, dilationHeight: 1, dilationWidth: 1 }));
  // Images are independent: each thread takes a range of the batch.
  const n = info.batchSize, c = info.inChannels;
  const inImage = info.inHeight * info.inWidth * c * 4, outImage = info.outHeight * info.outWidth * c * 4;
  const dxAt = heapOffset(backend, dx), xAt = heapOffset(backend, input), yAt = heapOffset(backend, output);
  const dyAt = heapOffset(backend, dy), tablesAt = heapOffset(backend, tables);
  const taps = info.filterHeight * info.filterWidth;
  const work = n * (2 * inImage + 2 * outImage * taps) / 4;
  runParts(backend, 'maxPoolGrad', splitRange(n, partsFor(backend, n, work)).map(([b0, count]) =>
    [dxAt + b0 * inImage, xAt + b0 * inImage, yAt + b0 * outImage, dyAt + b0 * outImage, tablesAt, count,
      info.inHeight, info.inWidth, info.outHeight, info.outWidth, c, info.filterWidth, info.strideHeight, info.strideWidth,
      info.padInfo.top, info.padInfo.left]), work);
  release(backend, tables);
  return dx;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
