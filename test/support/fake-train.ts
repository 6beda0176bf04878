/**
 * A stand-in for runChildTask in tests and benchmarks of the bus: no
 * tensors, a reward that is a known function of the genotype (so a checker
 * can tell that each result reached the right child), and an optional delay
 * that stands for training time.
 */
import type { TrainFunction } from '@nasnet/trainer';
import type { ChildResult, ChildTask } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';

/**
 * 0.1 + 0.8 x the share of separable convolutions among the genotype's
 * operations (both cells): in [0.1, 0.9], higher for the operations the
 * paper's NASNet-A cells favour, so a learning strategy has something to find.
 */
export function syntheticReward(genotype: Genotype): number {
  const ops = [...genotype.normal.blocks, ...genotype.reduction.blocks].flatMap((b) => b.ops);
  const separable = ops.filter((op) => op.startsWith('sep_conv')).length;
  return 0.1 + (0.8 * separable) / ops.length;
}

/** Thrown by the fake when its child is cancelled mid-"training". */
export class FakeTrainingAbortedError extends Error {
  constructor(readonly childId: number, options?: ErrorOptions) {
    super(`training of child ${childId} was aborted`, options);
    this.name = 'FakeTrainingAbortedError';
  }
}

export interface FakeTrainOptions {
  /** Milliseconds the "training" of this task takes. @default 0 */
  delayMs?: (task: ChildTask) => number;
  /** Called when a trainer starts a task (Date.now() at the call). */
  onStart?: (task: ChildTask, startedAtMs: number) => void;
}

/** A TrainFunction that waits delayMs(task), then reports syntheticReward(task.genotype). */
export function fakeTrain(options: FakeTrainOptions = {}): TrainFunction {
  return (task, hooks) => {
    options.onStart?.(task, Date.now());
    const delay = options.delayMs?.(task) ?? 0;
    return new Promise<ChildResult>((resolve, reject) => {
      if (hooks.signal.aborted) return reject(new FakeTrainingAbortedError(task.childId, { cause: hooks.signal.reason }));
      const onAbort = () => {
        clearTimeout(timer);
        reject(new FakeTrainingAbortedError(task.childId, { cause: hooks.signal.reason }));
      };
      const timer = setTimeout(() => {
        hooks.signal.removeEventListener('abort', onAbort);
        const reward = syntheticReward(task.genotype);
        resolve({
          childId: task.childId, status: 'ok', reward, validationByEpoch: [reward], trainSeconds: delay / 1000, paramCount: 1000, multAdds: 100_000,
        });
      }, delay);
      hooks.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}
