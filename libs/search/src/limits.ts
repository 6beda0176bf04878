/**
 * Operator limits on searches: what one cluster agrees to run, whatever a
 * caller asks for. The defaults fit a small cluster (a few nodes, one or two
 * GPUs); an operator raises them in the limits file (a ConfigMap).
 */
import type { ChildExecutor } from './child.js';
import type { SearchSpec } from './spec.js';

export interface SearchLimits {
  /** Searches pending or running at once. @default 4 */
  maxActiveSearches: number;
  /** budget.architectures. @default 2000 */
  architectures: number;
  /** budget.concurrency (trainers of one search, the Job's parallelism). @default 8 */
  concurrency: number;
  /** recipe.epochs and finalPhase.epochs. @default 100 */
  epochs: number;
  /** recipe.initialFilters and finalPhase.filters (F0). @default 64 */
  filters: number;
  /** recipe.cells and finalPhase.cells (N). @default 6 */
  cells: number;
  /** recipe.batchSize. @default 256 */
  batchSize: number;
  /** Bytes of a search's stored state (the KV value); a search that would exceed it is refused or stopped. @default 64 MiB */
  stateBytes: number;
  /** Training time of one child, seconds; past it the child fails and its trainer moves on (0 = none). @default 7200 */
  childDeadlineSeconds: number;
  /** Wall time of one search, seconds; past it the search ends FAILED (0 = none). @default 172800 (2 days) */
  searchWallSeconds: number;
}

/** A small cluster's limits. */
export const DEFAULT_SEARCH_LIMITS: Readonly<SearchLimits> = Object.freeze({
  maxActiveSearches: 4,
  architectures: 2000,
  concurrency: 8,
  epochs: 100,
  filters: 64,
  cells: 6,
  batchSize: 256,
  stateBytes: 64 * 2 ** 20,
  childDeadlineSeconds: 7200,
  searchWallSeconds: 172_800,
});

/**
 * Stored bytes per child entry: its genotype (two cells of B blocks), its
 * result with the per-epoch curve and the strategy's sample. Measured on
 * stored searches: about 1 KB per child at B = 5 and 20 epochs (a
 * 10^6-child state was about 1 GB, issue 11), so 1.5 KB leaves room for
 * longer curves.
 */
export const STATE_BYTES_PER_CHILD = 1536;

/**
 * A request over an operator limit. `kind` 'capacity' (cluster resources:
 * concurrency, active searches) maps to RESOURCE_EXHAUSTED, 'size' (how big
 * one search is) to INVALID_ARGUMENT.
 */
export class SearchLimitError extends Error {
  constructor(readonly field: string, readonly value: number, readonly limit: number, readonly kind: 'size' | 'capacity', detail = '') {
    super(`${field} ${value} is above the operator's limit of ${limit}${detail ? ` (${detail})` : ''}`);
    this.name = 'SearchLimitError';
  }
}

/** A limits file that cannot be used: names the file and the field. */
export class LimitsFileError extends Error {
  constructor(readonly source: string, readonly field: string, why: string) {
    super(`limits ${source}: ${field}: ${why}`);
    this.name = 'LimitsFileError';
  }
}

/** The stored size a search will reach, estimated before it starts. */
export function estimateStateBytes(spec: SearchSpec): number {
  return (spec.budget.architectures + spec.finalPhase.topK) * STATE_BYTES_PER_CHILD;
}

/** Throws SearchLimitError for the first field of a normalized spec above a limit. */
export function checkSearchLimits(spec: SearchSpec, limits: SearchLimits): void {
  const size = (field: string, value: number, limit: number): void => {
    if (value > limit) throw new SearchLimitError(field, value, limit, 'size');
  };
  size('budget.architectures', spec.budget.architectures, limits.architectures);
  if (spec.budget.concurrency > limits.concurrency) throw new SearchLimitError('budget.concurrency', spec.budget.concurrency, limits.concurrency, 'capacity');
  size('recipe.epochs', spec.recipe.epochs, limits.epochs);
  size('recipe.batchSize', spec.recipe.batchSize, limits.batchSize);
  size('recipe.initialFilters', spec.recipe.initialFilters, limits.filters);
  size('recipe.cells', spec.recipe.cells, limits.cells);
  if (spec.finalPhase.topK > 0) {
    size('finalPhase.epochs', spec.finalPhase.epochs, limits.epochs);
    size('finalPhase.filters', spec.finalPhase.filters, limits.filters);
    size('finalPhase.cells', spec.finalPhase.cells, limits.cells);
  }
  const bytes = estimateStateBytes(spec);
  if (bytes > limits.stateBytes) {
    throw new SearchLimitError('budget.architectures', spec.budget.architectures, Math.floor(limits.stateBytes / STATE_BYTES_PER_CHILD) - spec.finalPhase.topK, 'size',
      `its stored state would reach about ${bytes} bytes, the state limit is ${limits.stateBytes}`);
  }
}

const FIELDS: Record<keyof SearchLimits, { min: number; max: number }> = {
  maxActiveSearches: { min: 1, max: 100_000 },
  architectures: { min: 1, max: 1_000_000 },
  concurrency: { min: 1, max: 10_000 },
  epochs: { min: 1, max: 100_000 },
  filters: { min: 1, max: 4096 },
  cells: { min: 1, max: 64 },
  batchSize: { min: 1, max: 4096 },
  stateBytes: { min: 1024, max: 2 ** 40 },
  childDeadlineSeconds: { min: 0, max: 30 * 86_400 },
  searchWallSeconds: { min: 0, max: 365 * 86_400 },
};

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The `search` section of a limits document (parsed YAML or JSON) over the
 * defaults; other top-level sections (e.g. `transfer`) belong to other
 * services and are left alone. Unknown or out-of-range fields are a
 * LimitsFileError naming `source` and the field.
 */
export function parseSearchLimits(value: unknown, source: string): SearchLimits {
  if (value === undefined || value === null) return { ...DEFAULT_SEARCH_LIMITS };
  if (!isObject(value)) throw new LimitsFileError(source, '(root)', 'expected a mapping with a `search` section');
  const section = value.search;
  if (section === undefined || section === null) return { ...DEFAULT_SEARCH_LIMITS };
  if (!isObject(section)) throw new LimitsFileError(source, 'search', 'expected a mapping');
  const out: SearchLimits = { ...DEFAULT_SEARCH_LIMITS };
  for (const [key, v] of Object.entries(section)) {
    const range = FIELDS[key as keyof SearchLimits];
    if (!range) throw new LimitsFileError(source, `search.${key}`, `unknown field (expected ${Object.keys(FIELDS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
      throw new LimitsFileError(source, `search.${key}`, `expected an integer from ${range.min} to ${range.max}, got ${JSON.stringify(v)}`);
    }
    out[key as keyof SearchLimits] = v;
  }
  return out;
}

/** The child deadline's reason, as trainers report it (ChildResult.reason). */
export function childDeadlineReason(seconds: number): string {
  return `child deadline of ${seconds} s exceeded`;
}

/** An executor whose tasks carry the operator's per-child deadline (ChildTask.maxSeconds); 0 = unchanged. */
export function withChildDeadline(executor: ChildExecutor, seconds: number): ChildExecutor {
  if (seconds <= 0) return executor;
  return {
    execute: (task, hooks) => executor.execute({ ...task, maxSeconds: seconds }, hooks),
    ...(executor.prepare ? { prepare: (searchId: string) => executor.prepare!(searchId) } : {}),
  };
}
