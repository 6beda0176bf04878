/**
 * Runs a tfjs-layers functional model on concrete tensors in training mode,
 * disposing each layer's output as soon as its last consumer has run, and
 * optionally checkpointing groups of layers (NASNet cells).
 *
 * tfjs-layers' executor (4.22, engine/executor.js) disposes intermediate
 * tensors only in inference mode; with training: true every layer output
 * lives until the whole forward pass ends, so the forward pass alone holds
 * every activation of the network at once. Under a gradient tape that is
 * not needed: the tape keeps its own clones of the tensors a gradient will
 * use (engine.saveTensorsForBackwardMode), so the layer outputs can go as
 * in inference, and what stays is what the backward pass needs (what
 * PyTorch's autograd keeps). Same layers, same calls in the same order:
 * the same numbers as model.apply(x, { training: true }).
 *
 * Checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear
 * Memory Cost"): a group of layers (a cell) runs with the tape off, so only
 * its inputs are kept; one tape node stands for the whole group, and its
 * gradient runs the group again with the tape on and backpropagates
 * through it (gradientsReleasing). The forward pass then holds the cells'
 * inputs and outputs only, the backward pass one cell's activations at a
 * time, for one more forward pass of the cells. The recomputation passes
 * RECOMPUTING (BatchNorm must not update its moving statistics twice) and
 * the same MASK_SEED_LOG map (drop path must draw the same masks).
 *
 * Typed structurally so the engine does not depend on tfjs-layers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gradientsReleasing } from './releasing-gradients.js';

/** Call argument: a Map<layer name, seed> in which random layers record and replay their mask seeds. */
export const MASK_SEED_LOG = 'maskSeedLog';
/** Call argument: true while a checkpointed group is recomputed for its gradient. */
export const RECOMPUTING = 'recomputing';

interface SymbolicTensor { id: number }
/** A tfjs-layers SymbolicTensor of the model graph. */
interface GraphTensor extends SymbolicTensor { name: string; inputs: GraphTensor[]; sourceLayer: GraphLayer }
interface LayerNode { inboundLayers: unknown[]; inputTensors: SymbolicTensor[]; outputTensors: SymbolicTensor[]; callArgs?: Record<string, unknown> }
interface GraphLayer {
  name: string;
  inboundNodes: LayerNode[];
  trainableWeights: Array<{ read(): tf.Tensor }>;
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: Record<string, unknown>): tf.Tensor | tf.Tensor[] | unknown;
}
/** The parts of a tfjs-layers LayersModel (a functional Container) this uses. */
export interface FunctionalModel {
  name: string;
  inputs: GraphTensor[];
  outputs: GraphTensor[];
}

export interface ApplyReleasingOptions {
  /** Call arguments for every layer. @default { training: true } */
  kwargs?: Record<string, unknown>;
  /**
   * The checkpoint group of a layer by its name (layers of one group are
   * recomputed together in the backward pass), or undefined for a layer
   * that is kept as usual. Checkpointing only happens under a gradient tape.
   */
  checkpoint?: (layerName: string) => string | undefined;
}

/** A model this executor cannot run (a shared layer, a layer whose inputs are not computed first). */
export class ModelGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelGraphError';
  }
}

interface Step { layer: GraphLayer; node: LayerNode }
interface Group { key: string; steps: Step[]; inputs: number[]; outputs: number[] }

interface TapeInternals {
  state: { gradientDepth: number; activeTape: unknown[] | null; nextTapeNodeId: number };
  keep<T extends tf.Tensor>(t: T): T;
}

/**
 * Runs `steps` in order on `feeds` (symbolic id -> tensor) and returns the
 * tensors of `wanted`; every other tensor computed here is disposed after
 * its last consumer. Feeds are never disposed.
 */
