import { resolve } from 'node:path';
import { CellConstructionError, FeatureMapTooSmallError, InvalidNetworkOptionError, defaultNetworkOptions, planNetwork } from '@nasnet/network';
import type { NetworkLayout } from '@nasnet/network';
import { defaultRecipe } from '@nasnet/search';
import type { ChildRecipe } from '@nasnet/search';
import type { Genotype } from '@nasnet/search-space';
import { RMSPROP_DEFAULTS, trainChild } from '@nasnet/trainer';
import { describeTransferDataset, loadTransferDataset, transferAugment } from './dataset.js';
import type { TransferDatasetShape } from './dataset.js';
import { TransferDivergedError, TransferSpecError } from './errors.js';
import { checkTransferJob, resolveTransferRecipe } from './job.js';
import type { TransferJob, TransferRecipe } from './job.js';
import { chooseSize, fixedSize } from './size.js';
import type { NetworkSize } from './size.js';

/** A transfer with every default filled in and its network sized: what will be trained. */
export interface TransferPlan {
  name: string;
  genotype: Genotype;
  layout: NetworkLayout;
  dataset: TransferDatasetShape;
  /** The recipe with defaults; imageSize is the data set's. */
  recipe: TransferRecipe;
  /** The chosen (or given) N@F and its counts without the auxiliary head. */
  size: NetworkSize;
  /** How the size was decided. */
  sizedBy: 'fixed' | 'budgetParams' | 'budgetMultAdds' | 'default';
  /** Stem multiplier the network is built with (the job's, or the layout's default). */
  stemMultiplier: number;
  /** Changes made to the recipe so it fits the data set, one line each (e.g. the auxiliary head dropped for small images). */
  notices: string[];
  /** Absolute export folder, or null for no export. */
  exportPath: string | null;
  seed: number;
}

/** Training progress of a transfer. */
export interface TransferProgressInfo {
  /** 1-based epoch. */
  epoch: number;
  totalEpochs: number;
  /** Training steps done so far over all epochs (TensorFlow's global_step). */
  step: number;
  stepsPerEpoch: number;
  /** Mean training loss and accuracy over the epoch so far. */
  loss: number;
  trainAccuracy: number;
  imagesPerSec: number;
  /** Set at the end of each epoch. */
  validationAccuracy?: number;
}

export interface TransferOutcome extends NetworkSize {
  /** Top-1 accuracy on the data set's test split; null when it has none. */
  testAccuracy: number | null;
  /** Validation accuracy after the last epoch. */
  validationAccuracy: number;
  validationByEpoch: number[];
  /** Folder holding model.json + weights.bin; null when not exported. */
  exportPath: string | null;
  trainSeconds: number;
  steps: number;
  imagesPerSec: number;
  /** The training code path (@nasnet/trainer's trainChild). */
  trainedBy: 'trainChild';
  /** Whether the cells were checkpointed (recipe.checkpointCells). */
  checkpointCells: boolean;
}

export interface RunTransferHooks {
  onProgress?: (progress: TransferProgressInfo) => void;
  signal?: AbortSignal;
  /** Progress reports every this many steps (and at each epoch end). @default 20 */
  progressEverySteps?: number;
  /** Told each recipe change the plan made to fit the data (TransferPlan.notices), before training starts. */
  onNotice?: (line: string) => void;
}

/**
 * Checks a transfer job, fills its defaults and sizes its network: fixed
 * N@F through planNetwork, budgets through chooseSize, no size = the
 * layout's published NASNet-A size. Reads only the data set's shape (an
 * image folder is listed, not decoded), so it answers in milliseconds; the
 * gRPC service calls it before accepting a transfer.
 */
