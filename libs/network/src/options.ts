import type { Cell, Genotype } from '@nasnet/search-space';
import { CellConstructionError, InvalidNetworkOptionError } from './errors.js';

/**
 * How cells are stacked: the paper's CIFAR-10 or ImageNet network (Zoph et
 * al. 2017, Figure 2). `imagenet` is the reference's mobile configuration
 * (mobile_imagenet_config), `imagenet-large` its NASNet-A Large one
 * (large_imagenet_config: stem multiplier 3, skip_reduction_layer_input).
 */
export type NetworkLayout = 'cifar' | 'imagenet' | 'imagenet-large';

/** Every layout, for parsers and error messages. */
export const NETWORK_LAYOUTS: readonly NetworkLayout[] = Object.freeze(['cifar', 'imagenet', 'imagenet-large']);

/** Whether a layout uses the ImageNet stem (stride-2 conv and two reduction stem cells). */
export function isImagenetLayout(layout: NetworkLayout): boolean {
  return layout !== 'cifar';
}

/**
 * Filter scale between the first and the last stack: two reduction cells,
 * each doubling the filters (reference: filter_scaling_rate = 2,
 * num_reduction_layers = 2 in nasnet.py).
 */
export const FINAL_FILTER_SCALE = 4;

/** Filters of the auxiliary head's 1x1 projection and of its last conv (reference: _build_aux_head). */
export const AUX_PROJECTION_FILTERS = 128;
export const AUX_HIDDEN_FILTERS = 768;

/** ImageNet stem: a 3x3 stride-2 conv with 32 x stemMultiplier filters (reference: _imagenet_stem). */
export const IMAGENET_STEM_FILTERS = 32;

export interface NetworkOptions {
  /**
   * Stacking. `cifar`: stem conv, N normal, reduction, N normal, reduction,
   * N normal. `imagenet` and `imagenet-large`: stride-2 stem conv and two
   * reduction stem cells first (they differ in their defaults).
   * @default 'cifar'
   */
  layout?: NetworkLayout;
  /**
   * N, normal cells per stack (3 stacks).
   * @default 6 (cifar), 4 (imagenet), 6 (imagenet-large)
   */
  cells?: number;
  /**
   * The paper's "F" in N@F: the penultimate layer's filter count, i.e. the
   * channels of the last cell's output. The first stack's per-op filter count
   * is `initialFiltersFor(genotype, filters)`. Ignored when `initialFilters`
   * is given.
   * @default 768 (cifar, NASNet-A 6@768), 1056 (imagenet, NASNet-A 4@1056), 4032 (imagenet-large, NASNet-A 6@4032)
   */
  filters?: number;
  /**
   * Per-op filter count of the first stack (reference: num_conv_filters;
   * 32 for NASNet-A CIFAR, 44 for mobile ImageNet). Overrides `filters`.
   */
  initialFilters?: number;
  /**
   * Input height and width.
   * @default 32 (cifar), 224 (imagenet), 331 (imagenet-large)
   */
  imageSize?: number;
  /**
   * Input channels.
   * @default 3
   */
  channels?: number;
  /**
   * Classes of the final (and auxiliary) classifier.
   * @default 10 (cifar), 1000 (imagenet layouts)
   */
  numClasses?: number;
  /**
   * Add the auxiliary classifier after the last normal cell before the
   * second reduction (paper section 4.1; loss weight 0.4 in the recipe).
   * @default false
   */
  auxHead?: boolean;
  /**
   * Stem filter multiplier: the CIFAR stem has initialFilters x stemMultiplier
   * filters, the ImageNet stem 32 x stemMultiplier.
   * @default 3 (cifar), 1 (imagenet), 3 (imagenet-large) - reference cifar_config / mobile_imagenet_config / large_imagenet_config
   */
  stemMultiplier?: number;
  /**
   * The reference's skip_reduction_layer_input (nasnet.py _build_nasnet_base):
   * a normal cell right after a reduction cell reads, as its h_{i-1}, the
   * reduction cell's own h_{i-1} (the output of the cell two before the
   * reduction) instead of the cell just before the reduction. Other cells
   * are unaffected.
   * @default false (cifar, imagenet), true (imagenet-large) - reference configs skip_reduction_layer_input 0 / 0 / 1
   */
  skipReductionLayerInput?: boolean;
  /**
   * Dropout rate before the final classifier.
   * @default 0 (cifar), 0.5 (imagenet layouts) - reference dense_dropout_keep_prob 1.0 / 0.5 / 0.5
   */
  denseDropout?: number;
  /**
   * Batch-norm moving-average momentum.
   * @default 0.9 (cifar), 0.9997 (imagenet layouts) - reference nasnet_*_arg_scope batch_norm_decay
   */
  batchNormMomentum?: number;
  /**
   * Batch-norm epsilon.
   * @default 1e-5 (cifar), 1e-3 (imagenet layouts) - reference nasnet_*_arg_scope batch_norm_epsilon
   */
  batchNormEpsilon?: number;
}

