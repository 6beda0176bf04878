import { operationInfo } from '@nasnet/search-space';
import type { Cell, Genotype, Operation } from '@nasnet/search-space';
import { CellConstructionError, FeatureMapTooSmallError } from './errors.js';
import { AUX_HIDDEN_FILTERS, AUX_PROJECTION_FILTERS, isImagenetLayout, resolveNetworkOptions } from './options.js';
import type { NetworkOptions, ResolvedNetworkOptions } from './options.js';

/** A tensor shape without the batch axis: [height, width, channels] or [features]. */
export type Shape = readonly number[];

/**
 * One layer of the plan. Every spatial layer is NHWC; convolutions have no
 * bias (batch norm follows them, reference arg scope biases_initializer=None).
 */
export type LayerSpec =
  | { readonly kind: 'input' }
  /** Convolution; `strides` may differ per axis (1x3 then 3x1 convs stride one axis each). */
  | {
      readonly kind: 'conv';
      readonly filters: number;
      readonly kernel: readonly [number, number];
      readonly strides: readonly [number, number];
      readonly padding: 'same' | 'valid';
    }
  /** Dilated k x k conv, stride 1, 'same' padding (tfjs cannot stride a dilated conv). */
  | { readonly kind: 'dilated_conv'; readonly filters: number; readonly kernel: number; readonly rate: number }
  /** Depthwise k x k conv, depth multiplier 1, 'same' padding. */
  | { readonly kind: 'depthwise_conv'; readonly kernel: number; readonly stride: number }
  | { readonly kind: 'batch_norm' }
  | { readonly kind: 'relu' }
  /** Average pool; with 'same' padding the border windows average only real pixels, as in TensorFlow. */
  | { readonly kind: 'avg_pool'; readonly pool: number; readonly stride: number; readonly padding: 'same' | 'valid' }
  | { readonly kind: 'max_pool'; readonly pool: number; readonly stride: number }
  /** Keep every second row and column (1x1 pool, stride 2, valid): output ceil(H/2) x ceil(W/2). */
  | { readonly kind: 'subsample' }
  /** Shift by one pixel: pad one zero row/column at the bottom/right, crop the top/left one. */
  | { readonly kind: 'shift' }
  | { readonly kind: 'add' }
  | { readonly kind: 'concat' }
  /** ScheduledDropPath of an op output in cell `cell`. */
  | { readonly kind: 'drop_path'; readonly cell: number }
  | { readonly kind: 'global_avg_pool' }
  | { readonly kind: 'flatten' }
  | { readonly kind: 'dropout'; readonly rate: number }
  /** Fully connected layer with bias. */
  | { readonly kind: 'dense'; readonly units: number };

export type LayerKind = LayerSpec['kind'];

export interface PlannedLayer {
  /** Unique name; the built tfjs layer has the same name. */
  readonly name: string;
  readonly spec: LayerSpec;
  /** Names of the layers whose outputs this layer reads, in order. */
  readonly inputs: readonly string[];
  readonly inputShapes: readonly Shape[];
  readonly outputShape: Shape;
  /** Trainable parameters (conv/depthwise kernels, BN gamma and beta, dense weights and bias). */
  readonly paramCount: number;
  /** Multiply-adds per example (convolutions and dense layers; pools, BN, ReLU and adds count 0). */
  readonly multAdds: number;
  /** Part of the auxiliary head. */
  readonly aux: boolean;
}

export interface CellPlan {
  /** 0-based cell number, counting stem and reduction cells: drop-path's cell index. */
  readonly index: number;
  readonly type: 'normal' | 'reduction';
  /** One of the two ImageNet reduction stem cells. */
  readonly stem: boolean;
  /** F, the filter count of each op in the cell. */
  readonly filters: number;
  /** Shape of h_i (the previous cell's output). */
  readonly input: Shape;
  /** Shape of h_{i-1} before adjustment (equal to input for the first cell). */
  readonly previous: Shape;
  readonly output: Shape;
  /** Name of the layer whose output is this cell's output. */
  readonly outputLayer: string;
  readonly paramCount: number;
  readonly multAdds: number;
}