export async function planTransfer(job: TransferJob): Promise<TransferPlan> {
  checkTransferJob(job);
  const layout = job.layout ?? 'cifar';
  const recipe = resolveTransferRecipe(job.dataset, job.recipe, layout);
  const stemMultiplier = job.stemMultiplier ?? defaultNetworkOptions(layout).stemMultiplier;
  const notices: string[] = [];
  const dataset = await describeTransferDataset(job.dataset, { layout, imageSize: recipe.imageSize, ...(job.datasetOptions ? { datasetOptions: job.datasetOptions } : {}) });
  recipe.imageSize = dataset.imageSize;
  if (recipe.cutout && recipe.cutoutSize > dataset.imageSize) {
    throw new TransferSpecError('recipe.cutoutSize', `${recipe.cutoutSize} is larger than the ${dataset.imageSize}-pixel images`);
  }
  const shape = {
    genotype: job.genotype, layout, imageSize: dataset.imageSize, numClasses: dataset.numClasses, channels: dataset.channels,
    network: { stemMultiplier },
  };
  let size: NetworkSize;
  let sizedBy: TransferPlan['sizedBy'];
  const s = job.size;
  try {
    if (s === undefined) {
      const d = defaultNetworkOptions(layout);
      size = fixedSize({ ...shape, cells: d.cells, filters: d.filters });
      sizedBy = 'default';
    } else if ('budgetParams' in s || 'budgetMultAdds' in s) {
      const search = job.sizeSearch ?? {};
      size = chooseSize({
        ...shape, ...('budgetParams' in s ? { budgetParams: s.budgetParams } : { budgetMultAdds: s.budgetMultAdds }),
        ...(search.cellsOptions ? { cellsOptions: search.cellsOptions } : {}),
        ...(search.filterStep !== undefined ? { filterStep: search.filterStep } : {}),
      });
      sizedBy = 'budgetParams' in s ? 'budgetParams' : 'budgetMultAdds';
    } else {
      size = fixedSize({ ...shape, cells: s.cells, ...(s.filters !== undefined ? { filters: s.filters } : { initialFilters: s.initialFilters! }) });
      sizedBy = 'fixed';
    }
  } catch (err) {
    throw sizeFieldError(err, s);
  }
  if (recipe.auxHead) {
    // Counts leave the auxiliary head out (as the paper's do); check it fits the feature map it reads.
    try {
      planNetwork(job.genotype, { ...shape, ...shape.network, cells: size.cells, initialFilters: size.initialFilters, auxHead: true });
    } catch (err) {
      if (!(err instanceof FeatureMapTooSmallError)) throw err;
      const why = `the auxiliary head does not fit ${dataset.imageSize}x${dataset.imageSize} inputs (${err.message})`;
      // Asked for explicitly: refuse, naming the setting. Left to the default: drop it and say so.
      if (job.recipe?.auxHead === true) throw new TransferSpecError('recipe.auxHead', `${why}; turn it off or use larger images`, { cause: err });
      recipe.auxHead = false;
      notices.push(`auxiliary head off: ${why}`);
    }
  }
  return {
    name: job.name ?? 'transfer',
    genotype: job.genotype,
    layout,
    dataset,
    recipe,
    size,
    sizedBy,
    exportPath: job.exportPath ? resolve(job.exportPath) : null,
    seed: job.seed ?? 0,
    stemMultiplier,
    notices,
  };
}

/** Names the job field behind a sizing failure (network option errors carry their own field). */
function sizeFieldError(err: unknown, s: TransferJob['size']): unknown {
  if (err instanceof FeatureMapTooSmallError) return new TransferSpecError('recipe.imageSize', err.message, { cause: err });
  if (err instanceof CellConstructionError) return new TransferSpecError('genotype', err.message, { cause: err });
  if (err instanceof InvalidNetworkOptionError) {
    const given = s !== undefined && 'cells' in s && s.initialFilters !== undefined ? 'size.initialFilters' : 'size.filters';
    const field = err.field === 'filters' || err.field === 'initialFilters' ? given : err.field === 'cells' ? 'size.cells' : err.field;
    return new TransferSpecError(field, err.message, { cause: err });
  }
  return err;
}

/**
 * Runs one transfer: plans it (planTransfer), loads the data set, builds the
 * genotype's network at the planned N@F and trains it with the recipe
 * (paper's final CIFAR recipe by default), evaluates validation and test
 * accuracy and exports the TensorFlow.js model, all through @nasnet/trainer's
 * trainChild, the code path of the search. A tfjs backend must be initialised first
 * (import '@nasnet/network' before initBackend).
 * Throws TrainingCancelledError when `signal` aborts, TransferDivergedError
 * when the loss becomes NaN.
 */
