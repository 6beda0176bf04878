import * as tf from '@tensorflow/tfjs-core';
import { clippedGradients, clippedSgdStep } from '@nasnet/engine';

/**
 * RMSProp's constants in the NASNet ImageNet recipes: the paper trains its
 * ImageNet models with RMSProp through slim's train_image_classifier.py,
 * whose defaults are rmsprop_decay 0.9, rmsprop_momentum 0.9 and
 * opt_epsilon 1.0 (an epsilon that large is deliberate there: it damps the
 * first steps, when the mean square is still near its initial 1).
 */
export const RMSPROP_DEFAULTS = Object.freeze({ decay: 0.9, momentum: 0.9, epsilon: 1.0 });

/** The update rule of a training run. */
export type OptimizerSettings =
  /** SGD with momentum, as the reference's MomentumOptimizer: v <- m v + g; w <- w - lr v. */
  | { readonly kind: 'sgd'; readonly momentum: number }
  /**
   * RMSProp as TensorFlow 1's RMSPropOptimizer (not centered), whose mean
   * square starts at 1 and momentum at 0:
   *   ms <- ms + (g^2 - ms)(1 - decay); mom <- momentum mom + lr g / sqrt(ms + epsilon); w <- w - mom.
   */
  | { readonly kind: 'rmsprop'; readonly momentum: number; readonly decay: number; readonly epsilon: number };

/**
 * An optimizer's state for a list of variables (one slot set per variable)
 * and its update step. Call `apply` inside a tf.tidy: it keeps its slots
 * and assigns the variables; `dispose` frees the slots.
 */
export class TrainingOptimizer {
  private readonly mom: tf.Tensor[] = [];
  private readonly ms: tf.Tensor[] = [];
  private readonly constants: { momentum: tf.Scalar; oneMinusDecay?: tf.Scalar; epsilon?: tf.Scalar };

  constructor(readonly settings: OptimizerSettings, private readonly vars: readonly tf.Variable[]) {
    if (!(settings.momentum >= 0 && settings.momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${settings.momentum}`);
    if (settings.kind === 'rmsprop') {
      if (!(settings.decay >= 0 && settings.decay < 1)) throw new RangeError(`RMSProp decay must be in [0, 1), got ${settings.decay}`);
      if (!(settings.epsilon > 0)) throw new RangeError(`RMSProp epsilon must be > 0, got ${settings.epsilon}`);
    }
    // Allocated one by one: if one fails (out of memory), dispose() still frees the others.
    this.constants = { momentum: tf.keep(tf.scalar(settings.momentum)) };
    try {
      for (const v of vars) {
        this.mom.push(tf.keep(tf.zerosLike(v)));
        if (settings.kind === 'rmsprop') this.ms.push(tf.keep(tf.onesLike(v)));
      }
      if (settings.kind === 'rmsprop') {
        this.constants.oneMinusDecay = tf.keep(tf.scalar(1 - settings.decay));
        this.constants.epsilon = tf.keep(tf.scalar(settings.epsilon));
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /**
   * One training step from the raw gradients (same order as the variables):
   * weightDecay * w joins the gradient of each variable `decay` marks (the
   * L2 term's gradient), the totals are clipped by their global norm
   * (clipNorm 0: not clipped), and the update rule runs. SGD is one fused
   * kernel where the backend has it (@nasnet/engine clippedSgdStep).
   */
  step(grads: readonly tf.Tensor[], step: { learningRate: number; weightDecay: number; clipNorm: number; decay: readonly boolean[] }): void {
    if (grads.length !== this.vars.length) throw new RangeError(`expected ${this.vars.length} gradients, got ${grads.length}`);
    if (step.decay.length !== this.vars.length) throw new RangeError(`expected ${this.vars.length} decay flags, got ${step.decay.length}`);
    if (this.settings.kind === 'sgd') {
      const next = clippedSgdStep({
        variables: this.vars, gradients: grads, velocities: this.mom, decay: step.decay,
        learningRate: step.learningRate, momentum: this.settings.momentum, weightDecay: step.weightDecay, clipNorm: step.clipNorm,
      });
      this.vars.forEach((v, i) => {
        v.assign(next.variables[i]!);
        // The variable holds the new value now; this handle is not needed.
        next.variables[i]!.dispose();
        this.replace(this.mom, i, next.velocities[i]!);
      });
      return;
    }
    tf.tidy(() => {
      const updates = clippedGradients({
        variables: this.vars, gradients: grads, decay: step.decay, weightDecay: step.weightDecay, clipNorm: step.clipNorm,
      });
      this.apply(updates, tf.scalar(step.learningRate));
    });
  }

  /** One update of every variable with its gradient (same order as the variables) at learning rate `lr`. */
  apply(grads: readonly tf.Tensor[], lr: tf.Scalar): void {
    if (grads.length !== this.vars.length) throw new RangeError(`expected ${this.vars.length} gradients, got ${grads.length}`);
    const { momentum } = this.constants;
    this.vars.forEach((v, i) => {
      const g = grads[i]!;
      if (this.settings.kind === 'sgd') {
        const vel = tf.add(tf.mul(this.mom[i]!, momentum), g);
        this.replace(this.mom, i, vel);
        v.assign(tf.sub(v, tf.mul(vel, lr)));
        return;
      }
      const ms = tf.add(this.ms[i]!, tf.mul(tf.sub(tf.square(g), this.ms[i]!), this.constants.oneMinusDecay!));
      this.replace(this.ms, i, ms);
      const mom = tf.add(tf.mul(this.mom[i]!, momentum), tf.div(tf.mul(g, lr), tf.sqrt(tf.add(ms, this.constants.epsilon!))));
      this.replace(this.mom, i, mom);
      v.assign(tf.sub(v, mom));
    });
  }

  private replace(slots: tf.Tensor[], i: number, value: tf.Tensor): void {
    slots[i]!.dispose();
    slots[i] = tf.keep(value);
  }

  dispose(): void {
    for (const t of [...this.mom, ...this.ms]) t.dispose();
    this.mom.length = 0;
    this.ms.length = 0;
    for (const t of Object.values(this.constants)) t?.dispose();
  }
}

/**
 * Label smoothing as slim's softmax_cross_entropy(label_smoothing=s):
 * onehot x (1 - s) + s / classes (ImageNet recipes: s = 0.1).
 */
export function smoothLabels(onehot: tf.Tensor, smoothing: number): tf.Tensor {
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`label smoothing must be in [0, 1), got ${smoothing}`);
  if (smoothing === 0) return onehot;
  const classes = onehot.shape[onehot.shape.length - 1]!;
  return tf.tidy(() => tf.add(tf.mul(onehot, 1 - smoothing), smoothing / classes));
}
