/**
 * Moving a box of elements between two tensors on the wasm heap: the one
 * routine under our Slice, SplitV, Concat and PadV2.
 *
 * Why: tfjs-wasm's Slice and Concat are JavaScript loops that copy one
 * `TypedArray.set` per innermost run, so an NHWC channel slice or concat
 * (32x32x32 pixels, 16 channels each) makes 32,768 calls of 16 floats;
 * one NASNet concat gradient took 26-72 ms that way. Here the box is first
 * collapsed to as few strided levels as its layout allows (a channel slice
 * becomes one level: N*H*W runs of C' elements; a spatial slice two), then
 * one call of our SIMD `copyRuns` moves up to two levels of runs.
 */
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { partsFor, runParts, splitRange } from './parallel.js';
import { allocate, heapOffset, programsFor, release } from './wasm-heap.js';

/** One strided level of a copy: `count` runs, `src`/`dst` bytes apart. */
export interface CopyLevel { count: number; src: number; dst: number }

/** A box copy reduced to contiguous runs of `runBytes` and strided levels, innermost first. */
export interface CopyPlan { runBytes: number; levels: CopyLevel[] }

/** Row-major strides (in elements) of `shape`, one per axis. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i] as number; }
  return strides;
}

/** Bytes per element on the wasm heap (bool is one byte there, as in tfjs-wasm's typedArrayFromHeap). */
export function heapElementBytes(dtype: DataType): number {
  return dtype === 'bool' ? 1 : 4;
}

/** Whether tfjs-wasm keeps this dtype's values on the heap (strings live in JS, complex64 is unsupported). */
export function onHeap(dtype: DataType): boolean {
  return dtype === 'float32' || dtype === 'int32' || dtype === 'bool';
}

/**
 * Plans the copy of a box of shape `shape` whose elements are `srcStrides`
 * apart in the source and `dstStrides` apart in the destination (per axis,
 * in elements). Axes of size 1 drop out; an axis whose stride equals the
 * extent of everything inside it, on both sides, merges into the run or
 * the level inside it.
 */
export function planCopy(
  shape: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[], elementBytes: number,
): CopyPlan {
  let run = 1;
  const levels: CopyLevel[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    const n = shape[i] as number, s = srcStrides[i] as number, d = dstStrides[i] as number;
    if (n === 1) continue;
    const inner = levels[levels.length - 1];
    if (!inner && s === run && d === run) {
      run *= n;
    } else if (inner && s === inner.count * inner.src && d === inner.count * inner.dst) {
      inner.count *= n;
    } else {
      levels.push({ count: n, src: s, dst: d });
    }
  }
  return {
    runBytes: run * elementBytes,
    levels: levels.map((l) => ({ count: l.count, src: l.src * elementBytes, dst: l.dst * elementBytes })),
  };
}

/** Bytes a single contiguous run is cut at when split over threads (a cache line). */
const RUN_PIECE_BYTES = 64;

/**
 * Executes `plan` from byte address `src` to byte address `dst` on the
 * backend's heap (the two regions must not overlap): up to two levels per
 * SIMD call, one call per combination of the levels beyond those. A copy
 * big enough is cut over the kernel threads along its outermost level (or
 * into pieces of its one run); copies are exact, so any cut gives the same
 * bytes.
 */
export function copyPlan(backend: BackendWasm, src: number, dst: number, plan: CopyPlan): void {
  const { runBytes, levels } = plan;
  if (runBytes === 0 || levels.some((l) => l.count === 0)) return;
  // Values read plus written, as the thread split sizes work.
  const work = (runBytes / 2) * levels.reduce((n, l) => n * l.count, 1);
  if (levels.length === 0) {
    const pieces = Math.ceil(runBytes / RUN_PIECE_BYTES);
    runParts(backend, 'copyRuns', splitRange(pieces, partsFor(backend, pieces, work)).map(([p0, count]) => {
      const from = p0 * RUN_PIECE_BYTES;
      return [src + from, dst + from, Math.min(runBytes, (p0 + count) * RUN_PIECE_BYTES) - from, 1, 0, 0, 1, 0, 0];
    }), work);
    return;
  }
  const [l1, l2 = { count: 1, src: 0, dst: 0 }] = levels as [CopyLevel, CopyLevel?];
  const outer = levels.slice(2);
  if (outer.length === 0) {
    // Cut the outer of the two levels (or the only one) into ranges of runs.
    const cutL2 = l2.count > 1;
    const cut = cutL2 ? l2 : l1;
    runParts(backend, 'copyRuns', splitRange(cut.count, partsFor(backend, cut.count, work)).map(([i0, count]) => {
      const s = src + i0 * cut.src, d = dst + i0 * cut.dst;
      return cutL2
        ? [s, d, runBytes, l1.count, l1.src, l1.dst, count, l2.src, l2.dst]
        : [s, d, runBytes, count, l1.src, l1.dst, 1, 0, 0];
    }), work);
    return;
  }
  const simd = programsFor(backend);
  const visit = (depth: number, s: number, d: number): void => {
    if (depth < 0) {
      simd.copyRuns(s, d, runBytes, l1.count, l1.src, l1.dst, l2.count, l2.src, l2.dst);
      return;
    }
    const l = outer[depth] as CopyLevel;
    for (let i = 0; i < l.count; i++) visit(depth - 1, s + i * l.src, d + i * l.dst);
  };
  visit(outer.length - 1, src, dst);
}

