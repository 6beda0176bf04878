/**
 * Gradients that free memory as the backward pass goes.
 *
 * tfjs-core's engine.gradients (tfjs 4.22) runs the whole backward pass in
 * one tidy scope: every intermediate gradient (each op's dy, each partial
 * sum of a fan-out) and every tensor the forward pass saved for the tape
 * stays on the heap until the last gradient is computed. For a NASNet child
 * that is the whole forward pass's activations plus as much again in
 * gradients at the end of the step, which is where the wasm backend's peak
 * memory came from (1.84 GB heap at F0 = 16, batch 32, against PyTorch's
 * 0.95 GB process).
 *
 * variableGradsReleasing computes the same gradients, op by op in the same
 * order with the same gradient functions (so the same numbers), but:
 * - each tape node's gradient runs in its own tidy scope, so the gradient
 *   function's temporaries go as soon as it returns;
 * - the dy of a node's outputs is disposed once the node has used it (every
 *   tensor has one producer, and the tape is walked in reverse, so nothing
 *   later needs it);
 * - the tensors the forward pass saved for a node are disposed right after
 *   that node's gradient ran, as engine.gradients would at the very end.
 * So the peak is the forward pass's saved tensors plus the frontier of live
 * gradients, as in PyTorch's autograd.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of tfjs-core's Engine this uses (not in its public typings). */
interface EngineInternals {
  state: { gradientDepth: number; activeTape: TapeNode[] | null; tensorInfo: { get(dataId: object): { backend: tf.KernelBackend } | undefined } };
  makeTensorFromDataId(dataId: object, shape: number[], dtype: tf.DataType, backend?: tf.KernelBackend): tf.Tensor;
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
  tidy<T extends tf.TensorContainer>(f: () => T): T;
  keep<T extends tf.Tensor>(t: T): T;
}

/**
 * A new tensor on `t`'s data, as tf.clone gives, without running a kernel:
 * the backend counts one more reference, and the engine tracks the new
 * handle in the current scope. The backward pass makes one per gradient it
 * stores (~1,400 per step of the search child), and the Identity kernel's
 * engine bookkeeping cost more than the rest of that work.
 */
function share(engine: EngineInternals, t: tf.Tensor): tf.Tensor {
  const info = engine.state.tensorInfo.get(t.dataId);
  if (!info) throw new GradientComputationError(`tensor ${t.id} is disposed`);
  try {
    info.backend.incRef(t.dataId);
  } catch {
    // A backend without reference counts (KernelBackend's incRef throws): its Identity kernel decides.
    return tf.clone(t);
  }
  return engine.makeTensorFromDataId(t.dataId, t.shape, t.dtype, info.backend);
}

/** A gradient that cannot be computed (no path, a gradient of the wrong shape or type). */
export class GradientComputationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GradientComputationError';
  }
}

/**
 * The nodes of the tape on a path from one of xs to y, in tape order, each
 * with only the inputs that depend on xs (the inputs whose gradients are
 * wanted): the same selection as tfjs-core's getFilteredNodesXToY.
 */
function nodesBetween(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      nodeToY.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const selected: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    selected.push({ ...node, inputs });
  }
  return selected;
}

/**
 * Gradients of y = f() with respect to xs, freeing as it goes (see the file
 * comment). `dy` seeds the backward pass (default ones). Returns y and one
 * gradient per x (null where y does not depend on it); both are tracked by
 * the caller's scope, as engine.gradients' are. Falls back to
 * tf.grads-style engine.gradients when called inside another gradient
 * computation (the tape belongs to the outer one there).
 */