/** Options after defaults and derived values are filled in. */
export interface ResolvedNetworkOptions extends Required<Omit<NetworkOptions, 'filters' | 'initialFilters'>> {
  /** Per-op filter count of the first stack. */
  readonly initialFilters: number;
  /** Channels of the last cell output (N@F's F), derived from initialFilters. */
  readonly filters: number;
  /** Filters of the stem conv. */
  readonly stemFilters: number;
}

/** The defaults of one layout: the published NASNet-A configurations. */
export function defaultNetworkOptions(layout: NetworkLayout = 'cifar'): Required<Omit<NetworkOptions, 'initialFilters'>> {
  if (layout === 'imagenet') {
    // Reference mobile_imagenet_config + nasnet_mobile_arg_scope (NASNet-A 4@1056, num_conv_filters 44).
    return {
      layout,
      cells: 4,
      filters: 1056,
      imageSize: 224,
      channels: 3,
      numClasses: 1000,
      auxHead: false,
      stemMultiplier: 1,
      skipReductionLayerInput: false,
      denseDropout: 0.5,
      batchNormMomentum: 0.9997,
      batchNormEpsilon: 1e-3,
    };
  }
  if (layout === 'imagenet-large') {
    // Reference large_imagenet_config + nasnet_large_arg_scope (NASNet-A 6@4032, num_conv_filters 168, 331x331).
    return {
      layout,
      cells: 6,
      filters: 4032,
      imageSize: 331,
      channels: 3,
      numClasses: 1000,
      auxHead: false,
      stemMultiplier: 3,
      skipReductionLayerInput: true,
      denseDropout: 0.5,
      batchNormMomentum: 0.9997,
      batchNormEpsilon: 1e-3,
    };
  }
  return {
    layout,
    cells: 6,
    filters: 768,
    imageSize: 32,
    channels: 3,
    numClasses: 10,
    auxHead: false,
    stemMultiplier: 3,
    skipReductionLayerInput: false,
    denseDropout: 0,
    batchNormMomentum: 0.9,
    batchNormEpsilon: 1e-5,
  };
}

/**
 * Output width of a cell in units of its filter count F: every cell input
 * and every op output has F channels, an 'add' block F, a 'concat' block 2F;
 * the output concatenates the states listed in `cell.concat`.
 */
export function cellOutputWidth(cell: Cell, where = 'cell'): number {
  const widths = [1, 1];
  cell.blocks.forEach((block) => widths.push(block.combine === 'concat' ? 2 : 1));
  if (cell.concat.length === 0) throw new CellConstructionError(`${where}, concat`, 'the concat list is empty');
  let width = 0;
  cell.concat.forEach((state, k) => {
    const w = widths[state];
    if (!Number.isInteger(state) || w === undefined) {
      throw new CellConstructionError(`${where}, concat[${k}]`, `state ${state} does not exist (states 0..${widths.length - 1})`);
    }
    width += w;
  });
  return width;
}

/**
 * The first stack's per-op filter count for N@F: F = initialFilters x 4 x w,
 * where 4 is the two filter doublings and w the normal cell's output width
 * (cellOutputWidth). NASNet-A (w = 6): 6@768 -> 32, 4@1056 -> 44, as in the
 * reference configs (num_conv_filters). Throws when F is not a multiple of 4w.
 */
export function initialFiltersFor(genotype: Genotype, filters: number): number {
  const width = cellOutputWidth(genotype.normal, 'normal cell');
  const f0 = filters / (FINAL_FILTER_SCALE * width);
  if (!Number.isInteger(f0) || f0 < 1) {
    throw new InvalidNetworkOptionError(
      'filters',
      filters,
      `must be a positive multiple of ${FINAL_FILTER_SCALE * width} (4 x the normal cell's output width ${width}) for this genotype`,
    );
  }
  return f0;
}

function requireInt(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidNetworkOptionError(field, value, `must be an integer >= ${min}`);
  }
}