export interface NetworkPlan {
  readonly options: ResolvedNetworkOptions;
  readonly inputShape: Shape;
  /** Every layer, in an order where inputs come first. */
  readonly layers: readonly PlannedLayer[];
  readonly cells: readonly CellPlan[];
  /** Cells counted by drop path: 3N + 2 (+ 2 ImageNet stem cells). */
  readonly totalCells: number;
  /** Name of the layer producing logits. */
  readonly logits: string;
  /** Name of the layer producing auxiliary logits, when auxHead. */
  readonly auxLogits: string | undefined;
  /** Trainable parameters without the auxiliary head. */
  readonly paramCount: number;
  /** Multiply-adds per example without the auxiliary head. */
  readonly multAdds: number;
  /** Trainable parameters of the auxiliary head (0 without one). */
  readonly auxParamCount: number;
  readonly auxMultAdds: number;
}

/** Parameter and mult-add totals of a plan, with or without the auxiliary head. */
export function planTotals(plan: NetworkPlan, options: { includeAux?: boolean } = {}): { paramCount: number; multAdds: number } {
  const withAux = options.includeAux ?? false;
  return {
    paramCount: plan.paramCount + (withAux ? plan.auxParamCount : 0),
    multAdds: plan.multAdds + (withAux ? plan.auxMultAdds : 0),
  };
}

interface Ref {
  readonly name: string;
  readonly shape: Shape;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const sameSpatial = (a: Shape, b: Shape): boolean => a[0] === b[0] && a[1] === b[1];
const fmt = (s: Shape): string => s.join('x');

/** Appends layers, inferring shapes and counting parameters and mult-adds. */
class PlanWriter {
  readonly layers: PlannedLayer[] = [];
  private readonly names = new Set<string>();
  aux = false;

  input(name: string, shape: Shape): Ref {
    this.push({ name, spec: { kind: 'input' }, inputs: [], inputShapes: [], outputShape: shape, paramCount: 0, multAdds: 0, aux: false });
    return { name, shape };
  }

  add(name: string, spec: LayerSpec, inputs: readonly Ref[]): Ref {
    const shapes = inputs.map((r) => r.shape);
    const { shape, paramCount, multAdds } = infer(name, spec, shapes);
    this.push({ name, spec, inputs: inputs.map((r) => r.name), inputShapes: shapes, outputShape: shape, paramCount, multAdds, aux: this.aux });
    return { name, shape };
  }

