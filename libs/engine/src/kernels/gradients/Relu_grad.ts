/**
 * Gradient of Relu: our one-pass kernel where the backend has it (wasm),
 * else tfjs's own formula dy * step(x), with x the saved output relu(x).
 */
import {
  cast, engine, getBackend, getKernel, mul, Relu, step, type GradConfig, type Tensor,
} from '@tensorflow/tfjs-core';
import { RELU_GRAD } from '../kernel-names.js';

export const reluGradConfig: GradConfig = {
  kernelName: Relu,
  // The output, not the input: y > 0 exactly where x > 0, so the gradient is the same, and y is
  // what the next op (a conv, in NASNet's ReLU-conv-BN) saves anyway, while x (a BN output or a
  // cell's concat) would be kept for this gradient alone: one activation less per ReLU on the tape.
  outputsToSave: [true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [x] = saved;
    return {
      x: () => getKernel(RELU_GRAD, getBackend()) != null
        ? engine().runKernel(RELU_GRAD, { dy: dy as Tensor, x }) as Tensor
        : mul(dy as Tensor, cast(step(x), 'float32')),
    };
  },
};
