import {
  FINAL_FILTER_SCALE, InvalidNetworkOptionError, cellOutputWidth, isImagenetLayout, planNetwork, planTotals,
} from '@nasnet/network';
import type { NetworkLayout, NetworkOptions } from '@nasnet/network';
import type { Genotype } from '@nasnet/search-space';
import { NoSizeFitsError, TransferSpecError } from './errors.js';

/** N values tried by chooseSize: 1..8 normal cells per stack (the paper's models use 4 to 7). */
export const DEFAULT_CELLS_OPTIONS: readonly number[] = Object.freeze([1, 2, 3, 4, 5, 6, 7, 8]);

/** Largest first-stack filter count chooseSize tries (a guard for absurd budgets). */
export const MAX_INITIAL_FILTERS = 4096;

/**
 * Default step of the first stack's filter count F0 in chooseSize.
 * CIFAR: 2, so every cell's filters split into two equal halves in a
 * factorized reduction (all published CIFAR configs, 32 and 96, are even).
 * ImageNet layouts: 4, so the two reduction stem cells at F0/4 and F0/2 are exact
 * (reference: int(num_conv_filters * 0.25); published configs 44 and 168).
 * With these steps the published budgets give the published sizes
 * (3.3M+2% -> 6@768 on CIFAR; 5.3M params or 564M mult-adds -> 4@1056 on ImageNet).
 */
export function defaultFilterStep(layout: NetworkLayout): number {
  return isImagenetLayout(layout) ? 4 : 2;
}

/** Network options chooseSize and fixedSize pass through to planNetwork. */
export type SizeNetworkOptions = Omit<NetworkOptions, 'layout' | 'cells' | 'filters' | 'initialFilters' | 'imageSize' | 'numClasses' | 'channels' | 'auxHead'>;

interface SizeBase {
  genotype: Genotype;
  /** @default 'cifar' */
  layout?: NetworkLayout;
  /** Input height and width. @default 32 (cifar), 224 (imagenet) */
  imageSize?: number;
  /** @default 10 (cifar), 1000 (imagenet) */
  numClasses?: number;
  /** @default 3 */
  channels?: number;
  /** Other network options (stem multiplier, dropout...) as the trained network will use them. */
  network?: SizeNetworkOptions;
}

export interface ChooseSizeOptions extends SizeBase {
  /** Most trainable parameters (without the auxiliary head). Give this or budgetMultAdds. */
  budgetParams?: number;
  /** Most multiply-adds per image (without the auxiliary head). Give this or budgetParams. */
  budgetMultAdds?: number;
  /** N values to try. @default DEFAULT_CELLS_OPTIONS (1..8) */
  cellsOptions?: readonly number[];
  /** Step of F0, the first stack's filters (F = F0 x 4 x the normal cell's output width). @default defaultFilterStep(layout) */
  filterStep?: number;
}

export interface FixedSizeOptions extends SizeBase {
  /** N, normal cells per stack. */
  cells: number;
  /** The paper's F in N@F (penultimate filters). Give this or initialFilters. */
  filters?: number;
  /** F0, the first stack's per-op filters. Give this or filters. */
  initialFilters?: number;
}

/** A network size with its counts (both without the auxiliary head, as the paper counts). */
export interface NetworkSize {
  /** N, normal cells per stack. */
  cells: number;
  /** The paper's F in N@F: the penultimate layer's filters. */
  filters: number;
  /** F0, the first stack's per-op filters (the reference's num_conv_filters). */
  initialFilters: number;
  paramCount: number;
  multAdds: number;
}

/** The paper's name of a size: "4@1056". */
export function formatSize(size: Pick<NetworkSize, 'cells' | 'filters'>): string {
  return `${size.cells}@${size.filters}`;
}

function baseOptions(o: SizeBase): NetworkOptions {
  const layout = o.layout ?? 'cifar';
  return {
    ...o.network,
    layout,
    ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}),
    ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
    ...(o.channels !== undefined ? { channels: o.channels } : {}),
  };
}

/** Counts of N@F exactly as planNetwork reports them (no search). */
export function fixedSize(options: FixedSizeOptions): NetworkSize {
  if (!Number.isInteger(options.cells) || options.cells < 1) throw new TransferSpecError('cells', `must be an integer >= 1, got ${options.cells}`);
  if ((options.filters === undefined) === (options.initialFilters === undefined)) {
    throw new TransferSpecError('filters', 'give exactly one of filters (N@F) and initialFilters (F0)');
  }
  const plan = planNetwork(options.genotype, {
    ...baseOptions(options),
    cells: options.cells,
    ...(options.filters !== undefined ? { filters: options.filters } : { initialFilters: options.initialFilters! }),
  });
  const totals = planTotals(plan);
  return { cells: options.cells, filters: plan.options.filters, initialFilters: plan.options.initialFilters, ...totals };
}

