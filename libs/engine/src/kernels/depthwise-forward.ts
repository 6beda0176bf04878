/**
 * The depthwise forward pass (channel multiplier 1, NHWC) shared by
 * DepthwiseConv2dNative and the stride-1 DepthwiseConv2dNativeBackpropInput:
 * the interior of the output (whole windows inside the input: 77% of a
 * 32x32 output for a 5x5 filter) runs `dwForwardInterior`, three pixels
 * at a time with no bounds; the border runs the generic `dwForward` loop
 * with its per-pixel tap bounds.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { partsFor, runParts, splitRange } from './parallel.js';
import { heapOffset, release, windowTables, type WindowGeometry } from './wasm-heap.js';

/** The output box [ohA, ohB) x [owA, owB) whose windows lie wholly inside the input. */
export interface InteriorBox { ohA: number; ohB: number; owA: number; owB: number }

function axisInterior(out: number, size: number, filter: number, stride: number, dilation: number, pad: number): [number, number] {
  // First o with o*s - pad >= 0; last with o*s - pad + (k-1)*d <= size - 1.
  const lo = Math.min(out, Math.ceil(pad / stride));
  const hi = Math.min(out, Math.floor((size - 1 + pad - (filter - 1) * dilation) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

export function interiorBox(g: WindowGeometry): InteriorBox {
  const [ohA, ohB] = axisInterior(g.outHeight, g.inHeight, g.filterHeight, g.strideHeight, g.dilationHeight, g.padTop);
  const [owA, owB] = axisInterior(g.outWidth, g.inWidth, g.filterWidth, g.strideWidth, g.dilationWidth, g.padLeft);
  return ohB > ohA && owB > owA ? { ohA, ohB, owA, owB } : { ohA: 0, ohB: 0, owA: 0, owB: 0 };
}

/** out (uninitialised, [n, Ho, Wo, c]) = depthwise conv of x ([n, H, W, c]) with filter [KH, KW, c, 1]. */
export function depthwiseForward(
  backend: BackendWasm, out: TensorInfo, x: TensorInfo, filter: TensorInfo, g: WindowGeometry, n: number, c: number,
): void {
  // The interior loop needs whole vectors of channels; otherwise the generic loop does everything.
  const box = c % 4 === 0 ? interiorBox(g) : { ohA: 0, ohB: 0, owA: 0, owB: 0 };
  const tables = windowTables(backend, g);
  const outAt = heapOffset(backend, out), xAt = heapOffset(backend, x), wAt = heapOffset(backend, filter);
  const tablesAt = heapOffset(backend, tables);
  // Images are independent: each thread takes a range of the batch, border and interior both.
  const inImage = g.inHeight * g.inWidth * c * 4, outImage = g.outHeight * g.outWidth * c * 4;
  const work = n * (inImage + outImage * g.filterHeight * g.filterWidth) / 4;
  const ranges = splitRange(n, partsFor(backend, n, work));
  runParts(backend, 'dwForward', ranges.map(([b0, count]) => [outAt + b0 * outImage, xAt + b0 * inImage, wAt, tablesAt,
    count, g.inHeight, g.inWidth, g.outHeight, g.outWidth, c, g.filterWidth, g.strideHeight, g.strideWidth,
    g.dilationHeight, g.dilationWidth, g.padTop, g.padLeft, box.ohA, box.ohB, box.owA, box.owB]), work);
  release(backend, tables);
  if (box.ohB > box.ohA) {
    runParts(backend, 'dwForwardInterior', ranges.map(([b0, count]) => [outAt + b0 * outImage, xAt + b0 * inImage, wAt,
      count, g.inHeight, g.inWidth, g.outHeight, g.outWidth, c, g.filterHeight, g.filterWidth, g.strideHeight,
      g.strideWidth, g.dilationHeight, g.dilationWidth, g.padTop, g.padLeft, box.ohA, box.ohB, box.owA, box.owB]), work);
  }
}
