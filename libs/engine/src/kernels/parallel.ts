/**
 * How our wasm kernels split a SIMD program call over the kernel threads.
 *
 * Two shapes of work:
 * - independent parts (`runParts`): each part writes its own slice of the
 *   output (a range of images, pixels or rows), so the result is the same
 *   bits however many threads ran it;
 * - reductions (`reduceParts`): a filter gradient or a per-channel sum adds
 *   up over every image or row. The rows are cut into a number of groups that
 *   depends on the size of the work only, never on the thread count; each
 *   group sums into its own buffer and the buffers are added in group order.
 *   So a child trains to the same weights on 1, 2 or 16 threads: a search is
 *   reproducible from its seed on any machine size.
 *
 * Work below a size threshold runs as one call on the calling thread: waking
 * a thread costs tens of microseconds, more than a small call takes.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { SimdPrograms } from './simd/programs.js';
import { MAX_CALLS, type ProgramPool } from './simd/thread-pool.js';
import type { WasmMemory } from './simd/webassembly.js';
import { allocate, programsFor, release, wasmMemoryOf } from './wasm-heap.js';

export type ProgramName = keyof SimdPrograms;

/**
 * Least work (values read or written, roughly) worth a part of its own:
 * about 0.05 ms of SIMD work, several times a thread's wake-up.
 */
export const MIN_WORK_PER_PART = 32 * 1024;

/**
 * Least work for which a sleeping kernel thread is woken (a worker still
 * polling after the previous call takes part whatever the size). Waking
 * one takes 50-100 us, and the caller then waits for its share, so below
 * about 0.2 ms of work the caller does better alone.
 */
export const WAKE_MIN_WORK = 256 * 1024;

/**
 * Parts per thread a run is cut into at most: with small parts a worker that
 * wakes late still takes its share of what is left, and the caller never
 * waits long for a worker's last part (measured: 62-64 images/s against
 * 46-62 with one part per thread, at F0 = 16 on 2 threads).
 */
export const PARTS_PER_THREAD = 4;

/** Groups a reduction is cut into at most (so at most this many threads share one). */
export const REDUCTION_GROUPS = 8;

const pools = new WeakMap<WasmMemory, ProgramPool>();

/** Kernel threads for the backend on this heap (set by initBackend when it starts them). */
export function setKernelThreadPool(memory: WasmMemory, pool: ProgramPool | null): void {
  if (pool) pools.set(memory, pool);
  else pools.delete(memory);
}

export function kernelThreadPoolOf(backend: BackendWasm): ProgramPool | undefined {
  return pools.get(wasmMemoryOf(backend));
}

/** Threads our kernels run on for this backend (1 without a pool). */
export function kernelThreads(backend: BackendWasm): number {
  return kernelThreadPoolOf(backend)?.threads ?? 1;
}

/**
 * How many parts to cut `units` independent units into, when the whole job
 * touches about `work` values: PARTS_PER_THREAD per thread, but none smaller
 * than MIN_WORK_PER_PART and never more than the units.
 */
export function partsFor(backend: BackendWasm, units: number, work: number): number {
  const threads = kernelThreads(backend);
  if (threads === 1) return 1;
  return Math.max(1, Math.min(PARTS_PER_THREAD * threads, units, Math.floor(work / MIN_WORK_PER_PART)));
}

/**
 * Groups of a reduction over `units` rows touching about `work` values:
 * a function of the sizes alone (see the header), 1 when the work is small.
 */
export function reductionGroups(units: number, work: number): number {
  return Math.max(1, Math.min(REDUCTION_GROUPS, units, Math.floor(work / MIN_WORK_PER_PART)));
}

/** [start, count] of each of `parts` contiguous ranges of `total` units, starts aligned to `align` units. */
export function splitRange(total: number, parts: number, align = 1): Array<[number, number]> {
  const blocks = Math.ceil(total / align);
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    const end = p === parts - 1 ? total : Math.min(total, Math.round((blocks * (p + 1)) / parts) * align);
    if (end > start) ranges.push([start, end - start]);
    start = Math.max(start, end);
  }
  return ranges;
}

