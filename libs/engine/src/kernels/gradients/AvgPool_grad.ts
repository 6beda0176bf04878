/**
 * Gradient of AvgPool that is correct at padded borders on every backend.
 *
 * tfjs's forward AvgPool averages over the taps inside the input (as
 * TensorFlow does), but the AvgPoolGrad kernels of its cpu, webgl, webgpu
 * and original wasm backends divide by the full window size, so with 'same'
 * padding the border gradients come out too small (by 4/9 at a 3x3 corner).
 * Our wasm kernel and TensorFlow's (the `tensorflow` backend) divide by the
 * valid count. For the others we scale dy by (full window / valid taps)
 * per output position first, which turns their result into the true one.
 */
import {
  AvgPool, AvgPoolGrad, backend_util, engine, getBackend, getKernel, mul, tensor4d, tidy,
  type AvgPoolAttrs, type GradConfig, type NamedAttrMap, type Tensor, type Tensor4D,
} from '@tensorflow/tfjs-core';
import { isTrainingKernel } from '../training-kernels.js';
import { tapRange } from '../wasm-heap.js';

/** Whether the active backend's AvgPoolGrad divides by the taps inside the input. */
function dividesByValidTaps(): boolean {
  const kernel = getKernel(AvgPoolGrad, getBackend());
  return getBackend() === 'tensorflow' || (kernel != null && isTrainingKernel(kernel.kernelFunc));
}

/** [1, Ho, Wo, 1]: full window size over valid taps; null when no window overhangs. */
function overhangScale(info: backend_util.Conv2DInfo): Tensor4D | null {
  const full = info.filterHeight * info.filterWidth;
  const values = new Float32Array(info.outHeight * info.outWidth);
  let overhang = false;
  for (let oh = 0; oh < info.outHeight; oh++) {
    const [i0, i1] = tapRange(oh, info.inHeight, info.filterHeight, info.strideHeight, 1, info.padInfo.top);
    for (let ow = 0; ow < info.outWidth; ow++) {
      const [j0, j1] = tapRange(ow, info.inWidth, info.filterWidth, info.strideWidth, 1, info.padInfo.left);
      const valid = (i1 - i0) * (j1 - j0);
      values[oh * info.outWidth + ow] = valid > 0 ? full / valid : 0;
      if (valid !== full) overhang = true;
    }
  }
  return overhang ? tensor4d(values, [1, info.outHeight, info.outWidth, 1]) : null;
}

export const avgPoolGradConfig: GradConfig = {
  kernelName: AvgPool,
  inputsToSave: ['x'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x] = saved as [Tensor4D];
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as AvgPoolAttrs;
    const run = (d: Tensor) =>
      engine().runKernel(AvgPoolGrad, { dy: d, input: x }, { filterSize, strides, pad } as unknown as NamedAttrMap) as Tensor4D;
    return {
      x: () => {
        if (dividesByValidTaps()) return run(dy as Tensor);
        const info = backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
        const scale = overhangScale(info);
        if (!scale) return run(dy as Tensor);
        return tidy(() => run(mul(dy as Tensor, scale)));
      },
    };
  },
};
