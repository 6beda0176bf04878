import { confineDataset, confinePath, DatasetFileMissingError, PathOutsideRootError, PathRootUnsetError } from '@nasnet/data';
import { BACKEND_NAMES } from '@nasnet/engine';
import * as pb from '@nasnet/proto';
import type { Genotype } from '@nasnet/search-space';
import {
  EmptyClassFolderError, ImageFolderMissingError, NoImageClassesError, NoSizeFitsError, TransferSpecError, UnknownImageClassError,
  checkTransferLimits, planTransfer, TransferLimitError,
} from '@nasnet/transfer';
import type { TransferDatasetOptions, TransferJob, TransferLimits, TransferPlan, TransferRecipe } from '@nasnet/transfer';
import type { NetworkLayout } from '@nasnet/network';
import { DatasetUnavailableError, InvalidTransferRequestError, SearchResolverMissingError } from './errors.js';

/** Returns the best genotype of a search, or throws (SearchNotFoundError, or an error with a gRPC code). */
export type ResolveSearchBest = (searchId: string) => Genotype | Promise<Genotype>;

/** Proto names of the recipe fields (TransferRecipe in transfer.proto). */
const RECIPE_FIELDS: Readonly<Record<keyof TransferRecipe, string>> = Object.freeze({
  epochs: 'epochs', batchSize: 'batch_size', learningRate: 'learning_rate', momentum: 'momentum', weightDecay: 'weight_decay',
  auxHead: 'aux_head', auxWeight: 'aux_weight', dropPathKeepProb: 'drop_path_keep_prob', cutout: 'cutout', cutoutSize: 'cutout_size',
  gradientClipNorm: 'grad_clip_norm', imageSize: 'image_size', maxSteps: 'max_steps', optimizer: 'optimizer', lrSchedule: 'lr_schedule',
  lrDecayRate: 'lr_decay_rate', lrDecayEpochs: 'lr_decay_epochs', labelSmoothing: 'label_smoothing', denseDropoutKeepProb: 'dense_dropout_keep_prob',
  checkpointCells: 'checkpoint_cells',
});

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A TransferJob field path (@nasnet/transfer) -> the TransferSpec field path a client sent. */
export function protoFieldFor(jobField: string): string {
  if (jobField.startsWith('recipe.')) {
    const name = jobField.slice('recipe.'.length) as keyof TransferRecipe;
    return `spec.recipe.${RECIPE_FIELDS[name] ?? snake(name)}`;
  }
  if (jobField === 'genotype' || jobField.startsWith('genotype.')) return `spec.${jobField}`;
  switch (jobField) {
    case 'size.cells': return 'spec.fixed.cells';
    case 'size.filters':
    case 'size.initialFilters': return 'spec.fixed.filters';
    case 'size.budgetParams':
    case 'budgetParams': return 'spec.budget_params';
    case 'size.budgetMultAdds':
    case 'budgetMultAdds': return 'spec.budget_mult_adds';
    default: return `spec.${snake(jobField)}`;
  }
}

/** A StartTransfer spec, checked, resolved and planned. */
export interface AcceptedSpec {
  job: TransferJob;
  /** plan.size.filters is the paper's F of N@F (TransferStatus.penultimate_filters), plan.size.initialFilters F0; plan.notices are recipe changes to log. */
  plan: TransferPlan;
  /** The spec with the server's defaults filled in (TransferStatus.spec). */
  filled: pb.TransferSpec;
  /** NAS_BACKEND for the training process ('' = auto). */
  backend: string;
}

const LAYOUTS: ReadonlyMap<pb.Layout, NetworkLayout> = new Map([
  [pb.Layout.LAYOUT_UNSPECIFIED, 'cifar'], [pb.Layout.LAYOUT_CIFAR, 'cifar'], [pb.Layout.LAYOUT_IMAGENET, 'imagenet'],
  [pb.Layout.LAYOUT_IMAGENET_LARGE, 'imagenet-large'],
]);

function layoutFromProto(layout: pb.Layout): NetworkLayout {
  const l = LAYOUTS.get(layout);
  if (l === undefined) throw new InvalidTransferRequestError('spec.layout', `unknown Layout enum ${layout}`);
  return l;
}

/** The Layout enum of a network layout (TransferStatus.spec carries the one the server used). */
export function layoutToProto(layout: NetworkLayout): pb.Layout {
  return layout === 'imagenet-large' ? pb.Layout.LAYOUT_IMAGENET_LARGE : layout === 'imagenet' ? pb.Layout.LAYOUT_IMAGENET : pb.Layout.LAYOUT_CIFAR;
}

function optimizerFromProto(o: pb.Optimizer | undefined): TransferRecipe['optimizer'] | undefined {
  switch (o) {
    case undefined:
    case pb.Optimizer.OPTIMIZER_UNSPECIFIED: return undefined; // the layout's default
    case pb.Optimizer.OPTIMIZER_SGD: return 'sgd';
    case pb.Optimizer.OPTIMIZER_RMSPROP: return 'rmsprop';
    default: throw new InvalidTransferRequestError('spec.recipe.optimizer', `unknown Optimizer enum ${o}`);
  }
}