function requireRange(field: string, value: number, lo: number, hi: number, hiOpen: boolean): void {
  const ok = Number.isFinite(value) && value >= lo && (hiOpen ? value < hi : value <= hi);
  if (!ok) throw new InvalidNetworkOptionError(field, value, `must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}`);
}

/** Fill in defaults, derive initialFilters / filters / stemFilters, and check every field. */
export function resolveNetworkOptions(genotype: Genotype, options: NetworkOptions = {}): ResolvedNetworkOptions {
  const layout = options.layout ?? 'cifar';
  if (!NETWORK_LAYOUTS.includes(layout)) {
    throw new InvalidNetworkOptionError('layout', layout, `must be one of ${NETWORK_LAYOUTS.map((l) => `'${l}'`).join(', ')}`);
  }
  const imagenet = isImagenetLayout(layout);
  const d = defaultNetworkOptions(layout);
  const width = cellOutputWidth(genotype.normal, 'normal cell');
  let initialFilters: number;
  if (options.initialFilters !== undefined) {
    requireInt('initialFilters', options.initialFilters, 1);
    initialFilters = options.initialFilters;
    if (options.filters !== undefined && options.filters !== initialFilters * FINAL_FILTER_SCALE * width) {
      throw new InvalidNetworkOptionError(
        'filters',
        options.filters,
        `contradicts initialFilters ${initialFilters} (which gives ${initialFilters * FINAL_FILTER_SCALE * width})`,
      );
    }
  } else {
    const filters = options.filters ?? d.filters;
    requireInt('filters', filters, 1);
    initialFilters = initialFiltersFor(genotype, filters);
  }
  const r = {
    layout,
    cells: options.cells ?? d.cells,
    initialFilters,
    filters: initialFilters * FINAL_FILTER_SCALE * width,
    imageSize: options.imageSize ?? d.imageSize,
    channels: options.channels ?? d.channels,
    numClasses: options.numClasses ?? d.numClasses,
    auxHead: options.auxHead ?? d.auxHead,
    stemMultiplier: options.stemMultiplier ?? d.stemMultiplier,
    skipReductionLayerInput: options.skipReductionLayerInput ?? d.skipReductionLayerInput,
    denseDropout: options.denseDropout ?? d.denseDropout,
    batchNormMomentum: options.batchNormMomentum ?? d.batchNormMomentum,
    batchNormEpsilon: options.batchNormEpsilon ?? d.batchNormEpsilon,
  };
  requireInt('cells', r.cells, 1);
  requireInt('imageSize', r.imageSize, 1);
  requireInt('channels', r.channels, 1);
  requireInt('numClasses', r.numClasses, 1);
  if (typeof r.auxHead !== 'boolean') throw new InvalidNetworkOptionError('auxHead', r.auxHead, 'must be a boolean');
  if (typeof r.skipReductionLayerInput !== 'boolean') {
    throw new InvalidNetworkOptionError('skipReductionLayerInput', r.skipReductionLayerInput, 'must be a boolean');
  }
  if (!(Number.isFinite(r.stemMultiplier) && r.stemMultiplier > 0)) {
    throw new InvalidNetworkOptionError('stemMultiplier', r.stemMultiplier, 'must be a positive number');
  }
  requireRange('denseDropout', r.denseDropout, 0, 1, true);
  requireRange('batchNormMomentum', r.batchNormMomentum, 0, 1, false);
  if (!(Number.isFinite(r.batchNormEpsilon) && r.batchNormEpsilon > 0)) {
    throw new InvalidNetworkOptionError('batchNormEpsilon', r.batchNormEpsilon, 'must be a positive number');
  }
  // Reference: int(num_conv_filters * stem_multiplier) / int(32 * stem_multiplier).
  const stemFilters = Math.floor((imagenet ? IMAGENET_STEM_FILTERS : initialFilters) * r.stemMultiplier);
  if (stemFilters < 1) {
    throw new InvalidNetworkOptionError('stemMultiplier', r.stemMultiplier, 'gives a stem conv with no filters');
  }
  // Factorized reduction splits a cell's filters in two halves: every cell needs >= 2.
  // The smallest cells are the ImageNet stem cells at initialFilters / 4.
  const smallest = imagenet ? Math.floor(initialFilters / 4) : initialFilters;
  if (smallest < 2) {
    throw new InvalidNetworkOptionError(
      'initialFilters',
      initialFilters,
      `gives cells with ${smallest} filter(s); every cell needs at least 2${imagenet ? ' (ImageNet stem cells use initialFilters / 4)' : ''}`,
    );
  }
  return { ...r, stemFilters };
}
