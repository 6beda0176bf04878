/**
 * Gradient of Relu: our one-pass kernel where the backend has it (wasm),
 * else tfjs's own formula dy * step(x).
 */
import {
  cast, engine, getBackend, getKernel, mul, Relu, step, type GradConfig, type Tensor,
} from '@tensorflow/tfjs-core';
import { RELU_GRAD } from '../kernel-names.js';

export const reluGradConfig: GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [x] = saved;
    return {
      x: () => getKernel(RELU_GRAD, getBackend()) != null
        ? engine().runKernel(RELU_GRAD, { dy: dy as Tensor, x }) as Tensor
        : mul(dy as Tensor, cast(step(x), 'float32')),
    };
  },
};
