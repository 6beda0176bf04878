import type { LoadDatasetOptions } from '@nasnet/data';
import type { NetworkLayout } from '@nasnet/network';
import { validateGenotype } from '@nasnet/search-space';
import type { Genotype } from '@nasnet/search-space';
import { TransferSpecError } from './errors.js';
import type { ImageFolderOptions } from './image-folder.js';

/**
 * How the transferred network is trained: the paper's final CIFAR recipe
 * (section 4.1 and appendix) unless a field says otherwise.
 */
export interface TransferRecipe {
  /** @default 600 (paper) */
  epochs: number;
  /** @default 32 (paper) */
  batchSize: number;
  /** Initial rate of SGD with momentum, cosine-decayed to 0 over all steps. @default 0.025 (paper) */
  learningRate: number;
  /** @default 0.9 (paper) */
  momentum: number;
  /** L2 weight decay on kernels. @default 5e-4 (paper) */
  weightDecay: number;
  /** Auxiliary classifier before the second reduction. @default true (paper) */
  auxHead: boolean;
  /** Weight of the auxiliary loss. @default 0.4 (paper) */
  auxWeight: number;
  /** ScheduledDropPath keep0. @default 0.6 (paper) */
  dropPathKeepProb: number;
  /** Cutout augmentation (DeVries & Taylor 2017). @default true for cifar10, false otherwise (the paper's 2.65% model uses it) */
  cutout: boolean;
  /** Side of the cutout patch in pixels. @default 16 (CIFAR-10's, DeVries & Taylor 2017) */
  cutoutSize: number;
  /** Global gradient-norm clip; 0 disables. @default 5 (paper) */
  gradientClipNorm: number;
  /**
   * Side of the square input images. Only image folders are resized; other
   * data sets must be given at their own size.
   * @default the data set's size; image folders: 32 (cifar layout), 224 (imagenet layout)
   */
  imageSize: number;
  /**
   * Stop early, for smoke tests: 0 = no limit. Each epoch stops after
   * ceil(maxSteps / epochs) steps, so the cosine schedule still ends at 0.
   * @default 0
   */
  maxSteps: number;
}

/** How large to build the network. */
export type TransferSize =
  /** Exactly N@F: give `filters` (the paper's penultimate F) or `initialFilters` (F0). */
  | { cells: number; filters?: number; initialFilters?: number }
  /** The largest size with at most this many trainable parameters (without the auxiliary head). */
  | { budgetParams: number }
  /** The largest size with at most this many multiply-adds per image (without the auxiliary head). */
  | { budgetMultAdds: number };

/** Loader options for the data sets a transfer reads (server configuration, not part of the wire spec). */
export interface TransferDatasetOptions extends LoadDatasetOptions {
  /** Options of `imagefolder:<dir>` data sets; imageSize and seed come from the transfer. */
  imageFolder?: Omit<ImageFolderOptions, 'imageSize' | 'seed'>;
}

/** Everything one transfer needs. */
export interface TransferJob {
  /** A person's name for it. @default 'transfer' */
  name?: string;
  /** The cells to stack. */
  genotype: Genotype;
  /** @default 'cifar' */
  layout?: NetworkLayout;
  /** @default the layout's published NASNet-A size: 6@768 (cifar), 4@1056 (imagenet) */
  size?: TransferSize;
  /** `cifar10:<dir>`, `imagefolder:<dir>`, `mnist` or `synthetic`. */
  dataset: string;
  recipe?: Partial<TransferRecipe>;
  /** Folder to write model.json + weights.bin into; empty or unset = no export. */
  exportPath?: string;
  /** Seeds weights, data order, augmentation, drop path and the image-folder split. @default 0 */
  seed?: number;
  /** Loader options (e.g. `{ cifar10: { strict: false, validationSize: 100 } }`). */
  datasetOptions?: TransferDatasetOptions;
  /** Search range of chooseSize for budgets. */
  sizeSearch?: { cellsOptions?: readonly number[]; filterStep?: number };
}

/** The data set kinds a transfer accepts. */
export const TRANSFER_DATASET_SPECS = ['cifar10:/path/to/folder', 'imagefolder:/path/to/folder', 'mnist', 'synthetic'] as const;

/** The recipe with the paper's defaults; `cutout` depends on the data set, imageSize 0 = decided by the data set. */
export function defaultTransferRecipe(dataset = ''): TransferRecipe {
  return {
    epochs: 600, batchSize: 32, learningRate: 0.025, momentum: 0.9, weightDecay: 5e-4,
    auxHead: true, auxWeight: 0.4, dropPathKeepProb: 0.6,
    cutout: dataset.trim().startsWith('cifar10:'), cutoutSize: 16,
    gradientClipNorm: 5, imageSize: 0, maxSteps: 0,
  };
}

