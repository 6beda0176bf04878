/**
 * Seeded randomness for reproducible searches and training.
 *
 * ```ts
 * import { Rng } from '@nasnet/random';
 * const rng = new Rng(42);
 * const saved = rng.state();          // resume later with new Rng(saved)
 * ```
 */
export { Rng, deriveSeed } from './rng.js';
export type { RngState } from './rng.js';
