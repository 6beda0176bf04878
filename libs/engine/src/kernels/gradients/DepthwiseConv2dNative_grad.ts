/**
 * Gradient of DepthwiseConv2dNative that also handles dilation (tfjs 4.22
 * throws for it). Same scheme as Conv2D_grad.ts: direct on our wasm
 * kernels, through the zero-spread filter elsewhere.
 */
import {
  DepthwiseConv2dNative, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput, engine,
  type DepthwiseConv2dNativeAttrs, type GradConfig, type NamedAttrMap, type Tensor, type Tensor4D,
} from '@tensorflow/tfjs-core';
import { backendTakesDilations, dilationPair, sampleSpread, spreadFilter } from './dilation.js';

export class DepthwiseGradientInputError extends Error {
  constructor(detail: string) {
    super(`gradient of depthwiseConv2d: ${detail}`);
    this.name = 'DepthwiseGradientInputError';
  }
}

export const depthwiseConv2dNativeGradConfig: GradConfig = {
  kernelName: DepthwiseConv2dNative,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, filter] = saved as [Tensor4D, Tensor4D];
    const { strides, pad, dimRoundingMode, dilations } = attrs as unknown as DepthwiseConv2dNativeAttrs;
    if (x.rank !== 4 || filter.rank !== 4) {
      throw new DepthwiseGradientInputError(`input and filter must be rank 4, got ranks ${x.rank} and ${filter.rank}`);
    }
    if (x.shape[3] !== filter.shape[2]) {
      throw new DepthwiseGradientInputError(`input has ${x.shape[3]} channels but the filter expects ${filter.shape[2]}`);
    }
    const [dh, dw] = dilationPair(dilations);
    const common = { strides, pad, dimRoundingMode } as unknown as NamedAttrMap;
    const run = (name: string, inputs: Record<string, Tensor>, extra: NamedAttrMap) =>
      engine().runKernel(name, inputs, { ...common, ...extra }) as Tensor4D;
    const direct = (dh === 1 && dw === 1) ||
      (backendTakesDilations(DepthwiseConv2dNativeBackpropInput) && backendTakesDilations(DepthwiseConv2dNativeBackpropFilter));
    if (direct) {
      return {
        x: () => run(DepthwiseConv2dNativeBackpropInput, { dy: dy as Tensor, filter }, { inputShape: x.shape, dilations: [dh, dw] }),
        filter: () => run(DepthwiseConv2dNativeBackpropFilter, { x, dy: dy as Tensor }, { filterShape: filter.shape, dilations: [dh, dw] }),
      };
    }
    return {
      x: () => {
        const spread = spreadFilter(filter, dh, dw);
        const dx = run(DepthwiseConv2dNativeBackpropInput, { dy: dy as Tensor, filter: spread }, { inputShape: x.shape, dilations: [1, 1] });
        spread.dispose();
        return dx;
      },
      filter: () => {
        const [kh, kw, i, m] = filter.shape;
        const spreadShape = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, i, m];
        const spreadGrad = run(DepthwiseConv2dNativeBackpropFilter, { x, dy: dy as Tensor }, { filterShape: spreadShape, dilations: [1, 1] });
        const df = sampleSpread(spreadGrad, dh, dw);
        spreadGrad.dispose();
        return df;
      },
    };
  },
};