export function gradientsReleasing<T extends tf.Tensor>(
  f: () => T, xs: tf.Tensor[], dy?: tf.Tensor,
): { value: T; grads: Array<tf.Tensor | null> } {
  const engine = tf.engine() as unknown as EngineInternals & { gradients: (f: () => T, xs: tf.Tensor[], dy?: tf.Tensor, allow?: boolean) => { value: T; grads: Array<tf.Tensor | null> } };
  if (engine.state.gradientDepth > 0) return engine.gradients(f, xs, dy, true);
  // Every gradient held here is kept (outside any scope) and disposed by hand.
  const acc = new Map<number, tf.Tensor>();
  const live = new Set<tf.Tensor>();
  const put = (id: number, t: tf.Tensor): void => { acc.set(id, t); live.add(engine.keep(t)); };
  const drop = (id: number): void => {
    const t = acc.get(id);
    if (!t) return;
    acc.delete(id);
    live.delete(t);
    t.dispose();
  };
  let tape: TapeNode[] | undefined;
  try {
    const y = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy('forward', f));
    tape = engine.state.activeTape ?? [];
    if (!(y instanceof tf.Tensor)) throw new GradientComputationError('the function given to gradientsReleasing must return a tensor');
    if (dy !== undefined && dy.dtype !== 'float32') throw new GradientComputationError(`dy must be float32, got ${dy.dtype}`);
    const nodes = nodesBetween(tape, xs, y);
    put(y.id, dy === undefined ? tf.onesLike(y) : tf.clone(dy));
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (!node.gradient) throw new GradientComputationError(`no gradient registered for ${node.kernelName}`);
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      engine.tidy(() => {
        const inputGradients = node.gradient!(dys);
        for (const [name, x] of Object.entries(node.inputs)) {
          const gradientOf = inputGradients[name];
          if (!gradientOf) throw new GradientComputationError(`${node.kernelName} has no gradient for its input '${name}'`);
          const dx = gradientOf();
          if (dx.dtype !== 'float32') throw new GradientComputationError(`${node.kernelName}: the gradient of '${name}' is ${dx.dtype}, not float32`);
          if (!tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new GradientComputationError(`${node.kernelName}: the gradient of '${name}' has shape [${dx.shape}], the input [${x.shape}]`);
          }
          const current = acc.get(x.id);
          if (current === undefined) {
            // A clone (shared data, own object): dx may be a dy passed straight through, which is dropped below.
            put(x.id, share(engine, dx));
          } else {
            put(x.id, tf.add(current, dx));
            live.delete(current);
            current.dispose();
          }
        }
      });
      // This node was the producer of its outputs: their gradients are used up.
      for (const o of node.outputs) drop(o.id);
      for (const t of node.saved ?? []) t.dispose();
    }
    // Hand the gradients to the caller's scope (clones share the data) and let the kept ones go.
    const grads = xs.map((x) => {
      const g = acc.get(x.id);
      return g === undefined ? null : share(engine, g);
    });
    return { value: y, grads };
  } finally {
    for (const t of live) t.dispose();
    // As engine.gradients: the saved tensors of every node, on the path or not, go with the tape.
    // (A forward pass that threw leaves its partial tape in the engine state.)
    for (const node of tape ?? engine.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
}

/**
 * tf.variableGrads with gradientsReleasing: gradients of the scalar f()
 * with respect to the trainable variables in varList, by variable name
 * (variables f does not depend on are left out).
 */
export function variableGradsReleasing(
  f: () => tf.Scalar, varList: tf.Variable[],
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const trainable = varList.filter((v) => v.trainable);
  if (trainable.length === 0) throw new GradientComputationError(`variableGradsReleasing: none of the ${varList.length} variables is trainable`);
  const { value, grads } = gradientsReleasing(f, trainable);
  if (value.rank !== 0) {
    value.dispose();
    for (const g of grads) g?.dispose();
    throw new GradientComputationError(`variableGradsReleasing: f must return a scalar, got a rank-${value.rank} tensor`);
  }
  if (grads.every((g) => g === null)) {
    value.dispose();
    throw new GradientComputationError('variableGradsReleasing: the loss does not depend on any of the variables');
  }
  const named: Record<string, tf.Tensor> = {};
  trainable.forEach((v, i) => { const g = grads[i]; if (g) named[v.name] = g; });
  return { value, grads: named };
}
