/**
 * Batch norm's running statistics after a training batch, as tfjs-layers
 * and Keras update them: moving <- moving - (1 - momentum) (moving - batch).
 *
 * Composed from ops that is three tiny kernels per statistic, each saved on
 * the gradient tape with clones of its inputs while a training step records
 * one (~1,800 engine calls per step of the search child, for values no
 * gradient ever needs). On wasm it is one kernel per batch norm, with no
 * gradient, so the tape keeps nothing for it.
 */
import { engine, getBackend, getKernel, mul, sub, tidy, type NamedAttrMap, type Tensor } from '@tensorflow/tfjs-core';
import { MOVING_AVERAGES, type MovingAveragesAttrs } from './kernel-names.js';

export class MovingAveragesInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MovingAveragesInputError';
  }
}

/** The new running values, one per (moving[i], batch[i]) pair; the inputs are left as they are. */
export function movingAverages(moving: readonly Tensor[], batch: readonly Tensor[], momentum: number): Tensor[] {
  if (moving.length !== batch.length) throw new MovingAveragesInputError(`batch: expected ${moving.length} (one per moving value), got ${batch.length}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new MovingAveragesInputError(`momentum must be in [0, 1], got ${momentum}`);
  moving.forEach((m, i) => {
    const b = batch[i]!;
    if (m.size !== b.size || m.dtype !== 'float32' || b.dtype !== 'float32') {
      throw new MovingAveragesInputError(`pair ${i}: moving [${m.shape}] ${m.dtype} and batch [${b.shape}] ${b.dtype} must be float32 of one size`);
    }
  });
  const decay = 1 - momentum;
  if (moving.length > 0 && getKernel(MOVING_AVERAGES, getBackend()) != null) {
    const inputs: Record<string, Tensor> = {};
    moving.forEach((m, i) => { inputs[`moving${i}`] = m; inputs[`batch${i}`] = batch[i]!; });
    const attrs: MovingAveragesAttrs = { decay, count: moving.length };
    return engine().runKernel(MOVING_AVERAGES, inputs, attrs as unknown as NamedAttrMap) as Tensor[];
  }
  return tidy(() => moving.map((m, i) => sub(m, mul(sub(m, batch[i]!), decay))));
}