function runSteps(model: FunctionalModel, steps: Step[], feeds: Map<number, tf.Tensor>, wanted: number[], kwargs: Record<string, unknown>): tf.Tensor[] {
  const consumers = new Map<number, number>();
  for (const { node } of steps) for (const s of node.inputTensors) consumers.set(s.id, (consumers.get(s.id) ?? 0) + 1);
  // Uses left per concrete tensor: a layer may return its input (identity, drop path off), and one
  // tensor can stand for several symbolic ones.
  const values = new Map<number, tf.Tensor>();
  const uses = new Map<tf.Tensor, number>();
  const kept = new Set<tf.Tensor>(feeds.values());
  const wantedIds = new Set(wanted);
  const bind = (id: number, t: tf.Tensor): void => {
    values.set(id, t);
    uses.set(t, (uses.get(t) ?? 0) + (consumers.get(id) ?? 0));
    if (wantedIds.has(id)) kept.add(t);
  };
  for (const [id, t] of feeds) bind(id, t);
  for (const { layer, node } of steps) {
    const args = node.inputTensors.map((s) => {
      const t = values.get(s.id);
      if (!t) throw new ModelGraphError(`layer ${layer.name} of ${model.name} runs before its input ${s.id} is computed`);
      return t;
    });
    const result = layer.apply(args.length === 1 ? args[0]! : args, { ...node.callArgs, ...kwargs });
    const outs = Array.isArray(result) ? result as tf.Tensor[] : [result as tf.Tensor];
    node.outputTensors.forEach((s, i) => bind(s.id, outs[i]!));
    for (const t of args) {
      const left = (uses.get(t) ?? 0) - 1;
      uses.set(t, left);
      if (left === 0 && !kept.has(t)) {
        uses.delete(t);
        t.dispose();
      }
    }
  }
  return wanted.map((id) => {
    const t = values.get(id);
    if (!t) throw new ModelGraphError(`model ${model.name}: tensor ${id} is never computed`);
    return t;
  });
}

/**
 * Runs one checkpointed group: forward with the tape off, and one tape node
 * whose gradient recomputes the group with the tape on.
 */
function runCheckpointed(model: FunctionalModel, group: Group, inputs: tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor[] {
  const engine = tf.engine() as unknown as TapeInternals;
  const variables: tf.Tensor[] = [];
  for (const { layer } of group.steps) for (const w of layer.trainableWeights) variables.push(w.read());
  const run = (ins: tf.Tensor[], extra: Record<string, unknown>): tf.Tensor[] =>
    runSteps(model, group.steps, new Map(group.inputs.map((id, i) => [id, ins[i]!])), group.outputs, { ...kwargs, ...extra });
  const depth = engine.state.gradientDepth;
  const tape = engine.state.activeTape;
  engine.state.gradientDepth = 0; // tape off: nothing inside is recorded or saved
  let outputs: tf.Tensor[];
  try {
    outputs = tf.tidy(() => run(inputs, {}));
  } finally {
    engine.state.gradientDepth = depth;
  }
  // The inputs are all the group's backward pass needs; clones share their data.
  const saved = inputs.map((t) => engine.keep(tf.clone(t)));
  const nodeInputs: Record<string, tf.Tensor> = {};
  inputs.forEach((t, i) => { nodeInputs[`x${i}`] = t; });
  variables.forEach((v, i) => { nodeInputs[`w${i}`] = v; });
  const names = Object.keys(nodeInputs);
  tape!.push({
    id: engine.state.nextTapeNodeId++,
    kernelName: `Checkpoint(${group.key})`,
    inputs: nodeInputs,
    outputs,
    saved,
    gradient: (dys: Array<tf.Tensor | null>) => {
      // All gradients at once, here and not in the per-input closures: tfjs's own backprop runs
      // each closure in its own tidy, which would dispose the others.
      const seeds = dys.map((dy, i) => dy ?? tf.zerosLike(outputs[i]!));
      const xs = [...saved, ...variables];
      const f = (): tf.Tensor => {
        const ys = run(saved, { [RECOMPUTING]: true });
        // One output: its own dy seeds the backward pass. Several: the sum of <y_i, dy_i>, whose gradient is the same.
        return ys.length === 1 ? ys[0]! : tf.addN(ys.map((y, i) => tf.sum(tf.mul(y, seeds[i]!))));
      };
      const { value, grads } = outputs.length === 1 ? gradientsReleasing(f, xs, seeds[0]) : gradientsReleasing(f, xs);
      value.dispose();
      const byName: Record<string, () => tf.Tensor> = {};
      names.forEach((name, i) => {
        const g = grads[i] ?? tf.zerosLike(xs[i]!);
        byName[name] = () => g;
      });
      return byName;
    },
  });
  return outputs;
}

/**
 * The layers in the order tfjs-layers' executor runs them (its
 * getTopologicalSortAndRecipientCountsForOneFetch: a depth-first walk from
 * each output, inputs pushed in order so the last is visited first, each
 * tensor emitted after its inputs). The same order of ops gives the same
 * tape, so the same order of gradient sums: the same gradients to the bit.
 */
function executionOrder(model: FunctionalModel): GraphTensor[] {
  const done = new Set<string>(model.inputs.map((s) => s.name));
  const order: GraphTensor[] = [];
  for (const fetch of model.outputs) {
    const stack: GraphTensor[] = [fetch];
    const expanded: number[] = []; // stack positions whose inputs have been pushed
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (done.has(top.name)) { stack.pop(); continue; }
      const isExpanded = expanded[expanded.length - 1] === stack.length - 1;
      if (top.inputs.length === 0 || isExpanded) {
        stack.pop();
        if (isExpanded) expanded.pop();
        order.push(top);
        done.add(top.name);
      } else {
        expanded.push(stack.length - 1);
        for (const input of top.inputs) if (!done.has(input.name)) stack.push(input);
      }
    }
  }
  return order;
}

