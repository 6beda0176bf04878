/**
 * Helpers for dilated-convolution gradients, which tfjs 4.22 refuses
 * ("dilation rates greater than 1 are not yet supported in gradients").
 *
 * A convolution with dilation d equals a dilation-1 convolution with the
 * filter spread out by zeros ((K-1)*d + 1 taps per axis); 'same' and
 * 'valid' padding are computed from that same effective size. So any
 * backend can take the gradient through the spread filter, and the filter
 * gradient is the spread gradient sampled every d taps. Our wasm kernels
 * take `dilations` directly and skip the zeros.
 */
import { getKernel, getBackend, pad, reshape, slice, stridedSlice, tidy, type Tensor4D } from '@tensorflow/tfjs-core';
import { isTrainingKernel } from '../training-kernels.js';

export function dilationPair(dilations: number | [number, number] | undefined | null): [number, number] {
  if (dilations == null) return [1, 1];
  return typeof dilations === 'number' ? [dilations, dilations] : [dilations[0], dilations[1]];
}

/** Whether the active backend's kernel takes `dilations` itself (ours on wasm do). */
export function backendTakesDilations(kernelName: string): boolean {
  const kernel = getKernel(kernelName, getBackend());
  return kernel != null && isTrainingKernel(kernel.kernelFunc);
}

/** Filter [KH, KW, I, O] spread to [(KH-1)*dh + 1, (KW-1)*dw + 1, I, O] with zeros between taps. */
export function spreadFilter(filter: Tensor4D, dh: number, dw: number): Tensor4D {
  return tidy((): Tensor4D => {
    const [kh, kw, i, o] = filter.shape;
    const rowsSpread = reshape(pad(reshape(filter, [kh, 1, kw * i * o]), [[0, 0], [0, dh - 1], [0, 0]]), [kh * dh, kw * i * o]);
    const rows = slice(rowsSpread, [0, 0], [(kh - 1) * dh + 1, kw * i * o]);
    const khe = (kh - 1) * dh + 1;
    const colsSpread = reshape(pad(reshape(rows, [khe, kw, 1, i * o]), [[0, 0], [0, 0], [0, dw - 1], [0, 0]]), [khe, kw * dw, i, o]);
    return slice(colsSpread as Tensor4D, [0, 0, 0, 0], [khe, (kw - 1) * dw + 1, i, o]);
  });
}

/** Every d-th tap of a spread filter gradient: back to [KH, KW, I, O]. */
export function sampleSpread(spread: Tensor4D, dh: number, dw: number): Tensor4D {
  const [khe, kwe, i, o] = spread.shape;
  return stridedSlice(spread, [0, 0, 0, 0], [khe, kwe, i, o], [dh, dw, 1, 1]) as Tensor4D;
}