/**
 * Runs `program` once per argument list, on the kernel threads when there
 * are several lists and threads; `work` (values touched, as partsFor takes
 * it) decides whether sleeping threads are woken for it.
 */
export function runParts(backend: BackendWasm, program: ProgramName, parts: ReadonlyArray<readonly number[]>, work = Infinity): void {
  const pool = parts.length > 1 ? kernelThreadPoolOf(backend) : undefined;
  if (pool && pool.threads > 1 && parts.length <= MAX_CALLS) {
    pool.run(parts.map((args) => [program, args] as const), { wake: work >= WAKE_MIN_WORK });
    return;
  }
  const fn = programsFor(backend)[program] as (...args: number[]) => void;
  for (const args of parts) fn(...args);
}

/**
 * An elementwise program over `n` float32 values, where every pointer in
 * `pointers` advances with the element (the program's arguments are the
 * pointers then n): cut into ranges of whole 4-float vectors over the
 * kernel threads. `valuesPerElement` (reads plus writes) sizes the work.
 */
export function runElementwise(
  backend: BackendWasm, program: ProgramName, pointers: readonly number[], n: number, valuesPerElement: number,
): void {
  const work = valuesPerElement * n;
  runParts(backend, program, splitRange(n, partsFor(backend, n, work), 4).map(([i, count]) =>
    [...pointers.map((p) => p + i * 4), count]), work);
}

/** An accumulator of a reduction: a float32 tensor the program adds into. */
export interface Accumulator { tensor: TensorInfo; at: number; floats: number }

/**
 * Bytes between two groups' accumulators: a whole number of 64-byte cache
 * lines plus one spare line, so no two threads ever write the same line.
 * (Packed together, two threads adding rows into neighbouring groups' sums
 * passed the line back and forth on every row: batch norm's statistics ran
 * slower on 2 threads than on 1.)
 */
const CACHE_LINE = 64;

/**
 * A reduction in `groups` groups (see the header): `argsFor(g, accs)` gives
 * group g's arguments with its accumulators' byte offsets. With one group
 * it adds into the real accumulators; with more, each group adds into its
 * own zeroed scratch lines, which are then added to the accumulators in
 * group order (the same bits as group 0 adding into them directly, since
 * they start at zero).
 */
export function reduceParts(
  backend: BackendWasm, program: ProgramName, accumulators: readonly Accumulator[], groups: number,
  argsFor: (group: number, accs: readonly number[]) => readonly number[], work = Infinity,
): void {
  if (groups <= 1) {
    runParts(backend, program, [argsFor(0, accumulators.map((a) => a.at))], work);
    return;
  }
  const lines = (floats: number) => Math.ceil((floats * 4) / CACHE_LINE) * CACHE_LINE;
  const stride = accumulators.reduce((sum, a) => sum + lines(a.floats), 0) + CACHE_LINE;
  // One spare line in front too, so the first group starts on a line of its own.
  const scratch = allocate(backend, [(groups * stride + CACHE_LINE) / 4], true);
  const scratchBase = backend.dataIdMap.get(scratch.dataId)!.memoryOffset;
  const first = Math.ceil(scratchBase / CACHE_LINE) * CACHE_LINE;
  const groupAccs: number[][] = [];
  for (let g = 0; g < groups; g++) {
    let at = first + g * stride;
    groupAccs.push(accumulators.map((a) => { const here = at; at += lines(a.floats); return here; }));
  }
  runParts(backend, program, groupAccs.map((accs, g) => [...argsFor(g, accs)]), work);
  // In group order, a SIMD float32 add each (a filter gradient's sums are up to 128 x 128 floats a group).
  const simd = programsFor(backend);
  for (let g = 0; g < groups; g++) {
    accumulators.forEach((a, k) => simd.addArrays(a.at, groupAccs[g]![k]!, a.at, a.floats));
  }
  release(backend, scratch);
}
