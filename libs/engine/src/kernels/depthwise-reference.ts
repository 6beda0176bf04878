/**
 * Plain-JS depthwise gradients for a channel multiplier above 1, which the
 * NASNet ops never use (separable convs have multiplier 1) but tfjs allows.
 * Straight loops over the heap views; correctness over speed.
 */
import type { backend_util } from '@tensorflow/tfjs-core';
import { tapRange } from './wasm-heap.js';

type Info = backend_util.Conv2DInfo;

function forEachTap(info: Info, visit: (b: number, oh: number, ow: number, i: number, j: number, ih: number, iw: number) => void): void {
  for (let b = 0; b < info.batchSize; b++) {
    for (let oh = 0; oh < info.outHeight; oh++) {
      const [i0, i1] = tapRange(oh, info.inHeight, info.filterHeight, info.strideHeight, info.dilationHeight, info.padInfo.top);
      for (let ow = 0; ow < info.outWidth; ow++) {
        const [j0, j1] = tapRange(ow, info.inWidth, info.filterWidth, info.strideWidth, info.dilationWidth, info.padInfo.left);
        for (let i = i0; i < i1; i++) {
          const ih = oh * info.strideHeight - info.padInfo.top + i * info.dilationHeight;
          for (let j = j0; j < j1; j++) {
            visit(b, oh, ow, i, j, ih, ow * info.strideWidth - info.padInfo.left + j * info.dilationWidth);
          }
        }
      }
    }
  }
}

/** dW[i][j][c][m] += x[b][ih][iw][c] * dy[b][oh][ow][c*mult + m]. */
export function depthwiseFilterGradReference(info: Info, x: Float32Array, dy: Float32Array, dw: Float32Array): void {
  const cin = info.inChannels, cout = info.outChannels, mult = cout / cin;
  dw.fill(0);
  forEachTap(info, (b, oh, ow, i, j, ih, iw) => {
    const xp = ((b * info.inHeight + ih) * info.inWidth + iw) * cin;
    const dp = ((b * info.outHeight + oh) * info.outWidth + ow) * cout;
    const fp = (i * info.filterWidth + j) * cout;
    for (let k = 0; k < cout; k++) dw[fp + k] += x[xp + Math.floor(k / mult)] * dy[dp + k];
  });
}

/** dx[b][ih][iw][c] += w[i][j][c][m] * dy[b][oh][ow][c*mult + m]. */
export function depthwiseInputGradReference(info: Info, w: Float32Array, dy: Float32Array, dx: Float32Array): void {
  const cin = info.inChannels, cout = info.outChannels, mult = cout / cin;
  dx.fill(0);
  forEachTap(info, (b, oh, ow, i, j, ih, iw) => {
    const xp = ((b * info.inHeight + ih) * info.inWidth + iw) * cin;
    const dp = ((b * info.outHeight + oh) * info.outWidth + ow) * cout;
    const fp = (i * info.filterWidth + j) * cout;
    for (let k = 0; k < cout; k++) dx[xp + Math.floor(k / mult)] += w[fp + k] * dy[dp + k];
  });
}
