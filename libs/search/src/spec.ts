import type { StrategyName } from '@nasnet/controller';

/** How each child is trained: the paper's search-time recipe (section 4) scaled by these numbers. */
export interface ChildRecipe {
  /** @default 20 (paper: children train 20 epochs) */
  epochs: number;
  /** @default 32 */
  batchSize: number;
  /** Filters of the first cell stack (F0). @default 16 */
  initialFilters: number;
  /** Normal cells per stack. @default 2 (paper: N = 2 during search) */
  cells: number;
  /** Initial learning rate of SGD with momentum, decayed with a cosine. @default 0.025 */
  learningRate: number;
  /** @default 0.9 (paper) */
  momentum: number;
  /** L2 weight decay. @default 5e-4 */
  weightDecay: number;
  /** ScheduledDropPath keep probability at the last cell and step. @default 1 (off during search) */
  dropPathKeepProb: number;
  /** Auxiliary head (weight 0.4) on or off. @default false */
  auxHead: boolean;
  /** Gradient-norm clip. @default 5 (paper's final recipe) */
  gradientClipNorm: number;
  /** Stop an epoch after this many steps (0 = full epoch); for quick demos. @default 0 */
  maxStepsPerEpoch: number;
  /** Training images used (0 = all of the split). @default 0 */
  trainLimit: number;
  /** Validation images used for the reward (0 = all). @default 0 */
  validationLimit: number;
  /**
   * Checkpoint each cell (@nasnet/trainer trainChild's checkpointCells): the
   * backward pass recomputes each cell's forward pass instead of keeping its
   * activations. Peak activation memory about a quarter (CIFAR N=6, F0=32,
   * batch 32: 3.40 GB -> 0.81 GB), each step slower. For children too large
   * for a trainer's memory otherwise.
   * @default false
   */
  checkpointCells: boolean;
}

export interface SearchBudget {
  /** Children to train (distinct architectures). @default 100 */
  architectures: number;
  /** Children trained at once. @default 2 */
  concurrency: number;
  /** Stop proposing after this many seconds (0 = no limit). @default 0 */
  maxWallSeconds: number;
}

export interface SearchSpec {
  /** A person's name for the search. @default 'search' */
  name: string;
  /** `mnist`, `synthetic` or `cifar10:/path/to/folder`. @default 'mnist' */
  dataset: string;
  /** @default 'ppo' */
  strategy: StrategyName;
  /** @default 0 */
  seed: number;
  /** Blocks per cell. @default 5 (paper: B = 5) */
  numBlocks: number;
  budget: SearchBudget;
  recipe: ChildRecipe;
  controller: ControllerSettings;
  earlyStopping: EarlyStoppingSettings;
  finalPhase: FinalPhaseSettings;
}

export interface ControllerSettings {
  /** @default 0.00035 */ learningRate: number;
  /** @default 0.00001 */ entropyWeight: number;
  /** @default 0.95 */ baselineDecay: number;
  /** @default 20 */ batchSize: number;
  /** @default 0.2 */ clipRange: number;
  /** @default 4 */ epochs: number;
  /** @default 100 */ lstmUnits: number;
}

export interface EarlyStoppingSettings {
  /** Median stopping rule on or off. @default false */
  enabled: boolean;
  /** Never stop a child before this many epochs. @default 1 */
  minEpochs: number;
  /** Completed children needed before the rule applies. @default 5 */
  minCompleted: number;
}

/**
 * The paper's final phase (section 4): the top cells of the search are
 * retrained with a larger network for longer (the paper: the top 250, to
 * convergence) and that retraining decides the best cell.
 */
export interface FinalPhaseSettings {
  /** Distinct cells retrained after the search (0 = none). @default 0 */
  topK: number;
  /** Epochs of the retraining. @default 2 x recipe.epochs */
  epochs: number;
  /** Initial filters F0 of the retrained networks. @default recipe.initialFilters */
  filters: number;
  /** Normal cells per stack N of the retrained networks. @default recipe.cells */
  cells: number;
}

export type SearchSpecInput = Partial<Omit<SearchSpec, 'budget' | 'recipe' | 'controller' | 'earlyStopping' | 'finalPhase'>> & {
  budget?: Partial<SearchBudget>;
  recipe?: Partial<ChildRecipe>;
  controller?: Partial<ControllerSettings>;
  earlyStopping?: Partial<EarlyStoppingSettings>;
  finalPhase?: Partial<FinalPhaseSettings>;
};

export function defaultRecipe(): ChildRecipe {
  return {
    epochs: 20, batchSize: 32, initialFilters: 16, cells: 2, learningRate: 0.025, momentum: 0.9, weightDecay: 5e-4,
    dropPathKeepProb: 1, auxHead: false, gradientClipNorm: 5, maxStepsPerEpoch: 0, trainLimit: 0, validationLimit: 0,
    checkpointCells: false,
  };
}

export function defaultControllerSettings(): ControllerSettings {
  return { learningRate: 0.00035, entropyWeight: 0.00001, baselineDecay: 0.95, batchSize: 20, clipRange: 0.2, epochs: 4, lstmUnits: 100 };
}

/** A spec that names a field and what is wrong with it. */
export class SearchSpecError extends Error {
  constructor(readonly field: string, readonly reason: string, options?: ErrorOptions) {
    super(`search spec field '${field}': ${reason}`, options);
    this.name = 'SearchSpecError';
  }
}

const STRATEGIES = ['ppo', 'random', 'evolution'];

