/**
 * moving-averages.ts as one wasm kernel: per channel
 * moving - decay * (moving - batch), each operation rounded to float32 as
 * the composed ops round it (so the same bits).
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { MOVING_AVERAGES, type MovingAveragesAttrs } from './kernel-names.js';
import { allocate, f32, requireFloat32 } from './wasm-heap.js';

const fround = Math.fround;

export function movingAveragesKernel(args: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo[] {
  const { inputs, backend } = args;
  const { decay, count } = args.attrs as unknown as MovingAveragesAttrs;
  const pairs: Array<[TensorInfo, TensorInfo]> = [];
  for (let i = 0; i < count; i++) {
    const m = inputs[`moving${i}`], b = inputs[`batch${i}`];
    if (!m || !b) throw new RangeError(`${MOVING_AVERAGES}: inputs moving${i} and batch${i} are required (${count} pairs)`);
    requireFloat32(MOVING_AVERAGES, { [`moving${i}`]: m, [`batch${i}`]: b });
    pairs.push([m, b]);
  }
  // Outputs first: a malloc may grow the heap and detach typed views.
  const outs = pairs.map(([m]) => allocate(backend, [...m.shape]));
  const d = fround(decay);
  pairs.forEach(([m, b], i) => {
    const mv = f32(backend, m), bv = f32(backend, b), out = f32(backend, outs[i]!);
    for (let k = 0; k < mv.length; k++) out[k] = fround(mv[k]! - fround(fround(mv[k]! - bv[k]!) * d));
  });
  return outs;
}

export const movingAveragesConfig: KernelConfig = {
  kernelName: MOVING_AVERAGES,
  backendName: 'wasm',
  kernelFunc: movingAveragesKernel as unknown as KernelFunc,
};
