/**
 * One optimizer step of the search and CIFAR recipes over every variable
 * at once: the L2 term's gradient (weightDecay * w on the decayed
 * variables) joins each gradient, the totals are clipped by their global
 * norm (TF's clip_by_global_norm: scale = clip / max(norm, clip)), and
 * SGD with momentum (TF's MomentumOptimizer) updates:
 *
 *   t = g + wd w;  v <- m v + scale t;  w <- w - lr v
 *
 * Composed from tfjs ops that is about nine ops per variable, some 3,500
 * tiny kernels per step for the search child's ~390 variables; on wasm it
 * is one kernel (NasnetClippedSgdStep.ts).
 */
import {
  add, addN, div, engine, getBackend, getKernel, maximum, mul, scalar, sqrt, square, sub, sum, tidy,
  type NamedAttrMap, type Tensor,
} from '@tensorflow/tfjs-core';
import { CLIPPED_SGD_STEP, type ClippedSgdStepAttrs } from './kernel-names.js';

export interface ClippedSgdStepInput extends Omit<ClippedSgdStepAttrs, 'decay'> {
  /** Per variable: whether weightDecay * w joins its gradient. */
  decay: readonly boolean[];
  variables: readonly Tensor[];
  gradients: readonly Tensor[];
  velocities: readonly Tensor[];
}

export interface ClippedSgdStepResult {
  /** The new values, one per variable, in order. */
  variables: Tensor[];
  /** The new velocities (momentum slots). */
  velocities: Tensor[];
}

export class SgdStepInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SgdStepInputError';
  }
}

function check(input: ClippedSgdStepInput): void {
  const n = input.variables.length;
  for (const [name, list] of [['gradients', input.gradients], ['velocities', input.velocities], ['decay', input.decay]] as const) {
    if (list.length !== n) throw new SgdStepInputError(`${name}: expected ${n} (one per variable), got ${list.length}`);
  }
  for (let i = 0; i < n; i++) {
    const v = input.variables[i]!;
    for (const [name, t] of [['gradients', input.gradients[i]!], ['velocities', input.velocities[i]!]] as const) {
      if (t.size !== v.size || t.dtype !== v.dtype) {
        throw new SgdStepInputError(`${name}[${i}]: shape [${t.shape}] ${t.dtype} does not match variable ${i}'s [${v.shape}] ${v.dtype}`);
      }
    }
    if (v.dtype !== 'float32') throw new SgdStepInputError(`variables[${i}]: dtype ${v.dtype}, expected float32`);
  }
  for (const key of ['learningRate', 'momentum', 'weightDecay', 'clipNorm'] as const) {
    if (!Number.isFinite(input[key]) || input[key] < 0) throw new SgdStepInputError(`${key}: expected a finite number >= 0, got ${input[key]}`);
  }
}

/**
 * The new variables and velocities after one step (the inputs are left as
 * they are; the caller assigns). One kernel where the backend has it,
 * tfjs ops elsewhere.
 */
export function clippedSgdStep(input: ClippedSgdStepInput): ClippedSgdStepResult {
  check(input);
  const n = input.variables.length;
  const attrs: ClippedSgdStepAttrs = {
    learningRate: input.learningRate, momentum: input.momentum, weightDecay: input.weightDecay,
    clipNorm: input.clipNorm, decay: [...input.decay],
  };
  if (n > 0 && getKernel(CLIPPED_SGD_STEP, getBackend()) != null) {
    const inputs: Record<string, Tensor> = {};
    for (let i = 0; i < n; i++) {
      inputs[`v${i}`] = input.variables[i]!;
      inputs[`g${i}`] = input.gradients[i]!;
      inputs[`m${i}`] = input.velocities[i]!;
    }
    const out = engine().runKernel(CLIPPED_SGD_STEP, inputs, attrs as unknown as NamedAttrMap) as Tensor[];
    return { variables: out.slice(0, n), velocities: out.slice(n) };
  }
  return composedSgdStep(input);
}

/**
 * The gradients of the whole loss, from tfjs ops: weightDecay * w joins the
 * gradient of each variable `decay` marks, and the totals are clipped by
 * their global norm (clipNorm 0: not clipped), without reading the norm back.
 * Any update rule can take them (the trainer's RMSProp does).
 */
export function clippedGradients(input: Omit<ClippedSgdStepInput, 'velocities' | 'learningRate' | 'momentum'>): Tensor[] {
  return tidy(() => {
    const wd = scalar(input.weightDecay);
    const totals = input.gradients.map((g, i) =>
      (input.decay[i] && input.weightDecay > 0 ? add(g, mul(input.variables[i]!, wd)) : g));
    if (!(input.clipNorm > 0) || totals.length === 0) return totals;
    const clip = scalar(input.clipNorm);
    const norm = sqrt(addN(totals.map((t) => sum(square(t)))));
    const scale = div(clip, maximum(norm, clip));
    return totals.map((t) => mul(t, scale));
  });
}

/** The same step from tfjs ops (every backend; the reference for the kernel). */
export function composedSgdStep(input: ClippedSgdStepInput): ClippedSgdStepResult {
  check(input);
  return tidy(() => {
    const lr = scalar(input.learningRate), m = scalar(input.momentum);
    const velocities = clippedGradients(input).map((t, i) => add(mul(input.velocities[i]!, m), t));
    const variables = velocities.map((v, i) => sub(input.variables[i]!, mul(v, lr)));
    return { variables, velocities };
  });
}
