import { gemmKernel, type GemmKernel } from './wasm-gemm.js';
import { wasmApi, type WasmMemory } from './webassembly.js';

/** Number format of the policy's weights and activations. */
export type Precision = 'float32' | 'float64';

/**
 * One flat array holding every weight, gradient and activation of a policy,
 * addressed by element offsets, with a matrix product over it:
 *
 *   C[m][n] = (accumulate ? C[m][n] : 0) + sum over k of A[a + m*aRowStride + k*aColStride] * B[b + k*ldb + n]
 *
 * float32 lives in WebAssembly memory and multiplies in SIMD (wasm-gemm.ts);
 * float64 is plain JavaScript, kept as the exact reference the gradient
 * check runs on. Both sum every element over k in ascending order.
 */
export interface Arena {
  readonly precision: Precision;
  /** The whole arena; replaced (same contents) when ensure() grows it. */
  readonly data: Float32Array | Float64Array;
  /** Makes room for at least `elements` elements, keeping the contents. */
  ensure(elements: number): void;
  gemm(
    c: number, a: number, b: number, M: number, N: number, K: number,
    aRowStride: number, aColStride: number, ldb: number, ldc: number, accumulate: boolean,
  ): void;
}

const PAGE_BYTES = 65536;

class WasmArena implements Arena {
  readonly precision = 'float32' as const;
  data: Float32Array;
  private readonly memory: WasmMemory;
  private readonly kernel: GemmKernel;

  constructor(elements: number) {
    this.memory = new wasmApi.Memory({ initial: Math.max(1, Math.ceil((elements * 4) / PAGE_BYTES)) });
    this.kernel = gemmKernel(this.memory);
    this.data = new Float32Array(this.memory.buffer);
  }

  ensure(elements: number): void {
    const bytes = elements * 4;
    if (bytes <= this.memory.buffer.byteLength) return;
    this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / PAGE_BYTES));
    this.data = new Float32Array(this.memory.buffer);
  }

  gemm(c: number, a: number, b: number, M: number, N: number, K: number, sAm: number, sAk: number, ldb: number, ldc: number, accumulate: boolean): void {
    if (M <= 0 || N <= 0) return;
    this.kernel(c * 4, a * 4, b * 4, M, N, K, sAm * 4, sAk * 4, ldb * 4, ldc * 4, accumulate ? 1 : 0);
  }
}

class JsArena implements Arena {
  readonly precision = 'float64' as const;
  data: Float64Array;

  constructor(elements: number) {
    this.data = new Float64Array(elements);
  }

  ensure(elements: number): void {
    if (elements <= this.data.length) return;
    const next = new Float64Array(Math.max(elements, this.data.length * 2));
    next.set(this.data);
    this.data = next;
  }

  gemm(c: number, a: number, b: number, M: number, N: number, K: number, sAm: number, sAk: number, ldb: number, ldc: number, accumulate: boolean): void {
    const d = this.data;
    for (let m = 0; m < M; m++) {
      const cRow = c + m * ldc;
      if (!accumulate) d.fill(0, cRow, cRow + N);
      // k outside n: the row of C accumulates k in ascending order, as the wasm kernel does.
      for (let k = 0; k < K; k++) {
        const x = d[a + m * sAm + k * sAk]!;
        const bRow = b + k * ldb;
        for (let n = 0; n < N; n++) d[cRow + n] = d[cRow + n]! + x * d[bRow + n]!;
      }
    }
  }
}

export function createArena(precision: Precision, elements: number): Arena {
  return precision === 'float32' ? new WasmArena(elements) : new JsArena(elements);
}
