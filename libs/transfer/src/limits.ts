/**
 * Operator limits on transfers: how big one transfer may be and how many
 * may wait, whatever a caller asks for. The defaults admit the paper's
 * largest network (NASNet-A 6@4032: N = 6, F0 = 168, 331 x 331 images,
 * section 4.2) and its CIFAR recipe (600 epochs), nothing larger.
 */
import type { TransferPlan } from './run.js';

export interface TransferLimits {
  /** Side of the training images, pixels. @default 331 (NASNet-A large) */
  imageSize: number;
  /** @default 600 (the paper's CIFAR-10 recipe) */
  epochs: number;
  /** Filters of the first stack, F0. @default 192 */
  filters: number;
  /** Normal cells per stack, N. @default 6 */
  cells: number;
  /** @default 256 */
  batchSize: number;
  /** Transfers waiting to train; more are refused (RESOURCE_EXHAUSTED). @default 16 */
  maxQueued: number;
}

export const DEFAULT_TRANSFER_LIMITS: Readonly<TransferLimits> = Object.freeze({
  imageSize: 331, epochs: 600, filters: 192, cells: 6, batchSize: 256, maxQueued: 16,
});

/** A planned transfer above an operator limit; `field` is the TransferJob path (e.g. `recipe.imageSize`, `size.cells`). */
export class TransferLimitError extends Error {
  constructor(readonly field: string, readonly value: number, readonly limit: number) {
    super(`${value} is above the operator's limit of ${limit}`);
    this.name = 'TransferLimitError';
  }
}

/** A limits file whose `transfer` section cannot be used: names the file and the field. */
export class TransferLimitsFileError extends Error {
  constructor(readonly source: string, readonly field: string, why: string) {
    super(`limits ${source}: ${field}: ${why}`);
    this.name = 'TransferLimitsFileError';
  }
}

/** Throws TransferLimitError for the first planned value above its limit (the plan has every default filled in). */
export function checkTransferLimits(plan: Pick<TransferPlan, 'recipe' | 'size'>, limits: TransferLimits): void {
  const check = (field: string, value: number, limit: number): void => {
    if (value > limit) throw new TransferLimitError(field, value, limit);
  };
  check('recipe.imageSize', plan.recipe.imageSize, limits.imageSize);
  check('recipe.epochs', plan.recipe.epochs, limits.epochs);
  check('recipe.batchSize', plan.recipe.batchSize, limits.batchSize);
  check('size.cells', plan.size.cells, limits.cells);
  check('size.initialFilters', plan.size.initialFilters, limits.filters);
}

const RANGES: Record<keyof TransferLimits, { min: number; max: number }> = {
  imageSize: { min: 8, max: 4096 }, epochs: { min: 1, max: 100_000 }, filters: { min: 1, max: 4096 },
  cells: { min: 1, max: 64 }, batchSize: { min: 1, max: 4096 }, maxQueued: { min: 0, max: 100_000 },
};

/**
 * The `transfer` section of a limits document (parsed YAML or JSON) over the
 * defaults; other sections (e.g. `search`) belong to other services.
 */
export function parseTransferLimits(value: unknown, source: string): TransferLimits {
  const out: TransferLimits = { ...DEFAULT_TRANSFER_LIMITS };
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TransferLimitsFileError(source, '(root)', 'expected a mapping with a `transfer` section');
  const section = (value as Record<string, unknown>).transfer;
  if (section === undefined || section === null) return out;
  if (typeof section !== 'object' || Array.isArray(section)) throw new TransferLimitsFileError(source, 'transfer', 'expected a mapping');
  for (const [key, v] of Object.entries(section)) {
    const range = RANGES[key as keyof TransferLimits];
    if (!range) throw new TransferLimitsFileError(source, `transfer.${key}`, `unknown field (expected ${Object.keys(RANGES).join(', ')})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
      throw new TransferLimitsFileError(source, `transfer.${key}`, `expected an integer from ${range.min} to ${range.max}, got ${JSON.stringify(v)}`);
    }
    out[key as keyof TransferLimits] = v;
  }
  return out;
}
