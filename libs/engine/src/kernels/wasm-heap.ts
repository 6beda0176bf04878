/**
 * Helpers shared by our wasm kernels: where a tensor lives on the wasm heap,
 * scratch tensors, calling the backend's own (fast, XNNPACK) kernels, and the
 * per-row / per-column filter-tap bounds the SIMD window loops read.
 *
 * Rule for callers: allocate every scratch tensor first and create typed
 * views last; a malloc may grow the heap and detach earlier views. The SIMD
 * programs take byte offsets and are immune to that.
 */
import { getKernel, type DataType, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdPrograms, type SimdPrograms } from './simd/programs.js';
import { wasmApi, type WasmMemory } from './simd/webassembly.js';
import { MissingBackendKernelError, UnsupportedDtypeError, WasmMemoryUnavailableError } from './errors.js';

/** Byte offset of a tensor's data on the wasm heap. */
export function heapOffset(backend: BackendWasm, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/**
 * The backend's WebAssembly.Memory (its `buffer` changes when the heap grows:
 * read it after every malloc). The single-threaded build exports it
 * (`module.asm.memory`); the threaded one creates it shared in JS and
 * imports it (`module.wasmMemory`).
 */
export function wasmMemoryOf(backend: BackendWasm): WasmMemory {
  const module = backend.wasm as unknown as { asm?: { memory?: unknown }; wasmMemory?: unknown };
  const memory = module.asm?.memory ?? module.wasmMemory;
  if (!(memory instanceof wasmApi.Memory)) {
    throw new WasmMemoryUnavailableError(module.asm
      ? 'neither module.asm.memory nor module.wasmMemory is a WebAssembly.Memory' : 'module.asm is missing');
  }
  return memory;
}

/** Our SIMD loops, bound to this backend's memory. */
export function programsFor(backend: BackendWasm): SimdPrograms {
  return simdPrograms(wasmMemoryOf(backend));
}

/** A new tensor on the heap (uninitialised unless `zero`). */
export function allocate(backend: BackendWasm, shape: number[], zero = false, dtype: DataType = 'float32'): TensorInfo {
  const t = backend.makeOutput(shape, dtype);
  if (zero) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'bool' ? 1 : 4);
    programsFor(backend).zeroBytes(heapOffset(backend, t), bytes);
  }
  return t;
}

export function release(backend: BackendWasm, ...tensors: TensorInfo[]): void {
  for (const t of tensors) backend.disposeData(t.dataId);
}

/** The same data under another shape (no copy; the engine keeps one owner). */
export function withShape(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function requireFloat32(kernel: string, inputs: Record<string, TensorInfo>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t.dtype !== 'float32') throw new UnsupportedDtypeError(kernel, name, t.dtype);
  }
}

/** tfjs's own wasm kernels that ours replaced, kept for the cases ours hand back. */
const replaced = new Map<string, KernelConfig>();
const setUp = new WeakMap<KernelConfig, WeakSet<object>>();

export function rememberReplacedKernel(config: KernelConfig): void {
  if (!replaced.has(config.kernelName)) replaced.set(config.kernelName, config);
}

/**
 * Runs the backend's own kernel (for example XNNPACK's Conv2D or
 * BatchMatMul) directly, outside the engine: no tape, no extra tensors.
 * When we replaced that kernel, tfjs's original runs (set up on first use,
 * since it was unregistered before the backend started).
 */
export function runBackendKernel(
  backend: BackendWasm, name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap,
): TensorInfo {
  const original = replaced.get(name);
  const kernel = original ?? getKernel(name, 'wasm');
  if (!kernel) throw new MissingBackendKernelError(name);
  if (original?.setupFunc) {
    let done = setUp.get(original);
    if (!done) setUp.set(original, done = new WeakSet());
    if (!done.has(backend)) { original.setupFunc(backend); done.add(backend); }
  }
  return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** out[r, c] (shape [cols, rows]) = in[r, c] for `t` viewed as [rows, cols]. */
export function transposeOnHeap(backend: BackendWasm, t: TensorInfo, rows: number, cols: number): TensorInfo {
  const out = allocate(backend, [cols, rows]);
  programsFor(backend).transpose(heapOffset(backend, t), heapOffset(backend, out), rows, cols);
  return out;
}

/** `a · b` with a: [m, k] and b: [k, n] through XNNPACK's fully connected path. */
export function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number): TensorInfo {
  const out = runBackendKernel(backend, 'BatchMatMul',
    { a: withShape(a, [m, k]), b: withShape(b, [k, n]) }, { transposeA: false, transposeB: false });
  return withShape(out, [m, n]);
}