function scheduleFromProto(s: pb.LearningRateSchedule | undefined): TransferRecipe['lrSchedule'] | undefined {
  switch (s) {
    case undefined:
    case pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_UNSPECIFIED: return undefined; // the layout's default
    case pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE: return 'cosine';
    case pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_EXPONENTIAL: return 'exponential';
    default: throw new InvalidTransferRequestError('spec.recipe.lr_schedule', `unknown LearningRateSchedule enum ${s}`);
  }
}

function recipeFromProto(r: pb.TransferRecipe | undefined): Partial<TransferRecipe> {
  if (!r) return {};
  const out: Partial<TransferRecipe> = {};
  const set = <K extends keyof TransferRecipe>(key: K, value: TransferRecipe[K] | undefined) => { if (value !== undefined) out[key] = value; };
  set('epochs', r.epochs); set('batchSize', r.batchSize); set('learningRate', r.learningRate); set('momentum', r.momentum);
  set('weightDecay', r.weightDecay); set('auxHead', r.auxHead); set('auxWeight', r.auxWeight); set('dropPathKeepProb', r.dropPathKeepProb);
  set('cutout', r.cutout); set('cutoutSize', r.cutoutSize); set('gradientClipNorm', r.gradClipNorm); set('imageSize', r.imageSize);
  set('maxSteps', r.maxSteps); set('optimizer', optimizerFromProto(r.optimizer)); set('lrSchedule', scheduleFromProto(r.lrSchedule));
  set('lrDecayRate', r.lrDecayRate); set('lrDecayEpochs', r.lrDecayEpochs); set('labelSmoothing', r.labelSmoothing);
  set('denseDropoutKeepProb', r.denseDropoutKeepProb); set('checkpointCells', r.checkpointCells);
  return out;
}

function recipeToProto(r: TransferRecipe): pb.TransferRecipe {
  return {
    epochs: r.epochs, batchSize: r.batchSize, learningRate: r.learningRate, momentum: r.momentum, weightDecay: r.weightDecay,
    auxHead: r.auxHead, auxWeight: r.auxWeight, dropPathKeepProb: r.dropPathKeepProb, cutout: r.cutout, cutoutSize: r.cutoutSize,
    gradClipNorm: r.gradientClipNorm, imageSize: r.imageSize, maxSteps: r.maxSteps,
    optimizer: r.optimizer === 'rmsprop' ? pb.Optimizer.OPTIMIZER_RMSPROP : pb.Optimizer.OPTIMIZER_SGD,
    lrSchedule: r.lrSchedule === 'exponential' ? pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_EXPONENTIAL : pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE,
    lrDecayRate: r.lrDecayRate, lrDecayEpochs: r.lrDecayEpochs, labelSmoothing: r.labelSmoothing, denseDropoutKeepProb: r.denseDropoutKeepProb,
    checkpointCells: r.checkpointCells,
  };
}

function stripPrefix(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

async function genotypeOf(spec: pb.TransferSpec, resolve: ResolveSearchBest | undefined): Promise<Genotype> {
  const source = spec.source;
  if (!source) throw new InvalidTransferRequestError('spec.source', 'set spec.genotype or spec.search_id');
  if (source.$case === 'genotype') {
    try {
      return pb.genotypeFromProto(source.value);
    } catch (err) {
      if (err instanceof pb.ProtoConversionError) {
        throw new InvalidTransferRequestError(`spec.genotype.${err.field}`, stripPrefix(err.message, err.field), { cause: err });
      }
      throw err;
    }
  }
  const searchId = source.value;
  if (searchId.trim() === '') throw new InvalidTransferRequestError('spec.search_id', 'is empty');
  if (!resolve) throw new SearchResolverMissingError(searchId);
  return resolve(searchId);
}

/**
 * Where a transfer may read and write: data sets only under dataRoot,
 * exports only under exportRoot (a root left unset: no such paths).
 */
export interface TransferPaths {
  dataRoot?: string;
  exportRoot?: string;
}

/** The operator's transfer limits; INVALID_ARGUMENT names the proto field and the limit. */
function withinLimits(plan: Pick<TransferPlan, 'recipe' | 'size'>, limits: TransferLimits): void {
  try {
    checkTransferLimits(plan, limits);
  } catch (err) {
    if (err instanceof TransferLimitError) throw new InvalidTransferRequestError(protoFieldFor(err.field), err.message, { cause: err });
    throw err;
  }
}

/** A path confined to its root; the refusal names the field, never the path or anything outside the root. */
async function confined<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PathOutsideRootError || err instanceof PathRootUnsetError) {
      throw new InvalidTransferRequestError(err.field, err.message.slice(err.field.length + 2), { cause: err });
    }
    throw err;
  }
}

/**
 * Checks a StartTransfer spec field by field (INVALID_ARGUMENT names the
 * proto field), resolves its genotype (search_id through the controller),
 * and plans it with @nasnet/transfer: recipe defaults, data-set shape and
 * the network size, budgets included. Resources other than `backend` only
 * matter to a Kubernetes launcher and are kept as given.
 */
