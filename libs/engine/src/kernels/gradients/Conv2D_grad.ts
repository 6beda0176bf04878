/**
 * Gradient of Conv2D that also handles dilation (tfjs 4.22 throws for it),
 * needed by NASNet's 3x3 dilated convolution. Dilation 1 does what tfjs's
 * own gradient does. With dilation > 1 our wasm kernels get `dilations`
 * directly; on other backends, whose backprop kernels ignore dilation, the
 * gradient goes through the zero-spread filter (see dilation.ts).
 */
import {
  Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput, engine, type Conv2DAttrs, type GradConfig, type NamedAttrMap,
  type Tensor, type Tensor4D,
} from '@tensorflow/tfjs-core';
import { backendTakesDilations, dilationPair, sampleSpread, spreadFilter } from './dilation.js';

export const conv2DGradConfig: GradConfig = {
  kernelName: Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, filter] = saved as [Tensor4D, Tensor4D];
    const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs as unknown as Conv2DAttrs;
    const [dh, dw] = dilationPair(dilations);
    const common = { strides, pad, dataFormat, dimRoundingMode } as unknown as NamedAttrMap;
    const run = (name: string, inputs: Record<string, Tensor>, extra: NamedAttrMap) =>
      engine().runKernel(name, inputs, { ...common, ...extra }) as Tensor4D;
    if (dh === 1 && dw === 1) {
      return {
        x: () => run(Conv2DBackpropInput, { dy: dy as Tensor, filter }, { inputShape: x.shape }),
        filter: () => run(Conv2DBackpropFilter, { x, dy: dy as Tensor }, { filterShape: filter.shape }),
      };
    }
    const direct = backendTakesDilations(Conv2DBackpropInput) && backendTakesDilations(Conv2DBackpropFilter);
    if (direct) {
      return {
        x: () => run(Conv2DBackpropInput, { dy: dy as Tensor, filter }, { inputShape: x.shape, dilations: [dh, dw] }),
        filter: () => run(Conv2DBackpropFilter, { x, dy: dy as Tensor }, { filterShape: filter.shape, dilations: [dh, dw] }),
      };
    }
    return {
      x: () => {
        const spread = spreadFilter(filter, dh, dw);
        const dx = run(Conv2DBackpropInput, { dy: dy as Tensor, filter: spread }, { inputShape: x.shape });
        spread.dispose();
        return dx;
      },
      filter: () => {
        const [kh, kw, i, o] = filter.shape;
        const spreadShape = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, i, o];
        const spreadGrad = run(Conv2DBackpropFilter, { x, dy: dy as Tensor }, { filterShape: spreadShape });
        const df = sampleSpread(spreadGrad, dh, dw);
        spreadGrad.dispose();
        return df;
      },
    };
  },
};