function int(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TransferSpecError(field, `must be an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw new TransferSpecError(field, `must be between ${min} and ${max}, got ${v}`);
}

function num(v: unknown, field: string, min: number, max: number, open: { min?: boolean; max?: boolean } = {}): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TransferSpecError(field, `must be a finite number, got ${JSON.stringify(v)}`);
  if (v < min || (open.min && v === min) || v > max || (open.max && v === max)) {
    throw new TransferSpecError(field, `must be in ${open.min ? '(' : '['}${min}, ${max}${open.max ? ')' : ']'}, got ${v}`);
  }
}

function bool(v: unknown, field: string): void {
  if (typeof v !== 'boolean') throw new TransferSpecError(field, `must be true or false, got ${JSON.stringify(v)}`);
}

/** Fills the recipe's defaults and checks every field, naming the first bad one (`recipe.batchSize`). */
export function resolveTransferRecipe(dataset: string, recipe: Partial<TransferRecipe> = {}): TransferRecipe {
  const defined = Object.fromEntries(Object.entries(recipe).filter(([, v]) => v !== undefined)) as Partial<TransferRecipe>;
  const r = { ...defaultTransferRecipe(dataset), ...defined };
  int(r.epochs, 'recipe.epochs', 1, 100_000);
  int(r.batchSize, 'recipe.batchSize', 1, 65_536);
  num(r.learningRate, 'recipe.learningRate', 0, 100, { min: true });
  num(r.momentum, 'recipe.momentum', 0, 1, { max: true });
  num(r.weightDecay, 'recipe.weightDecay', 0, 1);
  bool(r.auxHead, 'recipe.auxHead');
  num(r.auxWeight, 'recipe.auxWeight', 0, 100);
  num(r.dropPathKeepProb, 'recipe.dropPathKeepProb', 0, 1, { min: true });
  bool(r.cutout, 'recipe.cutout');
  int(r.cutoutSize, 'recipe.cutoutSize', 0, 65_536);
  num(r.gradientClipNorm, 'recipe.gradientClipNorm', 0, 1e9);
  int(r.imageSize, 'recipe.imageSize', 0, 65_536);
  int(r.maxSteps, 'recipe.maxSteps', 0);
  return r;
}

/** Checks the job's own fields (not the data set, which planTransfer reads). */
export function checkTransferJob(job: TransferJob): void {
  if (job === null || typeof job !== 'object') throw new TransferSpecError('(root)', 'must be an object');
  try {
    validateGenotype(job.genotype);
  } catch (err) {
    const { path, reason } = err as { path?: string; reason?: string };
    const why = reason ?? (err instanceof Error ? err.message : String(err));
    throw new TransferSpecError(path ? `genotype.${path}` : 'genotype', why, { cause: err });
  }
  const layout = job.layout ?? 'cifar';
  if (layout !== 'cifar' && layout !== 'imagenet') throw new TransferSpecError('layout', `must be 'cifar' or 'imagenet', got ${JSON.stringify(layout)}`);
  if (typeof job.dataset !== 'string' || job.dataset.trim() === '') throw new TransferSpecError('dataset', 'must be a non-empty string');
  if (job.name !== undefined && typeof job.name !== 'string') throw new TransferSpecError('name', 'must be a string');
  if (job.exportPath !== undefined && typeof job.exportPath !== 'string') throw new TransferSpecError('exportPath', 'must be a string');
  if (job.seed !== undefined) int(job.seed, 'seed', 0, 2 ** 32 - 1);
  const size = job.size;
  if (size !== undefined) {
    if (size === null || typeof size !== 'object') throw new TransferSpecError('size', 'must be an object');
    if ('budgetParams' in size) int(size.budgetParams, 'size.budgetParams', 1);
    else if ('budgetMultAdds' in size) int(size.budgetMultAdds, 'size.budgetMultAdds', 1);
    else {
      int(size.cells, 'size.cells', 1, 1000);
      if ((size.filters === undefined) === (size.initialFilters === undefined)) {
        throw new TransferSpecError('size.filters', 'give exactly one of filters (N@F) and initialFilters (F0)');
      }
      if (size.filters !== undefined) int(size.filters, 'size.filters', 1);
      if (size.initialFilters !== undefined) int(size.initialFilters, 'size.initialFilters', 1, 65_536);
    }
  }
}