/** One box to copy: `shape` from element `srcStart` of `from` to element `dstStart` of `to` (row-major). */
export interface BoxCopy {
  from: TensorInfo; srcStart: readonly number[]; to: TensorInfo; dstStart: readonly number[]; shape: readonly number[];
}

function planBox(backend: BackendWasm, box: BoxCopy): { src: number; dst: number; plan: CopyPlan } {
  const { from, srcStart, to, dstStart, shape } = box;
  const bytes = heapElementBytes(from.dtype);
  const fromStrides = rowMajorStrides(from.shape), toStrides = rowMajorStrides(to.shape);
  let src = heapOffset(backend, from), dst = heapOffset(backend, to);
  for (let i = 0; i < shape.length; i++) {
    src += (srcStart[i] as number) * (fromStrides[i] as number) * bytes;
    dst += (dstStart[i] as number) * (toStrides[i] as number) * bytes;
  }
  return { src, dst, plan: planCopy(shape, fromStrides, toStrides, bytes) };
}

/** Copies one box (the box must fit in both tensors). */
export function copyBox(
  backend: BackendWasm, from: TensorInfo, srcStart: readonly number[], to: TensorInfo, dstStart: readonly number[],
  shape: readonly number[],
): void {
  const { src, dst, plan } = planBox(backend, { from, srcStart, to, dstStart, shape });
  copyPlan(backend, src, dst, plan);
}

/**
 * Copies several boxes. When every one is a single level of the same
 * number of runs (a channel concat's inputs, a channel split's outputs),
 * they go in one interleaved pass: pixel by pixel, each box's run, so a
 * concat writes its output (and a split reads its input) once, front to
 * back, instead of once per box with a stride. Otherwise box by box.
 */
export function copyBoxes(backend: BackendWasm, boxes: readonly BoxCopy[]): void {
  const planned = boxes.map((b) => planBox(backend, b)).filter((p) => p.plan.runBytes > 0 && p.plan.levels.every((l) => l.count > 0));
  const count = planned[0]?.plan.levels[0]?.count;
  const interleave = planned.length > 1 && count !== undefined &&
    planned.every((p) => p.plan.levels.length === 1 && (p.plan.levels[0] as CopyLevel).count === count);
  if (!interleave) {
    for (const p of planned) copyPlan(backend, p.src, p.dst, p.plan);
    return;
  }
  // interleaveRuns advances each entry's pointers as it goes: every thread's range of pixels gets its own table.
  const work = planned.reduce((n, p) => n + p.plan.runBytes / 2, 0) * count;
  const ranges = splitRange(count, partsFor(backend, count, work));
  const entriesPerTable = planned.length * 5;
  const table = allocate(backend, [ranges.length * entriesPerTable], false, 'int32');
  const entries = backend.typedArrayFromHeap(table) as Int32Array;
  ranges.forEach(([i0], r) => {
    planned.forEach((p, j) => {
      const l = p.plan.levels[0] as CopyLevel;
      // Int32Array stores addresses past 2 GiB as their two's complement bits, as wasm reads them.
      entries.set([p.src + i0 * l.src, l.src, p.dst + i0 * l.dst, l.dst, p.plan.runBytes], r * entriesPerTable + j * 5);
    });
  });
  const tableAt = heapOffset(backend, table);
  runParts(backend, 'interleaveRuns', ranges.map(([, n], r) => [tableAt + r * entriesPerTable * 4, planned.length, n]), work);
  release(backend, table);
}
