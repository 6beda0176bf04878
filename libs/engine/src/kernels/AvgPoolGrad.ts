/**
 * AvgPoolGrad for wasm, replacing tfjs's C++ loop (15-30x slower than the
 * forward pool here).
 *
 * Each window spreads dy / (number of taps inside the input). That is the
 * true gradient of tfjs's forward AvgPool, which averages over in-bounds
 * taps only (TensorFlow's AvgPool semantics). tfjs's own AvgPoolGrad
 * kernels divide by the full window size, which is wrong at 'same'-padded
 * borders; with 'valid' padding both agree.
 */
import { AvgPoolGrad, backend_util, type AvgPoolGradAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, geometryOf, heapOffset, programsFor, release, requireFloat32, windowTables } from './wasm-heap.js';

export function avgPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo }; backend: BackendWasm; attrs: AvgPoolGradAttrs;
}): TensorInfo {
  const { inputs: { dy, input }, backend, attrs } = args;
  requireFloat32(AvgPoolGrad, { dy, input });
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad);
  const dx = allocate(backend, [...input.shape], true);
  const tables = windowTables(backend, geometryOf({ ...info, dilationHeight: 1, dilationWidth: 1 }));
  programsFor(backend).avgPoolGrad(heapOffset(backend, dx), 0, heapOffset(backend, dy), heapOffset(backend, tables),
    info.batchSize, info.inHeight, info.inWidth, info.outHeight, info.outWidth, info.inChannels, info.filterWidth,
    info.strideHeight, info.strideWidth, 1, 1, info.padInfo.top, info.padInfo.left);
  release(backend, tables);
  return dx;
}

export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as KernelFunc,
};
