/**
 * The SIMD loops behind our wasm training kernels, assembled once and
 * instantiated against the tfjs wasm backend's own memory, so every pointer
 * below is a byte offset of a tensor on that heap (NHWC, float32).
 *
 * Window loops share one convention: for output row `oh` the valid filter
 * rows are `kh0..kh1` read from `tables[oh]` / `tables[Ho + oh]`, and for
 * output column `ow` the valid filter columns are `kw0..kw1` read from
 * `tables[2*Ho + ow]` / `tables[2*Ho + Wo + ow]` (see `windowTables`).
 * Computing those bounds in JS keeps divisions and padding cases out of the
 * inner loops.
 *
 * Each kernel family's loops live in their own file (copy-, pointwise-,
 * im2col-, pool-, depthwise- and channel-programs.ts), over the loop
 * builders they share (loops.ts); this file declares what the module
 * exports and assembles it.
 */
import { ModuleBuilder } from './wasm-builder.js';
import { wasmApi, type WasmMemory } from './webassembly.js';
import { addChannelPrograms } from './channel-programs.js';
import { addCopyPrograms } from './copy-programs.js';
import { addDepthwisePrograms } from './depthwise-programs.js';
import { addIm2colPrograms } from './im2col-programs.js';
import { addOptimizerPrograms } from './optimizer-programs.js';
import { addPointwisePrograms } from './pointwise-programs.js';
import { addAvgPoolGrad, addMaxPoolGrad } from './pool-programs.js';

export interface SimdPrograms {
  /**
   * Copies n2 x n1 runs of `runBytes` bytes: run (i2, i1) goes from
   * src + i2*srcStride2 + i1*srcStride1 to dst + i2*dstStride2 + i1*dstStride1
   * (all in bytes; the regions must not overlap). Any element size.
   */
  copyRuns(
    src: number, dst: number, runBytes: number, n1: number, srcStride1: number, dstStride1: number,
    n2: number, srcStride2: number, dstStride2: number,
  ): void;
  /**
   * Pointwise (1x1, stride 1) filter gradient straight from NHWC data:
   * dw[ci][co] += sum over p < pixels of x[p][ci] * dy[p][co], in chunks of
   * `chunk` pixels. cin and cout must be multiples of 4; dw zeroed first.
   */
  pointwiseFilterGrad(dw: number, x: number, dy: number, pixels: number, cin: number, cout: number, chunk: number): void;
  /**
   * Pointwise (1x1, stride 1) convolution, NHWC: out[p][co] = sum over ci
   * of x[p][ci] * w[ci][co], plus bias[co] when `hasBias`, then max(0, .)
   * when `relu`. cout must be a multiple of 4; `out` need not be zeroed.
   */
  pointwiseConv(out: number, x: number, w: number, pixels: number, cin: number, cout: number, bias: number, hasBias: number, relu: number): void;
  /**
   * `n` rounds; in each, part j (of `parts`) copies run_j bytes from src_j
   * to dst_j and advances both by its strides. `table` holds per part five
   * int32: src, srcStride, dst, dstStride, runBytes (src and dst are
   * updated in place). One pass over a concat's output or a split's input.
   */
  interleaveRuns(table: number, parts: number, n: number): void;
  /** Sets `bytes` bytes from `dst` to 0 (memory.fill). */
  zeroBytes(dst: number, bytes: number): void;
  /** dst[c * rows + r] = src[r * cols + c]. */
  transpose(src: number, dst: number, rows: number, cols: number): void;
  /**
   * Writes the rows of one filter tap of a transposed im2col matrix:
   * dst[ci][b][oh][ow] = xT[ci][b][oh*sh + hOff][ow*sw + wOff], zero outside
   * the valid output ranges [ho0, ho1) x [wo0, wo1).
   */
  im2colTap(
    xT: number, dst: number, planes: number, h: number, w: number, ho: number, wo: number,
    hOff: number, wOff: number, sh: number, sw: number, ho0: number, ho1: number, wo0: number, wo1: number,
  ): void;
  /** dx[b][ih][iw][:] += col[p][tap][:] over every valid (output, tap) pair. */
  col2im(
    col: number, dx: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number, taps: number,
  ): void;
  /**
   * Depthwise filter gradient: acc[tap][c] += x[in pixel][c] * dy[out pixel][c].
   * `kwTable` holds, per filter column kw, the valid output columns
   * [ow0[kw], ow1[kw]) (see `columnTable`).
   */
  dwFilterGrad(
    acc: number, x: number, dy: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number, kwTable: number,
  ): void;
  /** Depthwise input gradient: dx[in pixel][c] += w[tap][c] * dy[out pixel][c] (dx zeroed first). */
  dwInputGrad(
    dx: number, filter: number, dy: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number, kwTable: number,
  ): void;
  /**
   * Depthwise convolution (multiplier 1): out[pixel][c] = sum over valid taps
   * of x[in pixel][c] * w[tap][c]. Sums stay in registers, 16 channels at a
   * time; `out` need not be zeroed. Output pixels in the box
   * [ohA, ohB) x [owA, owB) are skipped (left to depthwise-interior.ts).
   */
  dwForward(
    out: number, x: number, filter: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number,
    ohA: number, ohB: number, owA: number, owB: number,
  ): void;
  /**
   * Depthwise convolution over an interior box of the output
   * [ohA, ohB) x [owA, owB), where every window lies inside the input: no
   * bounds at all. c must be a multiple of 4. Same layout as `dwForward`.
   */
  dwForwardInterior(
    out: number, x: number, filter: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number,
    ohA: number, ohB: number, owA: number, owB: number,
  ): void;
  /**
   * Average-pool gradient: dx[in pixel][c] += dy[out pixel][c] / (valid taps
   * of that window); dx zeroed first. `unused` keeps the window-loop layout.
   */
  avgPoolGrad(
    dx: number, unused: number, dy: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number,
  ): void;
  /** sums[c] += x[r][c] for r < rows (per-channel sums; sums zeroed by the caller). */
  channelSum(x: number, rows: number, c: number, sums: number): void;
  /** sums[c] += (x[r][c] - mean[c])^2. */
  channelSquaredDeviation(x: number, rows: number, c: number, mean: number, sums: number): void;
  /** sumDy[c] += dy[r][c]; sumDyXc[c] += dy[r][c] * (x[r][c] - mean[c]). */
  channelDots(dy: number, x: number, rows: number, c: number, mean: number, sumDy: number, sumDyXc: number): void;
  /** y[r][c] = x[r][c] * scale[c] + shift[c]. */
  channelAffine(x: number, y: number, rows: number, c: number, scale: number, shift: number): void;
  /** dx[r][c] = a[c] * dy[r][c] + b[c] * (x[r][c] - mean[c]) + d[c]. */
  channelAffine2(dy: number, x: number, dx: number, rows: number, c: number, a: number, b: number, mean: number, d: number): void;
  /** y[i] = max(x[i], 0) for i < n (+0 for -0, as x > 0 ? x : 0). */
  relu(x: number, y: number, n: number): void;
  /** out[i] = a[i] + b[i] for i < n. */
  addArrays(a: number, b: number, out: number, n: number): void;
  /** dx[i] = x[i] > 0 ? dy[i] : 0 for i < n. */
  reluGrad(dy: number, x: number, dx: number, n: number): void;
  /**
   * Optimizer step, pass 1: t[i] = decay ? g[i] + w[i] * wd : g[i];
   * the two float64 at `sums` (16-byte aligned) gain the f32 squares of t.
   */
  sgdTotals(g: number, w: number, t: number, n: number, wd: number, decay: number, sums: number): void;
  /** Optimizer step, pass 2: t[i] = m[i] * mu + t[i] * scale; out[i] = w[i] - t[i] * lr. */
  sgdUpdate(t: number, m: number, w: number, out: number, n: number, scale: number, mu: number, lr: number): void;
  /** Max-pool gradient: dy goes to the first tap (row-major) whose x equals the pooled y. */
  maxPoolGrad(
    dx: number, x: number, y: number, dy: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, pT: number, pL: number,
  ): void;
}

