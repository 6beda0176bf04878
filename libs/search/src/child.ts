import type { Genotype } from '@nasnet/search-space';
import type { ChildRecipe } from './spec.js';

/** One child network to train: everything a trainer needs, nothing it must look up. */
export interface ChildTask {
  searchId: string;
  childId: number;
  genotype: Genotype;
  /** Canonical genotype hash (the reward cache key). */
  hash: string;
  recipe: ChildRecipe;
  dataset: string;
  /** Seed of the child's weights, data order and drop-path masks. */
  seed: number;
  /** 'search' children give rewards; 'final' ones retrain the top cells. */
  phase: 'search' | 'final';
  /**
   * Median stopping rule, fixed when the child was proposed so the search
   * stays reproducible: stop after epoch e (>= minEpochs) when the
   * validation accuracy is below medianByEpoch[e - 1].
   */
  earlyStop?: { minEpochs: number; medianByEpoch: number[] };
  /** Save the trained network (TensorFlow.js format) into this folder. */
  exportDir?: string;
  /**
   * Training time allowed per attempt, seconds (the operator's per-child
   * deadline): past it the trainer stops the child, reports it failed with
   * childDeadlineReason(maxSeconds) and takes the next one. Unset: none.
   */
  maxSeconds?: number;
}

export type ChildStatus = 'ok' | 'failed' | 'diverged' | 'cancelled' | 'early_stopped';

export interface ChildProgress {
  childId: number;
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  trainAccuracy: number;
  imagesPerSec: number;
  /** Set at the end of an epoch. */
  validationAccuracy?: number;
}

export interface ChildResult {
  childId: number;
  status: ChildStatus;
  /** Validation accuracy of the last epoch trained (0 when diverged or failed). */
  reward: number;
  reason?: string;
  /** Validation accuracy after each epoch trained. */
  validationByEpoch: number[];
  trainSeconds: number;
  paramCount: number;
  multAdds: number;
  /** Who trained it (worker or pod name). */
  trainer?: string;
  attempts?: number;
}

/** Trains children: local worker processes, a JetStream work queue, or a function in tests. */
export interface ChildExecutor {
  execute(task: ChildTask, hooks: { onProgress?: (p: ChildProgress) => void; signal?: AbortSignal }): Promise<ChildResult>;
  /**
   * Gets ready to execute children of `searchId` (a JetStream executor
   * starts following the search's results), so its first children are
   * queued the moment they are proposed. SearchLoop.run() awaits it before
   * the first child; a failure is not fatal (execute() meets it again and
   * reports it per child).
   */
  prepare?(searchId: string): Promise<void>;
}