export async function acceptSpec(
  spec: pb.TransferSpec | undefined,
  ctx: { resolveSearchBest?: ResolveSearchBest; datasetOptions?: TransferDatasetOptions; paths?: TransferPaths; limits?: TransferLimits } = {},
): Promise<AcceptedSpec> {
  if (!spec) throw new InvalidTransferRequestError('spec', 'is required');
  const genotype = await genotypeOf(spec, ctx.resolveSearchBest);
  const layout = layoutFromProto(spec.layout);
  if (spec.dataset.trim() === '') throw new InvalidTransferRequestError('spec.dataset', 'is required (cifar10:PATH, imagefolder:PATH, mnist or synthetic)');
  const backend = spec.resources?.backend ?? '';
  if (backend !== '' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new InvalidTransferRequestError('spec.resources.backend', `'${backend}' is not one of ${BACKEND_NAMES.join(', ')}`);
  }
  const size = spec.size;
  let jobSize: TransferJob['size'];
  if (size?.$case === 'fixed') {
    if (size.value.cells < 1) throw new InvalidTransferRequestError('spec.fixed.cells', `must be >= 1, got ${size.value.cells}`);
    if (size.value.filters < 1) throw new InvalidTransferRequestError('spec.fixed.filters', `must be >= 1 (filters of the first stack, F0), got ${size.value.filters}`);
    jobSize = { cells: size.value.cells, initialFilters: size.value.filters };
  } else if (size?.$case === 'budgetParams') {
    if (size.value < 1) throw new InvalidTransferRequestError('spec.budget_params', `must be >= 1, got ${size.value}`);
    jobSize = { budgetParams: size.value };
  } else if (size?.$case === 'budgetMultAdds') {
    if (size.value < 1) throw new InvalidTransferRequestError('spec.budget_mult_adds', `must be >= 1, got ${size.value}`);
    jobSize = { budgetMultAdds: size.value };
  }
  if (ctx.limits) {
    // What the request names is checked before planning (a 65,536-pixel image is never sized), the plan after.
    const r = recipeFromProto(spec.recipe);
    withinLimits({
      recipe: { imageSize: r.imageSize ?? 0, epochs: r.epochs ?? 0, batchSize: r.batchSize ?? 0 } as TransferPlan['recipe'],
      size: { cells: jobSize && 'cells' in jobSize ? jobSize.cells : 0, initialFilters: (jobSize && 'initialFilters' in jobSize ? jobSize.initialFilters : undefined) ?? 0 } as TransferPlan['size'],
    }, ctx.limits);
  }
  // Confined before anything reads or creates them (a data set outside the root is never opened).
  const paths = ctx.paths;
  const dataset = paths ? await confined(() => confineDataset(spec.dataset, paths.dataRoot, 'spec.dataset')) : spec.dataset;
  let exportPath = spec.exportPath || undefined;
  if (paths && exportPath !== undefined) {
    const requested = exportPath;
    exportPath = await confined(async () => {
      if (paths.exportRoot === undefined) throw new PathRootUnsetError('spec.export_path', 'export', 'NASNET_EXPORT_DIR');
      return confinePath(paths.exportRoot, requested, 'spec.export_path', 'export');
    });
  }
  const job: TransferJob = {
    name: spec.name || 'transfer',
    genotype,
    layout,
    ...(jobSize ? { size: jobSize } : {}),
    dataset,
    recipe: recipeFromProto(spec.recipe),
    ...(spec.stemMultiplier !== undefined ? { stemMultiplier: spec.stemMultiplier } : {}),
    ...(exportPath ? { exportPath } : {}),
    seed: spec.seed,
    ...(ctx.datasetOptions ? { datasetOptions: ctx.datasetOptions } : {}),
  };
  let plan: TransferPlan;
  try {
    plan = await planTransfer(job);
  } catch (err) {
    if (err instanceof TransferSpecError) throw new InvalidTransferRequestError(protoFieldFor(err.field), err.reason, { cause: err });
    if (err instanceof NoSizeFitsError) throw new InvalidTransferRequestError(protoFieldFor(err.field), err.message, { cause: err });
    if (err instanceof DatasetFileMissingError || err instanceof ImageFolderMissingError || err instanceof NoImageClassesError || err instanceof EmptyClassFolderError || err instanceof UnknownImageClassError) {
      throw new DatasetUnavailableError(spec.dataset, err.message, { cause: err });
    }
    throw err;
  }
  if (ctx.limits) withinLimits(plan, ctx.limits);
  const filled: pb.TransferSpec = {
    ...spec,
    layout: layoutToProto(layout),
    size: spec.size ?? { $case: 'fixed', value: { cells: plan.size.cells, filters: plan.size.initialFilters } },
    recipe: recipeToProto(plan.recipe),
    stemMultiplier: plan.stemMultiplier,
    exportPath: plan.exportPath ?? '',
    name: job.name!,
  };
  return { job: { ...job, ...(plan.exportPath ? { exportPath: plan.exportPath } : {}) }, plan, filled, backend };
}
