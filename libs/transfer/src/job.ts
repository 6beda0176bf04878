import type { LoadDatasetOptions } from '@nasnet/data';
import { NETWORK_LAYOUTS, type NetworkLayout } from '@nasnet/network';
import { validateGenotype } from '@nasnet/search-space';
import type { Genotype } from '@nasnet/search-space';
import { TransferSpecError } from './errors.js';
import type { ImageFolderOptions } from './image-folder.js';

/**
 * How the transferred network is trained. The defaults are the layout's
 * published recipe (defaultTransferRecipe): the paper's final CIFAR recipe
 * (section 4.1), or the reference's ImageNet mobile / Large recipes.
 */
export interface TransferRecipe {
  /** @default 600 (cifar, paper); 312 (imagenet layouts, see IMAGENET_EPOCHS) */
  epochs: number;
  /** @default 32 (cifar, paper; imagenet: per-replica batch); 16 (imagenet-large, per-replica batch) */
  batchSize: number;
  /** Initial learning rate. @default 0.025 (cifar), 0.04 (imagenet), 0.015 (imagenet-large) */
  learningRate: number;
  /** Momentum of SGD, or of RMSProp. @default 0.9 */
  momentum: number;
  /** L2 weight decay on kernels. @default 5e-4 (cifar), 4e-5 (imagenet), 5e-5 (imagenet-large) */
  weightDecay: number;
  /** Auxiliary classifier before the second reduction. @default true (all reference configs: use_aux_head 1) */
  auxHead: boolean;
  /** Weight of the auxiliary loss. @default 0.4 (paper and reference notes) */
  auxWeight: number;
  /** ScheduledDropPath keep0. @default 0.6 (cifar), 1.0 (imagenet), 0.7 (imagenet-large) */
  dropPathKeepProb: number;
  /** Cutout augmentation (DeVries & Taylor 2017). @default true for cifar10, false otherwise (the paper's 2.65% model uses it) */
  cutout: boolean;
  /** Side of the cutout patch in pixels. @default 16 (CIFAR-10's, DeVries & Taylor 2017) */
  cutoutSize: number;
  /** Global gradient-norm clip; 0 disables. @default 5 (cifar), 10 (imagenet layouts) */
  gradientClipNorm: number;
  /**
   * Side of the square input images. Only image folders are resized; other
   * data sets must be given at their own size.
   * @default the data set's size; image folders: 32 (cifar), 224 (imagenet), 331 (imagenet-large)
   */
  imageSize: number;
  /**
   * Stop early, for smoke tests: 0 = no limit. Each epoch stops after
   * ceil(maxSteps / epochs) steps, so the cosine schedule still ends at 0.
   * @default 0
   */
  maxSteps: number;
  /** @default 'sgd' (cifar), 'rmsprop' (imagenet layouts) */
  optimizer: 'sgd' | 'rmsprop';
  /** @default 'cosine' (cifar), 'exponential' (imagenet layouts) */
  lrSchedule: 'cosine' | 'exponential';
  /** Exponential schedule: factor every lrDecayEpochs. @default 0.97 */
  lrDecayRate: number;
  /** Exponential schedule: epochs between decays. @default 2.4 */
  lrDecayEpochs: number;
  /** Label smoothing of the loss. @default 0 (cifar), 0.1 (imagenet layouts) */
  labelSmoothing: number;
  /** Keep probability of the dropout before the classifier (1 = none). @default 1 (cifar), 0.5 (imagenet layouts) */
  denseDropoutKeepProb: number;
  /**
   * Checkpoint each cell (@nasnet/trainer trainChild's checkpointCells): the
   * backward pass recomputes each cell's forward pass instead of keeping its
   * activations. Peak activation memory about a quarter (CIFAR 6@768, batch
   * 32, wasm: 3.40 GB -> 0.81 GB), each step slower by about one more forward
   * pass; the same gradients to float32 rounding. For networks that do not
   * fit otherwise (6@768 does not fit the 4 GiB wasm heap without it).
   * @default false
   */
  checkpointCells: boolean;
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
  /** @default the layout's published NASNet-A size: 6@768 (cifar), 4@1056 (imagenet), 6@4032 (imagenet-large) */
  size?: TransferSize;
  /** Stem filters = stemMultiplier x F0 (cifar) or x 32 (imagenet layouts). @default 3 (cifar, imagenet-large), 1 (imagenet) */
  stemMultiplier?: number;
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

/**
 * Epochs of the ImageNet recipes. The reference gives steps, not epochs:
 * total_training_steps = 250,000 in mobile_imagenet_config and
 * large_imagenet_config, at a synchronous batch of 50 x 32 (mobile) or
 * 100 x 16 (large) = 1,600 images; 250,000 x 1,600 / 1,281,167 ImageNet
 * training images = 312 epochs.
 */
export const IMAGENET_EPOCHS = 312;

/**
 * The recipe of a layout with its published defaults; `cutout` depends on
 * the data set, imageSize 0 = decided by the data set.
 * - cifar: the paper's final CIFAR recipe (section 4.1; reference nasnet.py
 *   cifar_config notes and nasnet_cifar_arg_scope): SGD momentum 0.9,
 *   lr 0.025 cosine, batch 32, 600 epochs, weight decay 5e-4, aux head 0.4,
 *   drop-path keep 0.6, clip 5.
 * - imagenet (mobile) and imagenet-large: the reference's training notes in
 *   nasnet.py (mobile: "batch size (per replica): 32, learning rate:
 *   0.04 * 50, learning rate scaling factor: 0.97, num epochs per decay: 2.4,
 *   auxiliary head weighting: 0.4, label smoothing: 0.1, clip global norm of
 *   all gradients by 10"; large: batch 16, learning rate 0.015 * 100, the
 *   rest alike), the configs' drop_path_keep_prob (1.0 / 0.7) and
 *   dense_dropout_keep_prob (0.5), the arg scopes' weight decay (4e-5 /
 *   5e-5), and RMSProp as slim's train_image_classifier.py runs it
 *   (momentum 0.9; decay 0.9 and epsilon 1.0 are the trainer's
 *   RMSPROP_DEFAULTS). The reference's rate is per replica times the
 *   replica count (50 or 100, synchronous): one trainer here is one
 *   replica, so it takes the per-replica rate with the per-replica batch.
 */
export function defaultTransferRecipe(dataset = '', layout: NetworkLayout = 'cifar'): TransferRecipe {
  const common = {
    auxHead: true, auxWeight: 0.4, momentum: 0.9,
    cutout: dataset.trim().startsWith('cifar10:'), cutoutSize: 16, imageSize: 0, maxSteps: 0,
    lrDecayRate: 0.97, lrDecayEpochs: 2.4, checkpointCells: false,
  };
  if (layout === 'cifar') {
    return {
      ...common, epochs: 600, batchSize: 32, learningRate: 0.025, weightDecay: 5e-4, dropPathKeepProb: 0.6, gradientClipNorm: 5,
      optimizer: 'sgd', lrSchedule: 'cosine', labelSmoothing: 0, denseDropoutKeepProb: 1,
    };
  }
  const imagenet = {
    ...common, epochs: IMAGENET_EPOCHS, gradientClipNorm: 10, optimizer: 'rmsprop', lrSchedule: 'exponential',
    labelSmoothing: 0.1, denseDropoutKeepProb: 0.5,
  } as const;
  return layout === 'imagenet-large'
    ? { ...imagenet, batchSize: 16, learningRate: 0.015, weightDecay: 5e-5, dropPathKeepProb: 0.7 }
    : { ...imagenet, batchSize: 32, learningRate: 0.04, weightDecay: 4e-5, dropPathKeepProb: 1 };
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): void {
  if (!allowed.includes(v as T)) throw new TransferSpecError(field, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
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

/** Fills the layout's recipe defaults and checks every field, naming the first bad one (`recipe.batchSize`). */
export function resolveTransferRecipe(dataset: string, recipe: Partial<TransferRecipe> = {}, layout: NetworkLayout = 'cifar'): TransferRecipe {
  const defined = Object.fromEntries(Object.entries(recipe).filter(([, v]) => v !== undefined)) as Partial<TransferRecipe>;
  const r = { ...defaultTransferRecipe(dataset, layout), ...defined };
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
  oneOf(r.optimizer, 'recipe.optimizer', ['sgd', 'rmsprop']);
  oneOf(r.lrSchedule, 'recipe.lrSchedule', ['cosine', 'exponential']);
  num(r.lrDecayRate, 'recipe.lrDecayRate', 0, 1, { min: true });
  num(r.lrDecayEpochs, 'recipe.lrDecayEpochs', 0, 100_000, { min: true });
  num(r.labelSmoothing, 'recipe.labelSmoothing', 0, 1, { max: true });
  num(r.denseDropoutKeepProb, 'recipe.denseDropoutKeepProb', 0, 1, { min: true });
  bool(r.checkpointCells, 'recipe.checkpointCells');
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
  oneOf(job.layout ?? 'cifar', 'layout', NETWORK_LAYOUTS);
  if (job.stemMultiplier !== undefined) num(job.stemMultiplier, 'stemMultiplier', 0, 64, { min: true });
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
