/**
 * NASNet network builder: stacks a genotype's normal and reduction cells into
 * the paper's CIFAR or ImageNet (mobile or Large) network (Zoph et al. 2017, Figure 2; the
 * reference is tensorflow/models research/slim/nets/nasnet).
 *
 * `planNetwork` describes every layer, its shapes, parameters and mult-adds
 * without tensors (instant); `buildNetwork` turns the same plan into a
 * tfjs-layers model with seeded weights and ScheduledDropPath.
 *
 * ```ts
 * import { NASNET_A } from '@nasnet/search-space';
 * import { planNetwork, buildNetwork, saveModel } from '@nasnet/network';
 * planNetwork(NASNET_A, { layout: 'imagenet', cells: 4, filters: 1056 }).paramCount; // 5,289,978
 * const { model, setTrainingStep } = buildNetwork(NASNET_A, { cells: 2, initialFilters: 16, seed: 1, dropPathKeepProb: 0.6, totalSteps: 10_000 });
 * setTrainingStep(0);
 * await saveModel(model, '/tmp/child');
 * ```
 *
 * A tfjs backend must be registered by the caller (e.g. import
 * '@tensorflow/tfjs-backend-cpu').
 */
export {
  AUX_HIDDEN_FILTERS,
  AUX_PROJECTION_FILTERS,
  FINAL_FILTER_SCALE,
  IMAGENET_STEM_FILTERS,
  NETWORK_LAYOUTS,
  cellOutputWidth,
  defaultNetworkOptions,
  initialFiltersFor,
  isImagenetLayout,
  resolveNetworkOptions,
} from './options.js';
export type { NetworkLayout, NetworkOptions, ResolvedNetworkOptions } from './options.js';
export { planNetwork, planTotals } from './plan.js';
export type { CellPlan, LayerKind, LayerSpec, NetworkPlan, PlannedLayer, Shape } from './plan.js';
export { dropPathKeepProb } from './drop-path.js';
export type { DropPathSchedule } from './drop-path.js';
export { buildNetwork, copyWeights, setTrainingStep, trainableParamCount } from './build.js';
export type { BuildOptions, BuiltNetwork } from './build.js';
export { BatchNorm, DilatedConv2d, DropPath, SamePaddingAvgPool2d, SeededDropout } from './layers.js';
export { MODEL_JSON_FILE, WEIGHTS_FILE, folderIOHandler, loadModel, saveModel } from './io.js';
export { CellConstructionError, FeatureMapTooSmallError, InvalidNetworkOptionError, ModelLoadError, ModelSaveError, WeightCopyError } from './errors.js';
