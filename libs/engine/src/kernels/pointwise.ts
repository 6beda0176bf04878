/**
 * The pointwise (1x1, stride 1, unpadded) convolution on wasm: NASNet's
 * most frequent conv (every separable conv ends in one, every cell input
 * starts with one). Over NHWC data it is a product [N*H*W, Cin] x
 * [Cin, Cout] with a long first dimension and a small second and third,
 * and our SIMD loop (`pointwiseConv` in simd/pointwise-programs.ts) measured
 * 1.2-1.65x XNNPACK's Conv2D at the search child's shapes (32-41 against
 * 22-31 GFLOP/s, batch 32, 8x8x64 to 32x32x96), with bit-identical sums.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, heapOffset } from './wasm-heap.js';

/** Whether a conv of this geometry is pointwise and NHWC (our loop also needs its output channels to be a multiple of 4). */
export function isPointwise(info: backend_util.Conv2DInfo): boolean {
  const p = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1 &&
    p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0 &&
    info.outHeight === info.inHeight && info.outWidth === info.inWidth && info.dataFormat === 'channelsLast';
}

/**
 * out = x · w (+ bias, then ReLU when asked) for x [.., Cin] and w read as
 * [Cin, Cout]; `outShape` is x's shape with Cout channels.
 */
export function pointwiseConv(
  backend: BackendWasm, x: TensorInfo, w: TensorInfo, cin: number, cout: number, outShape: number[],
  bias: TensorInfo | null = null, relu = false,
): TensorInfo {
  const out = allocate(backend, outShape);
  const pixels = outShape.reduce((a, b) => a * b, 1) / cout;
  const outAt = heapOffset(backend, out), xAt = heapOffset(backend, x), wAt = heapOffset(backend, w);
  const biasAt = bias ? heapOffset(backend, bias) : 0;
  // Pixels are independent: each thread takes a range of rows (multiples of the loop's 4-pixel tile).
  const work = pixels * (cin + cout);
  runParts(backend, 'pointwiseConv', splitRange(pixels, partsFor(backend, pixels, work), 4).map(([p0, count]) =>
    [outAt + p0 * cout * 4, xAt + p0 * cin * 4, wAt, count, cin, cout, biasAt, bias ? 1 : 0, relu ? 1 : 0]), work);
  return out;
}
