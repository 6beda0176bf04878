import { Rng, type RngState } from '@nasnet/random';
import { sampleGenotype, mutateGenotype, genotypeFromJSON, type Genotype } from '@nasnet/search-space';
import { StrategyStateError, type Candidate, type PolicyUpdate, type SearchStrategy, type StrategyState } from './strategy.js';

/** Uniform random search over the same space: the paper's baseline (section 4.4). */
export class RandomStrategy implements SearchStrategy {
  readonly name = 'random' as const;
  private rng: Rng;

  constructor(private readonly options: { seed?: number; numBlocks?: number } = {}) {
    this.rng = new Rng((options.seed ?? 0) ^ 0x68e31da4);
  }

  propose(): Candidate {
    return { genotype: sampleGenotype(this.rng, { numBlocks: this.options.numBlocks ?? 5 }) };
  }

  observe(): PolicyUpdate | undefined {
    return undefined;
  }

  exportState(): StrategyState {
    return { name: 'random', rng: this.rng.state() };
  }

  importState(state: StrategyState): void {
    if (state.name !== 'random') throw new StrategyStateError(`cannot load a '${state.name}' state into the random strategy`);
    this.rng = new Rng(state.rng as RngState);
  }
}

export interface EvolutionOptions {
  /** Population kept (the oldest dies). @default 50 */
  populationSize: number;
  /** Tournament size. @default 10 */
  sampleSize: number;
  seed: number;
  numBlocks: number;
}

/**
 * Regularized (aging) evolution, Real et al. 2019: the population is a queue,
 * a tournament picks a parent, its mutation is the child, the oldest leaves.
 * Until the population is full, children are uniform samples.
 */
export class EvolutionStrategy implements SearchStrategy {
  readonly name = 'evolution' as const;
  private readonly options: EvolutionOptions;
  private rng: Rng;
  private population: Array<{ genotype: Genotype; reward: number }> = [];

  constructor(options: Partial<EvolutionOptions> = {}) {
    this.options = { populationSize: 50, sampleSize: 10, seed: 0, numBlocks: 5, ...options };
    this.rng = new Rng(this.options.seed ^ 0x1b873593);
  }

  propose(): Candidate {
    if (this.population.length < this.options.populationSize) {
      return { genotype: sampleGenotype(this.rng, { numBlocks: this.options.numBlocks }) };
    }
    let parent = this.population[this.rng.int(this.population.length)]!;
    for (let k = 1; k < this.options.sampleSize; k++) {
      const other = this.population[this.rng.int(this.population.length)]!;
      if (other.reward > parent.reward) parent = other;
    }
    return { genotype: mutateGenotype(this.rng, parent.genotype) };
  }

  observe(candidate: Candidate, reward: number): PolicyUpdate | undefined {
    this.population.push({ genotype: candidate.genotype, reward });
    if (this.population.length > this.options.populationSize) this.population.shift();
    return undefined;
  }

  exportState(): StrategyState {
    return { name: 'evolution', rng: this.rng.state(), population: this.population };
  }

  importState(state: StrategyState): void {
    if (state.name !== 'evolution') throw new StrategyStateError(`cannot load a '${state.name}' state into the evolution strategy`);
    this.rng = new Rng(state.rng as RngState);
    const pop = state.population as Array<{ genotype: unknown; reward: number }>;
    this.population = pop.map((p) => ({ genotype: genotypeFromJSON(p.genotype), reward: p.reward }));
  }
}