/**
 * model.apply(inputs, { training: true }) that frees layer outputs as it
 * goes and checkpoints the groups options.checkpoint names (see the file
 * comment). Returns the model's outputs in order, owned by the caller's scope.
 */
export function applyReleasing(model: FunctionalModel, inputs: tf.Tensor[], options: ApplyReleasingOptions = {}): tf.Tensor[] {
  const kwargs: Record<string, unknown> = { training: true, ...options.kwargs };
  if (inputs.length !== model.inputs.length) throw new ModelGraphError(`model ${model.name} takes ${model.inputs.length} input(s), got ${inputs.length}`);
  const steps: Step[] = [];
  for (const tensor of executionOrder(model)) {
    const layer = tensor.sourceLayer;
    if (layer.inboundNodes.length !== 1) throw new ModelGraphError(`layer ${layer.name} of ${model.name} is applied ${layer.inboundNodes.length} times`);
    const node = layer.inboundNodes[0]!;
    if (node.outputTensors.length !== 1) throw new ModelGraphError(`layer ${layer.name} of ${model.name} has ${node.outputTensors.length} outputs`);
    if (node.inboundLayers.length === 0) continue; // an input layer: its tensor is fed
    steps.push({ layer, node });
  }
  const feeds = new Map(model.inputs.map((s, i) => [s.id, inputs[i]!]));
  const wanted = model.outputs.map((s) => s.id);
  const taping = (tf.engine() as unknown as TapeInternals).state.gradientDepth > 0;
  if (!options.checkpoint || !taping) return runSteps(model, steps, feeds, wanted, kwargs);

  // Each group becomes one step, placed where its last layer was (a NASNet cell's last layer is
  // its output concat, which everything after the cell consumes).
  const groups = new Map<string, Group>();
  const lastOf = new Map<string, number>();
  steps.forEach(({ layer }, i) => {
    const key = options.checkpoint!(layer.name);
    if (key !== undefined) lastOf.set(key, i);
  });
  const producedIn = new Map<number, string>();
  for (const step of steps) {
    const key = options.checkpoint(step.layer.name);
    if (key === undefined) continue;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { key, steps: [], inputs: [], outputs: [] });
    g.steps.push(step);
    for (const s of step.node.outputTensors) producedIn.set(s.id, key);
  }
  const usedOutside = new Set<number>(wanted);
  for (const { layer, node } of steps) {
    const key = options.checkpoint(layer.name);
    for (const s of node.inputTensors) {
      const from = producedIn.get(s.id);
      if (from !== undefined && from !== key) usedOutside.add(s.id);
      if (key !== undefined && from !== key) {
        const g = groups.get(key)!;
        if (!g.inputs.includes(s.id)) g.inputs.push(s.id);
      }
    }
  }
  for (const g of groups.values()) {
    for (const { node } of g.steps) for (const s of node.outputTensors) if (usedOutside.has(s.id)) g.outputs.push(s.id);
  }
  // The outer graph: plain layers, and each group as a pseudo-layer from its inputs to its outputs.
  const outer: Step[] = [];
  steps.forEach((step, i) => {
    const key = options.checkpoint!(step.layer.name);
    if (key === undefined) { outer.push(step); return; }
    if (lastOf.get(key) !== i) return;
    const g = groups.get(key)!;
    outer.push({
      layer: {
        name: `checkpoint ${key}`, inboundNodes: [], trainableWeights: [],
        apply: (ins, kw) => runCheckpointed(model, g, Array.isArray(ins) ? ins : [ins], kw ?? kwargs),
      },
      node: { inboundLayers: [], inputTensors: g.inputs.map((id) => ({ id })), outputTensors: g.outputs.map((id) => ({ id })) },
    });
  });
  const log = kwargs[MASK_SEED_LOG] instanceof Map ? {} : { [MASK_SEED_LOG]: new Map<string, number>() };
  return runSteps(model, outer, feeds, wanted, { ...kwargs, ...log });
}
