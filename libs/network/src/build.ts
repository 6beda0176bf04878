import * as tfl from '@tensorflow/tfjs-layers';
import { deriveSeed } from '@nasnet/random';
import type { Genotype } from '@nasnet/search-space';
import { InvalidNetworkOptionError, WeightCopyError } from './errors.js';
import { BatchNorm, DilatedConv2d, DropPath, SamePaddingAvgPool2d, SeededDropout, convInitializer, isStepAware } from './layers.js';
import { planNetwork } from './plan.js';
import type { NetworkOptions, ResolvedNetworkOptions } from './options.js';
import type { NetworkPlan, PlannedLayer } from './plan.js';

export interface BuildOptions extends NetworkOptions {
  /** Seed of every weight initializer and random mask: the same seed builds identical weights. */
  seed: number;
  /**
   * keep0 of ScheduledDropPath (0.6 in the paper's CIFAR recipe); 1 disables drop path.
   * @default 1
   */
  dropPathKeepProb?: number;
  /**
   * Steps over which the drop rate ramps up linearly from 0 (reference
   * total_training_steps); <= 0 applies the full per-cell rate from step 0.
   * @default 0
   */
  totalSteps?: number;
  /**
   * Build the inference model: no auxiliary head (whatever `auxHead` says),
   * and no drop-path or dropout layers at all (they are the identity at
   * inference). Its layers and weights have the training model's names, so
   * `copyWeights` moves trained weights into it; what an export saves.
   * @default false
   */
  inference?: boolean;
}

export interface BuiltNetwork {
  /** Outputs: logits, plus auxiliary logits (second output) when auxHead. Layers are named as in the plan. */
  readonly model: tfl.LayersModel;
  readonly plan: NetworkPlan;
  /** Tell drop path and dropout the current training step (drop-rate schedule and mask seeds). */
  setTrainingStep(step: number): void;
}

/** Pass the training step to every drop-path and dropout layer of a model (built or loaded). */
export function setTrainingStep(model: tfl.LayersModel, step: number): void {
  if (!(Number.isFinite(step) && step >= 0)) throw new InvalidNetworkOptionError('step', step, 'must be a finite number >= 0');
  for (const layer of model.layers) {
    if (isStepAware(layer)) layer.setTrainingStep(step);
  }
}

type Sym = tfl.SymbolicTensor;

function applyOne(layer: tfl.layers.Layer, inputs: Sym | Sym[]): Sym {
  return layer.apply(inputs) as Sym;
}

interface LayerContext {
  readonly seed: number;
  readonly options: ResolvedNetworkOptions;
  readonly keepProb: number;
  readonly totalSteps: number;
  readonly totalCells: number;
  readonly inference: boolean;
}

/**
 * A merge whose inputs repeat one tensor (a block `id(x) ++ id(x)`) makes
 * tfjs-layers' executor count that tensor's uses wrongly and dispose it while
 * a later layer still needs it; a weightless linear layer gives each repeat
 * its own tensor.
 */
function distinctInputs(name: string, inputs: Sym[]): Sym[] {
  const seen = new Set<Sym>();
  return inputs.map((t, i) => {
    if (!seen.has(t)) {
      seen.add(t);
      return t;
    }
    return applyOne(tfl.layers.activation({ name: `${name}_repeat${i}`, activation: 'linear' }), t);
  });
}