  private push(layer: PlannedLayer): void {
    if (this.names.has(layer.name)) throw new Error(`internal: duplicate layer name ${layer.name}`);
    this.names.add(layer.name);
    this.layers.push(layer);
  }
}

function spatialOut(name: string, size: number, kernel: number, stride: number, padding: 'same' | 'valid'): number {
  if (padding === 'same') return Math.ceil(size / stride);
  if (size < kernel) throw new FeatureMapTooSmallError(name, `needs at least ${kernel} pixels along an axis, got ${size}`);
  return Math.floor((size - kernel) / stride) + 1;
}

function infer(name: string, spec: LayerSpec, ins: readonly Shape[]): { shape: Shape; paramCount: number; multAdds: number } {
  const x = ins[0] as Shape;
  const [h, w, c] = x as [number, number, number];
  switch (spec.kind) {
    case 'input':
      throw new Error('internal: input layers are added with PlanWriter.input');
    case 'conv': {
      const [kh, kw] = spec.kernel;
      const oh = spatialOut(name, h, kh, spec.strides[0], spec.padding);
      const ow = spatialOut(name, w, kw, spec.strides[1], spec.padding);
      const paramCount = kh * kw * c * spec.filters;
      return { shape: [oh, ow, spec.filters], paramCount, multAdds: oh * ow * paramCount };
    }
    case 'dilated_conv': {
      // Counted as what it computes: k*k taps per output pixel at full resolution.
      const paramCount = spec.kernel * spec.kernel * c * spec.filters;
      return { shape: [h, w, spec.filters], paramCount, multAdds: h * w * paramCount };
    }
    case 'depthwise_conv': {
      const oh = Math.ceil(h / spec.stride);
      const ow = Math.ceil(w / spec.stride);
      const paramCount = spec.kernel * spec.kernel * c;
      return { shape: [oh, ow, c], paramCount, multAdds: oh * ow * paramCount };
    }
    case 'batch_norm':
      // gamma and beta; the moving mean and variance are not trained.
      return { shape: x, paramCount: 2 * (x[x.length - 1] as number), multAdds: 0 };
    case 'relu':
    case 'drop_path':
    case 'dropout':
    case 'shift':
      return { shape: x, paramCount: 0, multAdds: 0 };
    case 'avg_pool':
      return {
        shape: [spatialOut(name, h, spec.pool, spec.stride, spec.padding), spatialOut(name, w, spec.pool, spec.stride, spec.padding), c],
        paramCount: 0,
        multAdds: 0,
      };
    case 'max_pool':
      return { shape: [Math.ceil(h / spec.stride), Math.ceil(w / spec.stride), c], paramCount: 0, multAdds: 0 };
    case 'subsample':
      return { shape: [Math.ceil(h / 2), Math.ceil(w / 2), c], paramCount: 0, multAdds: 0 };
    case 'add':
      for (const s of ins) {
        if (fmt(s) !== fmt(x)) throw new Error(`internal: ${name} adds ${fmt(x)} and ${fmt(s)}`);
      }
      return { shape: x, paramCount: 0, multAdds: 0 };
    case 'concat': {
      for (const s of ins) {
        if (!sameSpatial(s, x)) throw new Error(`internal: ${name} concatenates ${fmt(x)} and ${fmt(s)}`);
      }
      return { shape: [h, w, ins.reduce((a, s) => a + (s[2] as number), 0)], paramCount: 0, multAdds: 0 };
    }
    case 'global_avg_pool':
      return { shape: [c], paramCount: 0, multAdds: 0 };
    case 'flatten':
      return { shape: [prod(x)], paramCount: 0, multAdds: 0 };
    case 'dense': {
      const inFeatures = x[0] as number;
      return { shape: [spec.units], paramCount: inFeatures * spec.units + spec.units, multAdds: inFeatures * spec.units };
    }
  }
}

/** ReLU -> 1x1 conv (stride) -> BN; the shape fix the reference uses for identity and cell inputs. */
function reluConvBn(wr: PlanWriter, name: string, x: Ref, filters: number, stride: number): Ref {
  const r = wr.add(`${name}_relu`, { kind: 'relu' }, [x]);
  const c = wr.add(`${name}_conv`, { kind: 'conv', filters, kernel: [1, 1], strides: [stride, stride], padding: 'same' }, [r]);
  return wr.add(`${name}_bn`, { kind: 'batch_norm' }, [c]);
}

/**
 * Factorized reduction (reference nasnet_utils.factorized_reduction, stride 2):
 * halve the spatial size without dropping pixels. Path 1 subsamples and maps
 * to floor(F/2) channels with a 1x1 conv; path 2 shifts by one pixel first
 * and maps to the other ceil(F/2); the two are concatenated and batch-normed.
 * `relu` puts a ReLU in front (the reference does for h_{i-1}, not for
 * concatenated unreduced states).
 */
function factorizedReduction(wr: PlanWriter, name: string, x: Ref, filters: number, relu: boolean): Ref {
  const src = relu ? wr.add(`${name}_relu`, { kind: 'relu' }, [x]) : x;
  const half = Math.floor(filters / 2);
  const s1 = wr.add(`${name}_path1_subsample`, { kind: 'subsample' }, [src]);
  const c1 = wr.add(`${name}_path1_conv`, { kind: 'conv', filters: half, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [s1]);
  const sh = wr.add(`${name}_path2_shift`, { kind: 'shift' }, [src]);
  const s2 = wr.add(`${name}_path2_subsample`, { kind: 'subsample' }, [sh]);
  const c2 = wr.add(`${name}_path2_conv`, { kind: 'conv', filters: filters - half, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [s2]);
  const cat = wr.add(`${name}_concat`, { kind: 'concat' }, [c1, c2]);
  return wr.add(`${name}_bn`, { kind: 'batch_norm' }, [cat]);
}

/**
 * One operation of a block, mapping its input to `filters` channels at
 * `stride`. Conventions (paper section 3, reference _apply_conv_operation):
 * every conv is ReLU -> conv -> BN; identity is a pass-through unless it must
 * stride or change channels (then ReLU -> 1x1 conv -> BN); pools get a
 * 1x1 conv -> BN only when channels differ; every op but identity ends in
 * drop path.
 */
function planOp(wr: PlanWriter, name: string, x: Ref, op: Operation, filters: number, stride: number, cell: number): Ref {
  const info = operationInfo(op);
  const cin = x.shape[2] as number;
  const dropPath = (y: Ref): Ref => wr.add(`${name}_drop_path`, { kind: 'drop_path', cell }, [y]);
  switch (op) {
    case 'identity':
      return stride > 1 || cin !== filters ? reluConvBn(wr, `${name}_id`, x, filters, stride) : x;
    case 'avg_pool3x3':
    case 'max_pool3x3':
    case 'max_pool5x5':
    case 'max_pool7x7': {
      const k = info.kernel[0];
      let y =
        info.pool === 'avg'
          ? wr.add(`${name}_avg_pool`, { kind: 'avg_pool', pool: k, stride, padding: 'same' }, [x])
          : wr.add(`${name}_max_pool`, { kind: 'max_pool', pool: k, stride }, [x]);
      if (cin !== filters) {
        // Reference: a 1x1 conv + BN (no ReLU) after the pool when channels differ.
        y = wr.add(`${name}_proj_conv`, { kind: 'conv', filters, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [y]);
        y = wr.add(`${name}_proj_bn`, { kind: 'batch_norm' }, [y]);
      }
      return dropPath(y);
    }
    case 'sep_conv3x3':
    case 'sep_conv5x5':
    case 'sep_conv7x7': {
      // Applied twice (reference _stacked_separable_conv): the first depthwise
      // conv carries the stride, each pointwise conv maps to F.
      const k = info.kernel[0];
      let y = x;
      for (const rep of [1, 2]) {
        y = wr.add(`${name}_sep${rep}_relu`, { kind: 'relu' }, [y]);
        y = wr.add(`${name}_sep${rep}_depthwise`, { kind: 'depthwise_conv', kernel: k, stride: rep === 1 ? stride : 1 }, [y]);
        y = wr.add(`${name}_sep${rep}_pointwise`, { kind: 'conv', filters, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [y]);
        y = wr.add(`${name}_sep${rep}_bn`, { kind: 'batch_norm' }, [y]);
      }
      return dropPath(y);
    }
    case 'conv1x3_3x1':
    case 'conv1x7_7x1': {
      // ReLU -> 1xk conv -> kx1 conv -> BN; each conv strides the axis it spans.
      const k = info.kernel[0];
      let y = wr.add(`${name}_relu`, { kind: 'relu' }, [x]);
      y = wr.add(`${name}_conv1xk`, { kind: 'conv', filters, kernel: [1, k], strides: [1, stride], padding: 'same' }, [y]);
      y = wr.add(`${name}_convkx1`, { kind: 'conv', filters, kernel: [k, 1], strides: [stride, 1], padding: 'same' }, [y]);
      y = wr.add(`${name}_bn`, { kind: 'batch_norm' }, [y]);
      return dropPath(y);
    }
    case 'dil_conv3x3': {
      // tfjs cannot combine stride > 1 with dilation > 1: convolve at stride 1, then subsample.
      let y = wr.add(`${name}_relu`, { kind: 'relu' }, [x]);
      y = wr.add(`${name}_dilated_conv`, { kind: 'dilated_conv', filters, kernel: info.kernel[0], rate: info.dilation }, [y]);
      if (stride > 1) y = wr.add(`${name}_subsample`, { kind: 'subsample' }, [y]);
      y = wr.add(`${name}_bn`, { kind: 'batch_norm' }, [y]);
      return dropPath(y);
    }
    case 'conv1x1':
    case 'conv3x3': {
      const k = info.kernel[0];
      let y = wr.add(`${name}_relu`, { kind: 'relu' }, [x]);
      y = wr.add(`${name}_conv`, { kind: 'conv', filters, kernel: [k, k], strides: [stride, stride], padding: 'same' }, [y]);
      y = wr.add(`${name}_bn`, { kind: 'batch_norm' }, [y]);
      return dropPath(y);
    }
  }
}

interface CellContext {
  readonly cell: Cell;
  readonly type: 'normal' | 'reduction';
  readonly index: number;
  readonly stem: boolean;
  readonly filters: number;
  readonly current: Ref;
  readonly previous: Ref | null;
}

function checkCellWiring(cell: Cell, where: string): void {
  if (cell.blocks.length === 0) throw new CellConstructionError(where, 'the cell has no blocks');
  cell.blocks.forEach((block, b) => {
    block.inputs.forEach((state, k) => {
      if (!Number.isInteger(state) || state < 0 || state >= 2 + b) {
        throw new CellConstructionError(`${where}, block ${b}, input ${k}`, `reads state ${state}, but only states 0..${1 + b} exist before block ${b}`);
      }
    });
  });
  if (cell.concat.length === 0) throw new CellConstructionError(`${where}, concat`, 'the concat list is empty');
  cell.concat.forEach((state, k) => {
    if (!Number.isInteger(state) || state < 0 || state >= 2 + cell.blocks.length) {
      throw new CellConstructionError(`${where}, concat[${k}]`, `state ${state} does not exist (states 0..${1 + cell.blocks.length})`);
    }
  });
}

/**
 * One cell (paper section 3, reference NasNetABaseCell.__call__). Cell base:
 * h_i -> ReLU -> 1x1 conv -> BN to F; h_{i-1} -> factorized reduction when
 * its spatial size differs from h_i's, else ReLU -> 1x1 -> BN when its
 * channels differ from F. The first cell has no h_{i-1}: as in the reference
 * it reads the unadjusted h_i (the stem output) in its place, so ops on it
 * see the stem's channels. In a reduction cell ops reading states 0 and 1 use
 * stride 2. Output: channel concat of `cell.concat`. A concatenated cell
 * input of a reduction cell is still at the input resolution and is brought
 * down by a factorized reduction (no ReLU) to F; a concatenated unadjusted
 * h_{i-1} gets 1x1 conv -> BN to F (reference _combine_unused_states).
 */
function planCell(wr: PlanWriter, ctx: CellContext): Ref {
  const { cell, type, index, filters: f } = ctx;
  const where = `${ctx.stem ? 'stem ' : ''}${type} cell ${index}`;
  checkCellWiring(cell, where);
  const p = `cell${index}`;
  const cur = ctx.current;
  const prevRaw = ctx.previous ?? cur;

  const h0 = reluConvBn(wr, `${p}_in0`, cur, f, 1);
  let h1 = prevRaw;
  if (ctx.previous === null) {
    // First cell: the reference (_reduce_prev_layer) passes h_i itself, unadjusted, as h_{i-1}.
  } else if (!sameSpatial(prevRaw.shape, cur.shape)) {
    const ok = Math.ceil((prevRaw.shape[0] as number) / 2) === cur.shape[0] && Math.ceil((prevRaw.shape[1] as number) / 2) === cur.shape[1];
    if (!ok) {
      throw new CellConstructionError(
        `${where}, input h_{i-1}`,
        `spatial size ${fmt(prevRaw.shape)} cannot be reduced by one factorized reduction to h_i's ${fmt(cur.shape)}`,
      );
    }
    h1 = factorizedReduction(wr, `${p}_in1_reduce`, prevRaw, f, true);
  } else if (prevRaw.shape[2] !== f) {
    h1 = reluConvBn(wr, `${p}_in1`, prevRaw, f, 1);
  }

  const states: Ref[] = [h0, h1];
  cell.blocks.forEach((block, b) => {
    const sides = [0, 1].map((k) => {
      const state = block.inputs[k] as number;
      const stride = type === 'reduction' && state < 2 ? 2 : 1;
      return planOp(wr, `${p}_b${b}_${k === 0 ? 'left' : 'right'}`, states[state] as Ref, block.ops[k] as Operation, f, stride, index);
    });
    const [l, r] = sides as [Ref, Ref];
    if (!sameSpatial(l.shape, r.shape)) {
      throw new CellConstructionError(`${where}, block ${b}`, `branches have spatial sizes ${fmt(l.shape)} and ${fmt(r.shape)}`);
    }
    if (block.combine === 'add') {
      if (l.shape[2] !== r.shape[2]) {
        throw new CellConstructionError(`${where}, block ${b}`, `cannot add ${l.shape[2]} and ${r.shape[2]} channels`);
      }
      // Two identity branches of the same state would add a tensor to itself: still one Add layer.
      states.push(wr.add(`${p}_b${b}_add`, { kind: 'add' }, [l, r]));
    } else {
      states.push(wr.add(`${p}_b${b}_concat`, { kind: 'concat' }, [l, r]));
    }
  });

  const target = states[states.length - 1] as Ref;
  const parts = cell.concat.map((state) => {
    const s = states[state] as Ref;
    if (!sameSpatial(s.shape, target.shape)) {
      if (state >= 2) {
        throw new CellConstructionError(`${where}, concat`, `state ${state} has spatial size ${fmt(s.shape)}, the cell output ${fmt(target.shape)}`);
      }
      return factorizedReduction(wr, `${p}_out${state}_reduce`, s, f, false);
    }
    if (state < 2 && s.shape[2] !== f) {
      // Only the first cell's unadjusted h_{i-1} gets here; reference: factorized_reduction with stride 1.
      const c = wr.add(`${p}_out${state}_conv`, { kind: 'conv', filters: f, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [s]);
      return wr.add(`${p}_out${state}_bn`, { kind: 'batch_norm' }, [c]);
    }
    return s;
  });
  if (parts.length === 1) return parts[0] as Ref;
  return wr.add(`${p}_out`, { kind: 'concat' }, parts);
}

/**
 * Auxiliary classifier (reference _build_aux_head): ReLU, 5x5 average pool
 * stride 3 (valid), 1x1 conv to 128 + BN + ReLU, a conv covering the whole
 * remaining map to 768 + BN + ReLU, flatten, fully connected.
 */
function planAuxHead(wr: PlanWriter, x: Ref, numClasses: number): Ref {
  wr.aux = true;
  let y = wr.add('aux_relu', { kind: 'relu' }, [x]);
  y = wr.add('aux_pool', { kind: 'avg_pool', pool: 5, stride: 3, padding: 'valid' }, [y]);
  y = wr.add('aux_proj_conv', { kind: 'conv', filters: AUX_PROJECTION_FILTERS, kernel: [1, 1], strides: [1, 1], padding: 'same' }, [y]);
  y = wr.add('aux_proj_bn', { kind: 'batch_norm' }, [y]);
  y = wr.add('aux_proj_relu', { kind: 'relu' }, [y]);
  const [h, w] = y.shape as [number, number];
  y = wr.add('aux_conv', { kind: 'conv', filters: AUX_HIDDEN_FILTERS, kernel: [h, w], strides: [1, 1], padding: 'valid' }, [y]);
  y = wr.add('aux_bn', { kind: 'batch_norm' }, [y]);
  y = wr.add('aux_conv_relu', { kind: 'relu' }, [y]);
  y = wr.add('aux_flatten', { kind: 'flatten' }, [y]);
  y = wr.add('aux_logits', { kind: 'dense', units: numClasses }, [y]);
  wr.aux = false;
  return y;
}

function sumLayers(layers: readonly PlannedLayer[], from: number, to: number): { paramCount: number; multAdds: number } {
  let paramCount = 0;
  let multAdds = 0;
  for (let i = from; i < to; i++) {
    paramCount += (layers[i] as PlannedLayer).paramCount;
    multAdds += (layers[i] as PlannedLayer).multAdds;
  }
  return { paramCount, multAdds };
}

/**
 * Describe the network for a genotype without building it: every layer with
 * its shapes, trainable parameters and mult-adds (paper Figure 2 stacking,
 * reference nasnet.py _build_nasnet_base). Pure and fast: no tensors.
 */
export function planNetwork(genotype: Genotype, options: NetworkOptions = {}): NetworkPlan {
  const o = resolveNetworkOptions(genotype, options);
  const wr = new PlanWriter();
  const cells: CellPlan[] = [];
  const inputShape: Shape = [o.imageSize, o.imageSize, o.channels];
  const image = wr.input('image', inputShape);

  // Stem. CIFAR: 3x3 conv (stride 1) + BN. ImageNet: 3x3 stride-2 valid conv + BN (no ReLU before).
  const imagenet = isImagenetLayout(o.layout);
  const stemStride = imagenet ? 2 : 1;
  const stemPadding = imagenet ? 'valid' : 'same';
  let net = wr.add('stem_conv', { kind: 'conv', filters: o.stemFilters, kernel: [3, 3], strides: [stemStride, stemStride], padding: stemPadding }, [image]);
  net = wr.add('stem_bn', { kind: 'batch_norm' }, [net]);
  const outputs: Array<Ref | null> = [null, net];
  let cellIndex = 0;

  const addCell = (type: 'normal' | 'reduction', filters: number, stem: boolean, previousOverride?: Ref | null): Ref => {
    const first = wr.layers.length;
    const current = outputs[outputs.length - 1] as Ref;
    const previous = previousOverride !== undefined ? previousOverride : outputs[outputs.length - 2] ?? null;
    const out = planCell(wr, { cell: type === 'normal' ? genotype.normal : genotype.reduction, type, index: cellIndex, stem, filters, current, previous });
    cells.push({
      index: cellIndex,
      type,
      stem,
      filters,
      input: current.shape,
      previous: (previous ?? current).shape,
      output: out.shape,
      outputLayer: out.name,
      ...sumLayers(wr.layers, first, wr.layers.length),
    });
    cellIndex++;
    outputs.push(out);
    return out;
  };

  if (imagenet) {
    // Two reduction stem cells at filter scaling 1/4 and 1/2 (reference _imagenet_stem).
    addCell('reduction', Math.floor(o.initialFilters / 4), true);
    addCell('reduction', Math.floor(o.initialFilters / 2), true);
  }

  // N normal cells per stack; a reduction cell before cells N and 2N doubles
  // the filters (reference calc_reduction_layers with num_cells = 3N).
  let scale = 1;
  let auxLogits: Ref | undefined;
  for (let i = 0; i < 3 * o.cells; i++) {
    // skip_reduction_layer_input (reference _build_nasnet_base): h_{i-1} is
    // taken before this step's reduction cell joins the outputs, so a normal
    // cell right after a reduction reads the reduction's own h_{i-1}.
    const skipPrevious = o.skipReductionLayerInput ? outputs[outputs.length - 2] ?? null : undefined;
    if (i === o.cells || i === 2 * o.cells) {
      scale *= 2;
      addCell('reduction', o.initialFilters * scale, false);
    }
    const out = addCell('normal', o.initialFilters * scale, false, skipPrevious);
    if (o.auxHead && i === 2 * o.cells - 1) auxLogits = planAuxHead(wr, out, o.numClasses);
  }

  let head = wr.add('head_relu', { kind: 'relu' }, [outputs[outputs.length - 1] as Ref]);
  head = wr.add('head_pool', { kind: 'global_avg_pool' }, [head]);
  if (o.denseDropout > 0) head = wr.add('head_dropout', { kind: 'dropout', rate: o.denseDropout }, [head]);
  const logits = wr.add('logits', { kind: 'dense', units: o.numClasses }, [head]);

  let paramCount = 0;
  let multAdds = 0;
  let auxParamCount = 0;
  let auxMultAdds = 0;
  for (const l of wr.layers) {
    if (l.aux) {
      auxParamCount += l.paramCount;
      auxMultAdds += l.multAdds;
    } else {
      paramCount += l.paramCount;
      multAdds += l.multAdds;
    }
  }
  return {
    options: o,
    inputShape,
    layers: wr.layers,
    cells,
    totalCells: cellIndex,
    logits: logits.name,
    auxLogits: auxLogits?.name,
    paramCount,
    multAdds,
    auxParamCount,
    auxMultAdds,
  };
}