export async function runTransfer(job: TransferJob, hooks: RunTransferHooks = {}): Promise<TransferOutcome> {
  const plan = await planTransfer(job);
  const { recipe, size } = plan;
  for (const line of plan.notices) hooks.onNotice?.(line);
  const dataset = await loadTransferDataset(plan.dataset, plan.seed, job.datasetOptions);
  if (dataset.height !== plan.dataset.imageSize || dataset.numClasses !== plan.dataset.numClasses || dataset.channels !== plan.dataset.channels) {
    throw new TransferSpecError('dataset', `loaded ${dataset.height}x${dataset.width}x${dataset.channels} images of ${dataset.numClasses} classes, planned for ` +
      `${plan.dataset.imageSize}x${plan.dataset.imageSize}x${plan.dataset.channels} of ${plan.dataset.numClasses}`);
  }
  const augment = transferAugment(plan.dataset, recipe.cutout ? recipe.cutoutSize : 0);
  const every = hooks.progressEverySteps ?? 20;
  const report = (p: { epoch: number; step: number; stepsPerEpoch: number; loss: number; trainAccuracy: number; imagesPerSec: number; validationAccuracy?: number }): void => {
    hooks.onProgress?.({
      epoch: p.epoch, totalEpochs: recipe.epochs, step: (p.epoch - 1) * p.stepsPerEpoch + p.step, stepsPerEpoch: p.stepsPerEpoch,
      loss: p.loss, trainAccuracy: p.trainAccuracy, imagesPerSec: p.imagesPerSec,
      ...(p.validationAccuracy !== undefined ? { validationAccuracy: p.validationAccuracy } : {}),
    });
  };
  const stepsPerEpochLimit = recipe.maxSteps > 0 ? Math.ceil(recipe.maxSteps / recipe.epochs) : 0;
  const common = { exportDir: plan.exportPath ?? undefined };

  const childRecipe: ChildRecipe = {
    ...defaultRecipe(),
    epochs: recipe.epochs, batchSize: recipe.batchSize, initialFilters: size.initialFilters, cells: size.cells,
    learningRate: recipe.learningRate, momentum: recipe.momentum, weightDecay: recipe.weightDecay,
    dropPathKeepProb: recipe.dropPathKeepProb, auxHead: recipe.auxHead, gradientClipNorm: recipe.gradientClipNorm,
    maxStepsPerEpoch: stepsPerEpochLimit, trainLimit: 0, validationLimit: 0, checkpointCells: recipe.checkpointCells,
  };
  const r = await trainChild({
    genotype: plan.genotype, recipe: childRecipe, dataset, seed: plan.seed, augment, evaluateTest: true, progressEverySteps: every,
    layout: plan.layout, auxWeight: recipe.auxWeight,
    optimizer: recipe.optimizer === 'rmsprop' ? { kind: 'rmsprop', ...RMSPROP_DEFAULTS, momentum: recipe.momentum } : { kind: 'sgd', momentum: recipe.momentum },
    learningRateSchedule: recipe.lrSchedule === 'exponential' ? { kind: 'exponential', decayRate: recipe.lrDecayRate, decayEpochs: recipe.lrDecayEpochs } : { kind: 'cosine' },
    labelSmoothing: recipe.labelSmoothing,
    checkpointCells: recipe.checkpointCells,
    network: { stemMultiplier: plan.stemMultiplier, denseDropout: 1 - recipe.denseDropoutKeepProb },
    onProgress: report,
    ...(common.exportDir ? { exportDir: common.exportDir } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
  });
  const trainedBy: TransferOutcome['trainedBy'] = 'trainChild';
  if (r.status === 'diverged') throw new TransferDivergedError(r.reason ?? 'the loss is not finite');
  if (r.status !== 'ok') throw new Error(`transfer training ended with status ${r.status}${r.reason ? `: ${r.reason}` : ''}`);
  return {
    ...size,
    // The trainer counts the built network; it must agree with the plan.
    paramCount: r.paramCount,
    multAdds: r.multAdds,
    testAccuracy: r.testAccuracy ?? null,
    validationAccuracy: r.validationByEpoch.at(-1) ?? 0,
    validationByEpoch: r.validationByEpoch,
    exportPath: plan.exportPath,
    trainSeconds: r.trainSeconds,
    steps: r.steps,
    imagesPerSec: r.imagesPerSec,
    trainedBy,
    checkpointCells: recipe.checkpointCells,
  };
}