/** Create the tfjs layer(s) for one planned layer and apply them. */
function realize(layer: PlannedLayer, inputs: Sym[], ctx: LayerContext): Sym {
  const name = layer.name;
  const seed = deriveSeed(ctx.seed, name);
  const x = inputs[0] as Sym;
  const spec = layer.spec;
  switch (spec.kind) {
    case 'input':
      throw new Error('internal: input layers are created by buildNetwork');
    case 'conv':
      return applyOne(
        tfl.layers.conv2d({
          name,
          filters: spec.filters,
          kernelSize: [spec.kernel[0], spec.kernel[1]],
          strides: [spec.strides[0], spec.strides[1]],
          padding: spec.padding,
          useBias: false,
          kernelInitializer: convInitializer(seed),
        }),
        x,
      );
    case 'dilated_conv':
      return applyOne(new DilatedConv2d({ name, filters: spec.filters, kernelSize: spec.kernel, rate: spec.rate, seed }), x);
    case 'depthwise_conv':
      return applyOne(
        tfl.layers.depthwiseConv2d({
          name,
          kernelSize: spec.kernel,
          strides: spec.stride,
          padding: 'same',
          depthMultiplier: 1,
          useBias: false,
          depthwiseInitializer: convInitializer(seed),
        }),
        x,
      );
    case 'batch_norm':
      return applyOne(
        new BatchNorm({ name, momentum: ctx.options.batchNormMomentum, epsilon: ctx.options.batchNormEpsilon }),
        x,
      );
    case 'relu':
      return applyOne(tfl.layers.reLU({ name }), x);
    case 'avg_pool':
      return applyOne(
        spec.padding === 'same'
          ? new SamePaddingAvgPool2d({ name, poolSize: spec.pool, strides: spec.stride })
          : tfl.layers.averagePooling2d({ name, poolSize: spec.pool, strides: spec.stride, padding: 'valid' }),
        x,
      );
    case 'max_pool':
      return applyOne(tfl.layers.maxPooling2d({ name, poolSize: spec.pool, strides: spec.stride, padding: 'same' }), x);
    case 'subsample':
      // A 1x1 'valid' pool with stride 2 picks pixels (0, 0), (0, 2), ...: exact gradient, no padding.
      return applyOne(tfl.layers.averagePooling2d({ name, poolSize: 1, strides: 2, padding: 'valid' }), x);
    case 'shift': {
      const padded = applyOne(tfl.layers.zeroPadding2d({ name: `${name}_pad`, padding: [[0, 1], [0, 1]] }), x);
      return applyOne(tfl.layers.cropping2D({ name, cropping: [[1, 0], [1, 0]] }), padded);
    }
    case 'add':
      return applyOne(tfl.layers.add({ name }), distinctInputs(name, inputs));
    case 'concat':
      return applyOne(tfl.layers.concatenate({ name, axis: -1 }), distinctInputs(name, inputs));
    case 'drop_path':
      if (ctx.inference) return x;
      return applyOne(
        new DropPath({ name, keepProb: ctx.keepProb, cell: spec.cell, totalCells: ctx.totalCells, totalSteps: ctx.totalSteps, seed }),
        x,
      );
    case 'global_avg_pool':
      return applyOne(tfl.layers.globalAveragePooling2d({ name }), x);
    case 'flatten':
      return applyOne(tfl.layers.flatten({ name }), x);
    case 'dropout':
      if (ctx.inference) return x;
      return applyOne(new SeededDropout({ name, rate: spec.rate, seed }), x);
    case 'dense':
      return applyOne(
        tfl.layers.dense({
          name,
          units: spec.units,
          useBias: true,
          kernelInitializer: tfl.initializers.glorotUniform({ seed }),
          biasInitializer: 'zeros',
        }),
        x,
      );
  }
}

/**
 * Build the tfjs-layers model of a genotype (functional API, so it saves and
 * loads in the TensorFlow.js format). The model is a mechanical translation
 * of `planNetwork(genotype, options)`: one tfjs layer per planned layer, same
 * names, same trainable parameter count.
 */
export function buildNetwork(genotype: Genotype, options: BuildOptions): BuiltNetwork {
  if (!Number.isInteger(options.seed)) throw new InvalidNetworkOptionError('seed', options.seed, 'must be an integer');
  const keepProb = options.dropPathKeepProb ?? 1;
  if (!(Number.isFinite(keepProb) && keepProb > 0 && keepProb <= 1)) {
    throw new InvalidNetworkOptionError('dropPathKeepProb', keepProb, 'must be in (0, 1]');
  }
  const totalSteps = options.totalSteps ?? 0;
  if (!Number.isFinite(totalSteps)) throw new InvalidNetworkOptionError('totalSteps', totalSteps, 'must be a finite number');

  const inference = options.inference ?? false;
  const plan = planNetwork(genotype, inference ? { ...options, auxHead: false } : options);
  const ctx: LayerContext = { seed: options.seed, options: plan.options, keepProb, totalSteps, totalCells: plan.totalCells, inference };
  const tensors = new Map<string, Sym>();
  let input: Sym | undefined;
  for (const layer of plan.layers) {
    if (layer.spec.kind === 'input') {
      input = tfl.input({ name: layer.name, shape: [...layer.outputShape] });
      tensors.set(layer.name, input);
      continue;
    }
    const ins = layer.inputs.map((n) => {
      const t = tensors.get(n);
      if (t === undefined) throw new Error(`internal: layer ${layer.name} reads ${n} before it exists`);
      return t;
    });
    tensors.set(layer.name, realize(layer, ins, ctx));
  }
  const logits = tensors.get(plan.logits) as Sym;
  const outputs = plan.auxLogits === undefined ? logits : [logits, tensors.get(plan.auxLogits) as Sym];
  const model = tfl.model({ name: 'nasnet', inputs: input as Sym, outputs });
  return { model, plan, setTrainingStep: (step: number) => setTrainingStep(model, step) };
}

/** Trainable parameters of a tfjs model (to compare with a plan's paramCount). */
export function trainableParamCount(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

/**
 * Copies every weight (trainable and batch-norm moving statistics) of
 * `target`'s layers from the same-named layers of `source`: how a trained
 * network's weights move into its inference model. Layers of `source` that
 * `target` lacks (the auxiliary head) are left behind. Throws when a
 * target layer with weights has no counterpart or the shapes differ.
 */
export function copyWeights(source: tfl.LayersModel, target: tfl.LayersModel): void {
  const byName = new Map(source.layers.map((l) => [l.name, l]));
  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    const from = byName.get(layer.name);
    if (!from) throw new WeightCopyError(layer.name, 'the source model has no layer of that name');
    const values = from.getWeights();
    const shapes = layer.weights.map((w) => w.shape.join('x'));
    const given = values.map((v) => v.shape.join('x'));
    if (shapes.join(',') !== given.join(',')) {
      throw new WeightCopyError(layer.name, `its weights of shapes [${shapes.join(', ')}] cannot take [${given.join(', ')}]`);
    }
    layer.setWeights(values);
  }
}
