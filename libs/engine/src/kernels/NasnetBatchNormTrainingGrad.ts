/**
 * Gradient of NasnetBatchNormTraining (wasm, SIMD), two passes:
 * per-channel sums of dy and dy * (x - mean), then
 * dx = k*dy - k*dbeta/M - k*invstd*dgamma*(x - mean)/M
 *      + dmean/M + 2*dvariance*(x - mean)/M
 * with invstd = 1/sqrt(variance + epsilon), k = gamma * invstd, M the
 * number of values per channel, dbeta = sum(dy) and
 * dgamma = invstd * sum(dy * (x - mean)). The last two terms carry
 * gradients that reach the mean and variance outputs directly.
 *
 * Inputs dy, x, gamma, mean, variance, dmean, dvariance; outputs
 * [dx, dgamma, dbeta].
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAINING_GRAD, type BatchNormTrainingAttrs } from './kernel-names.js';
import { partsFor, reduceParts, reductionGroups, runParts, splitRange } from './parallel.js';
import { allocate, f32, heapOffset, release, requireFloat32 } from './wasm-heap.js';

export function batchNormTrainingGrad(args: {
  inputs: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo; dmean: TensorInfo; dvariance: TensorInfo };
  backend: BackendWasm; attrs: BatchNormTrainingAttrs;
}): TensorInfo[] {
  const { inputs, backend, attrs: { epsilon } } = args;
  requireFloat32(BATCH_NORM_TRAINING_GRAD, inputs);
  const { dy, x, gamma, mean, variance, dmean, dvariance } = inputs;
  const c = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, b) => a * b, 1) / c;
  const dbeta = allocate(backend, [c], true);
  const dyXc = allocate(backend, [c], true);
  const dgamma = allocate(backend, [c]);
  const a = allocate(backend, [c]), b = allocate(backend, [c]), d = allocate(backend, [c]);
  const dx = allocate(backend, [...x.shape]);
  const at = (t: TensorInfo) => heapOffset(backend, t);
  const dyAt = at(dy), xAt = at(x), meanAt = at(mean);
  // Sums over rows in groups fixed by the size (parallel.ts): the same gradients on any number of threads.
  const work = 2 * rows * c;
  const groups = splitRange(rows, reductionGroups(rows, work));
  reduceParts(backend, 'channelDots', [{ tensor: dbeta, at: at(dbeta), floats: c }, { tensor: dyXc, at: at(dyXc), floats: c }],
    groups.length, (g, [sumDy, sumDyXc]) => [dyAt + groups[g]![0] * c * 4, xAt + groups[g]![0] * c * 4, groups[g]![1], c, meanAt, sumDy!, sumDyXc!], work);
  const [g, v, dm, dv, db, s, dg, av, bv, dvv] = [gamma, variance, dmean, dvariance, dbeta, dyXc, dgamma, a, b, d]
    .map((t) => f32(backend, t));
  for (let i = 0; i < c; i++) {
    const invstd = 1 / Math.sqrt(v[i] + epsilon);
    const k = g[i] * invstd;
    dg[i] = s[i] * invstd;
    av[i] = k;
    bv[i] = (2 * dv[i] - k * invstd * dg[i]) / rows;
    dvv[i] = (dm[i] - k * db[i]) / rows;
  }
  const dxAt = at(dx), aAt = at(a), bAt = at(b), dAt = at(d);
  runParts(backend, 'channelAffine2', splitRange(rows, partsFor(backend, rows, 3 * rows * c)).map(([r0, count]) =>
    [dyAt + r0 * c * 4, xAt + r0 * c * 4, dxAt + r0 * c * 4, count, c, aAt, bAt, meanAt, dAt]), 3 * rows * c);
  release(backend, dyXc, a, b, d);
  return [dx, dgamma, dbeta];
}

export const batchNormTrainingGradConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormTrainingGrad as unknown as KernelFunc,
};