/**
 * The largest N@F that fits a budget of trainable parameters or mult-adds
 * per image: "largest" is the most of the budgeted quantity, ties going to
 * the larger N. For each N it finds the largest F0 (a multiple of
 * filterStep) that fits, by doubling then bisection (counts grow strictly
 * with F0); each probe is one planNetwork call, so the search takes
 * milliseconds. F0 values the network cannot be built with (too few filters
 * for a factorized reduction) are skipped. Throws NoSizeFitsError naming the
 * smallest size tried when nothing fits.
 */
export function chooseSize(options: ChooseSizeOptions): NetworkSize {
  const layout = options.layout ?? 'cifar';
  const hasParams = options.budgetParams !== undefined;
  const hasMultAdds = options.budgetMultAdds !== undefined;
  if (hasParams === hasMultAdds) throw new TransferSpecError('budgetParams', 'give exactly one of budgetParams and budgetMultAdds');
  const field = hasParams ? 'budgetParams' : 'budgetMultAdds';
  const budget = (hasParams ? options.budgetParams : options.budgetMultAdds) as number;
  if (!(Number.isFinite(budget) && budget > 0)) throw new TransferSpecError(field, `must be a positive number, got ${budget}`);
  const step = options.filterStep ?? defaultFilterStep(layout);
  if (!Number.isInteger(step) || step < 1) throw new TransferSpecError('filterStep', `must be an integer >= 1, got ${step}`);
  const cellsOptions = options.cellsOptions ?? DEFAULT_CELLS_OPTIONS;
  if (cellsOptions.length === 0) throw new TransferSpecError('cellsOptions', 'is empty');
  cellsOptions.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 1) throw new TransferSpecError(`cellsOptions[${i}]`, `must be an integer >= 1, got ${n}`);
  });
  // Validates the genotype's concat list before any search.
  const width = cellOutputWidth(options.genotype.normal, 'normal cell');
  const base = baseOptions(options);
  const maxK = Math.floor(MAX_INITIAL_FILTERS / step);

  const measure = (cells: number, k: number): NetworkSize | null => {
    const initialFilters = k * step;
    let plan;
    try {
      plan = planNetwork(options.genotype, { ...base, cells, initialFilters });
    } catch (err) {
      if (err instanceof InvalidNetworkOptionError && err.field === 'initialFilters') return null;
      throw err;
    }
    return { cells, filters: initialFilters * FINAL_FILTER_SCALE * width, initialFilters, ...planTotals(plan) };
  };
  const count = (s: NetworkSize): number => (hasParams ? s.paramCount : s.multAdds);

  let best: NetworkSize | undefined;
  let smallest: NetworkSize | undefined;
  for (const cells of cellsOptions) {
    // The smallest buildable F0 for this N (F0 >= 2, or >= 8 for ImageNet stem cells).
    let k0 = 1;
    let low = measure(cells, k0);
    while (low === null && k0 < maxK) low = measure(cells, ++k0);
    if (low === null) continue;
    if (!smallest || count(low) < count(smallest)) smallest = low;
    if (count(low) > budget) continue;
    // Double until it no longer fits, then bisect in (fit, miss).
    let fit = low;
    let fitK = k0;
    let missK = maxK + 1;
    for (let k = k0 * 2; k <= maxK; k *= 2) {
      const s = measure(cells, k)!;
      if (count(s) > budget) { missK = k; break; }
      fit = s; fitK = k;
    }
    while (missK - fitK > 1) {
      const mid = (fitK + missK) >> 1;
      const s = measure(cells, mid)!;
      if (count(s) <= budget) { fit = s; fitK = mid; } else missK = mid;
    }
    if (!best || count(fit) > count(best) || (count(fit) === count(best) && fit.cells > best.cells)) best = fit;
  }
  if (!best) {
    if (!smallest) throw new TransferSpecError('filterStep', `no F0 up to ${MAX_INITIAL_FILTERS} builds a network`);
    throw new NoSizeFitsError(field, budget, { cells: smallest.cells, filters: smallest.filters, count: count(smallest) });
  }
  return best;
}
