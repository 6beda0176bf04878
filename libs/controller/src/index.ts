/**
 * Search strategies: the NASNet LSTM controller trained with PPO, random
 * search and regularized evolution, all behind one interface and all with
 * exportable state for exact resume.
 *
 * ```ts
 * const ppo = new PpoStrategy({ seed: 1 });
 * const c = ppo.propose();              // { genotype, decisions, logProb }
 * const update = ppo.observe(c, 0.93);  // a PolicyUpdate every 20 rewards
 * ```
 */
export { LstmPolicy, defaultPolicyOptions, POLICY_PARAMETER_NAMES, StaleTraceError } from './lstm-policy.js';
export type { LstmPolicyOptions, PolicySample, PolicyTrace } from './lstm-policy.js';
export { Adam, defaultAdamOptions } from './adam.js';
export type { AdamOptions, AdamState } from './adam.js';
export type { Precision } from './arena.js';
export { PpoStrategy, defaultPpoOptions } from './ppo.js';
export type { PpoOptions } from './ppo.js';
export { RandomStrategy, EvolutionStrategy } from './random-search.js';
export type { EvolutionOptions } from './random-search.js';
export { StrategyStateError } from './strategy.js';
export type { Candidate, PolicyUpdate, SearchStrategy, StrategyName, StrategyState } from './strategy.js';
export { createStrategy } from './create.js';
export type { StrategyOptions } from './create.js';