function buildModule(sharedMemory: boolean): Uint8Array {
  const m = new ModuleBuilder();
  addCopyPrograms(m);
  addPointwisePrograms(m);
  addIm2colPrograms(m);
  addAvgPoolGrad(m);
  addDepthwisePrograms(m);
  addChannelPrograms(m);
  addMaxPoolGrad(m);
  addOptimizerPrograms(m);
  return m.build(sharedMemory);
}

/** The compiled module, per memory kind (unshared: tfjs's single-threaded build; shared: its threaded one). */
const compiled = new Map<boolean, object>();
const instances = new WeakMap<WasmMemory, SimdPrograms>();

/** Whether `memory` is a shared WebAssembly.Memory (its buffer is a SharedArrayBuffer). */
export function isSharedMemory(memory: WasmMemory): boolean {
  return typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
}

/** The compiled module whose memory import matches `memory` (compiled once per kind and process). */
export function simdModuleFor(memory: WasmMemory): object {
  const shared = isSharedMemory(memory);
  let module = compiled.get(shared);
  if (!module) compiled.set(shared, module = new wasmApi.Module(buildModule(shared)));
  return module;
}

/** The SIMD programs bound to `memory` on this thread. */
export function simdPrograms(memory: WasmMemory): SimdPrograms {
  let programs = instances.get(memory);
  if (!programs) {
    const instance = new wasmApi.Instance(simdModuleFor(memory), { env: { memory } });
    programs = instance.exports as unknown as SimdPrograms;
    instances.set(memory, programs);
  }
  return programs;
}

/** Exposed for tests: the assembled module's bytes. */
export function simdModuleBytes(sharedMemory = false): Uint8Array {
  return buildModule(sharedMemory);
}