/** Fills defaults and checks every field; throws SearchSpecError naming the first bad one. */
export function normalizeSpec(input: SearchSpecInput): SearchSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new SearchSpecError('(root)', 'must be an object');
  const recipe = { ...defaultRecipe(), ...pickObject(input.recipe, 'recipe') };
  const spec: SearchSpec = {
    name: input.name ?? 'search',
    dataset: input.dataset ?? 'mnist',
    strategy: input.strategy ?? 'ppo',
    seed: input.seed ?? 0,
    numBlocks: input.numBlocks ?? 5,
    budget: { architectures: 100, concurrency: 2, maxWallSeconds: 0, ...pickObject(input.budget, 'budget') },
    recipe,
    controller: { ...defaultControllerSettings(), ...pickObject(input.controller, 'controller') },
    earlyStopping: { enabled: false, minEpochs: 1, minCompleted: 5, ...pickObject(input.earlyStopping, 'earlyStopping') },
    finalPhase: { topK: 0, epochs: 2 * recipe.epochs, filters: recipe.initialFilters, cells: recipe.cells, ...pickObject(input.finalPhase, 'finalPhase') },
  };
  str(spec.name, 'name', 200);
  str(spec.dataset, 'dataset', 4096);
  if (!/^(mnist|synthetic|cifar10:.+)$/.test(spec.dataset)) throw new SearchSpecError('dataset', `'${spec.dataset.slice(0, 80)}' is not one of mnist, synthetic, cifar10:PATH`);
  if (!STRATEGIES.includes(spec.strategy)) throw new SearchSpecError('strategy', `'${String(spec.strategy)}' is not one of ${STRATEGIES.join(', ')}`);
  int(spec.seed, 'seed', 0, 2 ** 32 - 1);
  int(spec.numBlocks, 'numBlocks', 1, 10);
  int(spec.budget.architectures, 'budget.architectures', 1, 1_000_000);
  int(spec.budget.concurrency, 'budget.concurrency', 1, 10_000);
  num(spec.budget.maxWallSeconds, 'budget.maxWallSeconds', 0, 1e9);
  const r = spec.recipe;
  int(r.epochs, 'recipe.epochs', 1, 10_000);
  int(r.batchSize, 'recipe.batchSize', 1, 4096);
  int(r.initialFilters, 'recipe.initialFilters', 1, 4096);
  int(r.cells, 'recipe.cells', 1, 64);
  num(r.learningRate, 'recipe.learningRate', 0, 10, true);
  num(r.momentum, 'recipe.momentum', 0, 1);
  num(r.weightDecay, 'recipe.weightDecay', 0, 1);
  num(r.dropPathKeepProb, 'recipe.dropPathKeepProb', 0, 1, true);
  bool(r.auxHead, 'recipe.auxHead');
  num(r.gradientClipNorm, 'recipe.gradientClipNorm', 0, 1e6);
  int(r.maxStepsPerEpoch, 'recipe.maxStepsPerEpoch', 0, 1e9);
  int(r.trainLimit, 'recipe.trainLimit', 0, 1e9);
  int(r.validationLimit, 'recipe.validationLimit', 0, 1e9);
  bool(r.checkpointCells, 'recipe.checkpointCells');
  const c = spec.controller;
  num(c.learningRate, 'controller.learningRate', 0, 10, true);
  num(c.entropyWeight, 'controller.entropyWeight', 0, 10);
  num(c.baselineDecay, 'controller.baselineDecay', 0, 1);
  int(c.batchSize, 'controller.batchSize', 1, 100_000);
  num(c.clipRange, 'controller.clipRange', 0, 10, true);
  int(c.epochs, 'controller.epochs', 1, 1000);
  int(c.lstmUnits, 'controller.lstmUnits', 1, 4096);
  bool(spec.earlyStopping.enabled, 'earlyStopping.enabled');
  int(spec.earlyStopping.minEpochs, 'earlyStopping.minEpochs', 1, 10_000);
  int(spec.earlyStopping.minCompleted, 'earlyStopping.minCompleted', 1, 1_000_000);
  int(spec.finalPhase.topK, 'finalPhase.topK', 0, 10_000);
  int(spec.finalPhase.epochs, 'finalPhase.epochs', 1, 100_000);
  int(spec.finalPhase.filters, 'finalPhase.filters', 1, 4096);
  int(spec.finalPhase.cells, 'finalPhase.cells', 1, 64);
  return spec;
}

/** The recipe of final-phase children: the search recipe with the final phase's epochs and network size. */
export function finalRecipe(spec: SearchSpec): ChildRecipe {
  return { ...spec.recipe, epochs: spec.finalPhase.epochs, initialFilters: spec.finalPhase.filters, cells: spec.finalPhase.cells };
}

function pickObject<T>(value: T | undefined, field: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SearchSpecError(field, 'must be an object');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as Partial<T>;
}

function str(v: unknown, field: string, max: number): void {
  if (typeof v !== 'string' || v.length === 0) throw new SearchSpecError(field, 'must be a non-empty string');
  if (v.length > max) throw new SearchSpecError(field, `is ${v.length} characters long, at most ${max} allowed`);
}

function int(v: unknown, field: string, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SearchSpecError(field, `must be an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw new SearchSpecError(field, `must be between ${min} and ${max}, got ${v}`);
}

function num(v: unknown, field: string, min: number, max: number, exclusiveMin = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SearchSpecError(field, `must be a finite number, got ${JSON.stringify(v)}`);
  if (v < min || (exclusiveMin && v === min) || v > max) {
    throw new SearchSpecError(field, `must be ${exclusiveMin ? 'above' : 'at least'} ${min} and at most ${max}, got ${v}`);
  }
}

function bool(v: unknown, field: string): void {
  if (typeof v !== 'boolean') throw new SearchSpecError(field, `must be true or false, got ${JSON.stringify(v)}`);
}
