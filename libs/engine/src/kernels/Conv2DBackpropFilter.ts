/**
 * Conv2DBackpropFilter for wasm (tfjs registers none): dW = colT · dy.
 *
 * colT is the transposed im2col matrix [KH*KW*Cin, N*Ho*Wo], built by SIMD
 * copies from x transposed to [Cin, N*H*W]; dy is already [N*Ho*Wo, Cout].
 * That orientation gives XNNPACK's fully connected path many rows and a
 * small weight matrix to pack, its fast case (~30 GFLOP/s measured here,
 * against ~2 for its transposed-operand path). The product's rows are in
 * filter order (kh, kw, ci), so it is the filter gradient as is.
 *
 * The pointwise case (1x1, stride 1, channels multiples of 4; every 1x1
 * conv of NASNet's separable convs and cell inputs) skips both: a SIMD loop
 * sums x[p][ci] * dy[p][co] over pixel chunks that stay in L1, holding a
 * 4 x 8 tile of the gradient in registers. XNNPACK's fully connected path
 * is slow for that shape (K = N*H*W up to 32,768, M and N 16-64: it packs
 * a 2 MB weight matrix per call and streams both operands once per output
 * tile): 6-15 GFLOP/s with the transpose in the search child's training
 * step, against 37-41 for this loop (batch 32, 8x8x64 to 32x32x48); the
 * step's filter gradients fell from ~300 to ~110 ms.
 *
 * Other convs with output channels a multiple of 4 (the 3x3 stem) take
 * the same loop over the im2col rows, transposed to [N*Ho*Wo, rows padded
 * to a multiple of 4]: XNNPACK ran the stem's product (27 x 32,768 x 48)
 * on one thread in ~18 ms a step, the loop on two in under 3.
 *
 * Supports strides, dilations (our extension, see gradients/), 'same',
 * 'valid' and explicit padding; NHWC only.
 */
import { backend_util, Conv2DBackpropFilter, type Conv2DBackpropFilterAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { UnsupportedDataFormatError } from './errors.js';
import { partsFor, reduceParts, reductionGroups, runParts, splitRange } from './parallel.js';
import {
  allocate, heapOffset, matMul, outputRange, programsFor, release, requireFloat32, transposeOnHeap, withShape,
} from './wasm-heap.js';

/** Pixels per chunk of the pointwise loop: x and dy rows of one chunk take about this many bytes (L1 is 32-48 KB). */
const POINTWISE_CHUNK_BYTES = 16 * 1024;

type Attrs = Conv2DBackpropFilterAttrs & { dilations?: number | [number, number] };

export function conv2DBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs: { x, dy }, backend, attrs } = args;
  requireFloat32(Conv2DBackpropFilter, { x, dy });
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (dataFormat !== 'channelsLast') throw new UnsupportedDataFormatError(Conv2DBackpropFilter, attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode, false, dataFormat);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: ho, outWidth: wo, outChannels: cout } = info;
  const kh = info.filterHeight, kw = info.filterWidth;
  const positions = n * ho * wo;
  const rows = kh * kw * cin;
  const pointwise = kh === 1 && kw === 1 && info.strideHeight === 1 && info.strideWidth === 1 &&
    info.padInfo.top === 0 && info.padInfo.left === 0 && ho === h && wo === w;

  if (pointwise && cin % 4 === 0 && cout % 4 === 0) {
    // Straight from NHWC: no transpose, no matmul weight packing (see the header).
    const dw = allocate(backend, [1, 1, cin, cout], true);
    filterGradFromRows(backend, dw, heapOffset(backend, x), heapOffset(backend, dy), positions, cin, cout);
    return dw;
  }
  // im2col: the filter rows (kh, kw, ci) as rows of colT [rows, positions],
  // padded to a multiple of 4 rows when the sum loop takes it (the padding
  // rows are left as they are: their sums are never read).
  const summedByLoop = cout % 4 === 0;
  const rowsPadded = summedByLoop ? Math.ceil(rows / 4) * 4 : rows;
  let colT: TensorInfo;
  if (pointwise) {
    colT = transposeOnHeap(backend, x, positions, cin);
  } else {
    const xT = transposeOnHeap(backend, x, n * h * w, cin);
    colT = allocate(backend, [rowsPadded, positions]);
    const xTAt = heapOffset(backend, xT), colAt = heapOffset(backend, colT);
    // Planes (channel, image) are independent: each thread copies a range of them for every tap.
    const planes = cin * n;
    const tapWork = planes * (h * w + ho * wo);
    const ranges = splitRange(planes, partsFor(backend, planes, tapWork));
    for (let i = 0; i < kh; i++) {
      const hOff = i * info.dilationHeight - info.padInfo.top;
      const [ho0, ho1] = outputRange(ho, h, info.strideHeight, hOff);
      for (let j = 0; j < kw; j++) {
        const wOff = j * info.dilationWidth - info.padInfo.left;
        const [wo0, wo1] = outputRange(wo, w, info.strideWidth, wOff);
        const tapAt = colAt + (i * kw + j) * cin * positions * 4;
        runParts(backend, 'im2colTap', ranges.map(([p0, count]) => [xTAt + p0 * h * w * 4, tapAt + p0 * ho * wo * 4, count,
          h, w, ho, wo, hOff, wOff, info.strideHeight, info.strideWidth, ho0, ho1, wo0, wo1]), tapWork);
      }
    }
    release(backend, xT);
  }
  if (summedByLoop && !pointwise) {
    // The pointwise sum loop over the im2col rows [positions, rowsPadded]: for the
    // 3x3 stem conv (27 rows, 32,768 positions) 3-4x faster than XNNPACK's
    // fully connected path, which runs that long product on one thread.
    const col = transposeOnHeap(backend, colT, rowsPadded, positions);
    release(backend, colT);
    const padded = allocate(backend, [rowsPadded, cout], true);
    filterGradFromRows(backend, padded, heapOffset(backend, col), heapOffset(backend, dy), positions, rowsPadded, cout);
    release(backend, col);
    if (rowsPadded === rows) return withShape(padded, [kh, kw, cin, cout]);
    const dw = allocate(backend, [kh, kw, cin, cout]);
    programsFor(backend).copyRuns(heapOffset(backend, padded), heapOffset(backend, dw), rows * cout * 4, 1, 0, 0, 1, 0, 0);
    release(backend, padded);
    return dw;
  }
  const dw = matMul(backend, colT, dy, rows, positions, cout);
  release(backend, colT);
  return withShape(dw, [kh, kw, cin, cout]);
}

/**
 * dw[r][co] += sum over p of rowsAt[p][r] * dyAt[p][co] (rows and cout
 * multiples of 4; dw zeroed by the caller), split into reduction groups of
 * whole L1-sized pixel chunks.
 */
function filterGradFromRows(
  backend: BackendWasm, dw: TensorInfo, rowsAt: number, dyAt: number, positions: number, rows: number, cout: number,
): void {
  const chunk = Math.max(4, Math.floor(POINTWISE_CHUNK_BYTES / ((rows + cout) * 4)));
  // A sum over every pixel: in groups fixed by the size (parallel.ts), whole chunks each.
  const work = positions * (rows + cout);
  const groups = splitRange(positions, reductionGroups(Math.ceil(positions / chunk), work), chunk);
  reduceParts(backend, 'pointwiseFilterGrad', [{ tensor: dw, at: heapOffset(backend, dw), floats: rows * cout }], groups.length,
    (g, [acc]) => [acc!, rowsAt + groups[g]![0] * rows * 4, dyAt + groups[g]![0] * cout * 4, groups[g]![1], rows, cout, chunk], work);
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
