/**
 * The clipped SGD-with-momentum step of sgd-step.ts as one wasm-backend
 * kernel: two SIMD passes over the heap (simd/optimizer-programs.ts)
 * instead of ~9 tfjs ops per variable. Every product and sum is rounded to
 * float32 as the composed ops round them (scale 1 multiplies exactly); only
 * the global norm's squares are summed in float64, in a fixed order, so the
 * result does not depend on threads.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CLIPPED_SGD_STEP, type ClippedSgdStepAttrs } from './kernel-names.js';
import { allocate, heapOffset, programsFor, release, requireFloat32, wasmMemoryOf } from './wasm-heap.js';

const fround = Math.fround;

export function clippedSgdStepKernel(args: {
  inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: NamedAttrMap;
}): TensorInfo[] {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as ClippedSgdStepAttrs;
  const n = attrs.decay.length;
  const vs: TensorInfo[] = [], gs: TensorInfo[] = [], ms: TensorInfo[] = [];
  for (let i = 0; i < n; i++) {
    const v = inputs[`v${i}`], g = inputs[`g${i}`], m = inputs[`m${i}`];
    if (!v || !g || !m) throw new RangeError(`${CLIPPED_SGD_STEP}: inputs v${i}, g${i} and m${i} are required (${n} variables)`);
    requireFloat32(CLIPPED_SGD_STEP, { [`v${i}`]: v, [`g${i}`]: g, [`m${i}`]: m });
    vs.push(v); gs.push(g); ms.push(m);
  }
  // Every output first: a malloc may grow the heap and detach typed views.
  const newV = vs.map((v) => allocate(backend, [...v.shape]));
  const newM = vs.map((v) => allocate(backend, [...v.shape]));
  const sums = allocate(backend, [4], true);
  const programs = programsFor(backend);
  const wd = fround(attrs.weightDecay), mu = fround(attrs.momentum), lr = fround(attrs.learningRate);
  const clip = fround(attrs.clipNorm);
  const sizes = vs.map((v) => v.shape.reduce((a, b) => a * b, 1));

  // Pass 1: the totals t = g + wd w go to the new velocity buffers (pass 2
  // turns them into velocities); the squares of the global norm as we go.
  const sumsAt = heapOffset(backend, sums);
  for (let i = 0; i < n; i++) {
    const decay = attrs.decay[i] === true && wd > 0;
    programs.sgdTotals(heapOffset(backend, gs[i]!), heapOffset(backend, vs[i]!), heapOffset(backend, newM[i]!),
      sizes[i]!, wd, decay ? 1 : 0, sumsAt);
  }
  const view = new DataView(wasmMemoryOf(backend).buffer);
  const squares = view.getFloat64(sumsAt, true) + view.getFloat64(sumsAt + 8, true);
  release(backend, sums);
  const norm = fround(Math.sqrt(fround(squares)));
  const scale = clip > 0 ? fround(clip / Math.max(norm, clip)) : 1;

  // Pass 2: v <- m v + scale t; w <- w - lr v.
  for (let i = 0; i < n; i++) {
    programs.sgdUpdate(heapOffset(backend, newM[i]!), heapOffset(backend, ms[i]!), heapOffset(backend, vs[i]!),
      heapOffset(backend, newV[i]!), sizes[i]!, scale, mu, lr);
  }
  return [...newV, ...newM];
}

export const clippedSgdStepConfig: KernelConfig = {
  kernelName: CLIPPED_SGD_STEP,
  backendName: 'wasm',
  kernelFunc: clippedSgdStepKernel as unknown as KernelFunc,
};
