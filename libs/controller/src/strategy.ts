import type { Genotype } from '@nasnet/search-space';

/** A proposed child: the genotype plus what the strategy needs back with its reward. */
export interface Candidate {
  genotype: Genotype;
  /** The 50 controller decisions (PPO). */
  decisions?: number[];
  /** Log-probability of the decisions under the policy that sampled them (PPO). */
  logProb?: number;
}

/** What one policy update did, for events and metrics. */
export interface PolicyUpdate {
  /** Updates done so far, this one included. */
  update: number;
  /** Mean reward of the batch. */
  meanReward: number;
  /** Reward baseline after the batch. */
  baseline: number;
  /** Clipped surrogate loss at the first epoch. */
  loss: number;
  /** Mean per-architecture entropy of the batch. */
  entropy: number;
  /** Fraction of (architecture, epoch) pairs whose ratio fell outside the clip range. */
  clipFraction: number;
  /** Wall time of the update. */
  updateMs: number;
}

/**
 * How a search proposes architectures. The search loop calls `propose()` for
 * every child it starts and `observe()` once per reward, in a deterministic
 * order; everything a strategy holds is in `exportState()`.
 */
export interface SearchStrategy {
  readonly name: StrategyName;
  propose(): Candidate;
  /** Feeds one reward back; returns the update it triggered, if any. */
  observe(candidate: Candidate, reward: number): PolicyUpdate | undefined;
  exportState(): StrategyState;
  importState(state: StrategyState): void;
}

export type StrategyName = 'ppo' | 'random' | 'evolution';

/** JSON-safe strategy state. */
export interface StrategyState {
  name: StrategyName;
  [key: string]: unknown;
}

export class StrategyStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StrategyStateError';
  }
}
