/**
 * Batch normalisation with batch statistics, in one kernel (wasm, SIMD):
 * y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, with mean and
 * (biased) variance per channel over every other axis. Three passes over x
 * (sum, squared deviation, affine) replace the ~8 elementwise and reduction
 * kernels tf.moments and the arithmetic run, each with its own pass (and,
 * for the reductions over N, H, W, a transpose).
 *
 * Inputs x (channels last, any rank >= 2), gamma [C], beta [C];
 * outputs [y, mean, variance].
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAINING, type BatchNormTrainingAttrs } from './kernel-names.js';
import { partsFor, reduceParts, reductionGroups, runParts, splitRange } from './parallel.js';
import { allocate, f32, heapOffset, release, requireFloat32 } from './wasm-heap.js';

export function batchNormTraining(args: {
  inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo }; backend: BackendWasm; attrs: BatchNormTrainingAttrs;
}): TensorInfo[] {
  const { inputs: { x, gamma, beta }, backend, attrs: { epsilon } } = args;
  requireFloat32(BATCH_NORM_TRAINING, { x, gamma, beta });
  const c = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, b) => a * b, 1) / c;
  const mean = allocate(backend, [c], true);
  const variance = allocate(backend, [c], true);
  const scale = allocate(backend, [c]);
  const shift = allocate(backend, [c]);
  const y = allocate(backend, [...x.shape]);
  const at = (t: TensorInfo) => heapOffset(backend, t);
  // Sums over rows in groups fixed by the size (parallel.ts), so the statistics do not depend on the thread count.
  const work = rows * c;
  const groups = splitRange(rows, reductionGroups(rows, work));
  const xAt = at(x);
  reduceParts(backend, 'channelSum', [{ tensor: mean, at: at(mean), floats: c }], groups.length,
    (g, [sums]) => [xAt + groups[g]![0] * c * 4, groups[g]![1], c, sums!], work);
  const m = f32(backend, mean);
  for (let i = 0; i < c; i++) m[i] /= rows;
  reduceParts(backend, 'channelSquaredDeviation', [{ tensor: variance, at: at(variance), floats: c }], groups.length,
    (g, [sums]) => [xAt + groups[g]![0] * c * 4, groups[g]![1], c, at(mean), sums!], work);
  const v = f32(backend, variance), g = f32(backend, gamma), b = f32(backend, beta);
  const sc = f32(backend, scale), sh = f32(backend, shift);
  for (let i = 0; i < c; i++) {
    v[i] /= rows;
    sc[i] = g[i] / Math.sqrt(v[i] + epsilon);
    sh[i] = b[i] - m[i] * sc[i];
  }
  const yAt = at(y), scaleAt = at(scale), shiftAt = at(shift);
  runParts(backend, 'channelAffine', splitRange(rows, partsFor(backend, rows, 2 * work)).map(([r0, count]) =>
    [xAt + r0 * c * 4, yAt + r0 * c * 4, count, c, scaleAt, shiftAt]), 2 * work);
  release(backend, scale, shift);
  return [y, mean, variance];
}

export const batchNormTrainingConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: 'wasm',
  kernelFunc: batchNormTraining as unknown as KernelFunc,
};
