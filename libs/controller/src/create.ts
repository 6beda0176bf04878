import { PpoStrategy, type PpoOptions } from './ppo.js';
import { EvolutionStrategy, RandomStrategy } from './random-search.js';
import type { SearchStrategy, StrategyName } from './strategy.js';

export interface StrategyOptions {
  strategy: StrategyName;
  seed: number;
  numBlocks?: number;
  ppo?: Partial<Omit<PpoOptions, 'seed'>>;
}

/** Builds the strategy a search spec names. */
export function createStrategy(options: StrategyOptions): SearchStrategy {
  const numBlocks = options.numBlocks ?? 5;
  switch (options.strategy) {
    case 'ppo':
      return new PpoStrategy({ ...options.ppo, seed: options.seed, policy: { ...options.ppo?.policy, numBlocks } });
    case 'random':
      return new RandomStrategy({ seed: options.seed, numBlocks });
    case 'evolution':
      return new EvolutionStrategy({ seed: options.seed, numBlocks });
    default:
      throw new RangeError(`unknown strategy '${String(options.strategy)}': expected ppo, random or evolution`);
  }
}