export interface WindowGeometry {
  inHeight: number; inWidth: number; outHeight: number; outWidth: number;
  filterHeight: number; filterWidth: number; strideHeight: number; strideWidth: number;
  dilationHeight: number; dilationWidth: number; padTop: number; padLeft: number;
}

/** Valid taps k of one axis for output position o: 0 <= o*s - pad + k*d < size. */
export function tapRange(o: number, size: number, filter: number, stride: number, dilation: number, pad: number): [number, number] {
  const start = o * stride - pad;
  const lo = Math.max(0, Math.ceil(-start / dilation));
  const hi = Math.min(filter, Math.floor((size - 1 - start) / dilation) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Output positions o in [lo, hi) whose input index o*stride + offset lies in [0, size). */
export function outputRange(outSize: number, size: number, stride: number, offset: number): [number, number] {
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-offset / stride)));
  const hi = Math.min(outSize, Math.floor((size - 1 - offset) / stride) + 1);
  return hi > lo ? [lo, hi] : [0, 0];
}

/**
 * int32 tables [kh0[Ho], kh1[Ho], kw0[Wo], kw1[Wo]] of valid filter taps per
 * output row and column, as the SIMD window loops expect.
 */
export function windowTables(backend: BackendWasm, g: WindowGeometry): TensorInfo {
  const ho = g.outHeight, wo = g.outWidth;
  const t = allocate(backend, [2 * (ho + wo)], false, 'int32');
  const v = backend.typedArrayFromHeap(t) as Int32Array;
  for (let o = 0; o < ho; o++) {
    const [lo, hi] = tapRange(o, g.inHeight, g.filterHeight, g.strideHeight, g.dilationHeight, g.padTop);
    v[o] = lo; v[ho + o] = hi;
  }
  for (let o = 0; o < wo; o++) {
    const [lo, hi] = tapRange(o, g.inWidth, g.filterWidth, g.strideWidth, g.dilationWidth, g.padLeft);
    v[2 * ho + o] = lo; v[2 * ho + wo + o] = hi;
  }
  return t;
}

/** int32 [ow0[KW], ow1[KW]]: valid output columns for each filter column. */
export function columnTable(backend: BackendWasm, g: WindowGeometry): TensorInfo {
  const t = allocate(backend, [2 * g.filterWidth], false, 'int32');
  const v = backend.typedArrayFromHeap(t) as Int32Array;
  for (let j = 0; j < g.filterWidth; j++) {
    const [lo, hi] = outputRange(g.outWidth, g.inWidth, g.strideWidth, j * g.dilationWidth - g.padLeft);
    v[j] = lo; v[g.filterWidth + j] = hi;
  }
  return t;
}

/** Window geometry of a conv or pool, as our SIMD loops take it. */
export function geometryOf(info: {
  inHeight: number; inWidth: number; outHeight: number; outWidth: number; filterHeight: number; filterWidth: number;
  strideHeight: number; strideWidth: number; dilationHeight: number; dilationWidth: number;
  padInfo: { top: number; left: number };
}): WindowGeometry {
  return {
    inHeight: info.inHeight, inWidth: info.inWidth, outHeight: info.outHeight, outWidth: info.outWidth,
    filterHeight: info.filterHeight, filterWidth: info.filterWidth, strideHeight: info.strideHeight,
    strideWidth: info.strideWidth, dilationHeight: info.dilationHeight, dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}
