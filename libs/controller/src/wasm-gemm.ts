/**
 * One float32 matrix product in 128-bit WebAssembly SIMD, assembled here at
 * load time (no toolchain, no tensor engine), for the controller's batched
 * LSTM:
 *
 *   C[m][n] = (accumulate ? C[m][n] : 0) + sum over k < K of A(m, k) * B[k][n]
 *
 * with A(m, k) at `a + m * aRowStride + k * aColStride` (so A may be read
 * transposed), B row-major with row stride `ldb`, C row-major with `ldc`; all
 * addresses and strides in bytes on the module's own memory.
 *
 * Why hand-written wasm: the PPO update is ~480 M multiply-adds (20 sequences
 * x 50 steps x three 400x100 products per step and epoch, 4 epochs). Scalar
 * JavaScript runs about 1 G multiply-adds/s here, wasm SIMD several times
 * that, and tfjs would add an async backend and per-op overhead to a
 * controller that is otherwise synchronous.
 *
 * Determinism: every C element is summed over k in ascending order with a
 * separate multiply and add (no fused multiply-add, no relaxed SIMD), in the
 * vector blocks and the scalar tails alike, so a result depends neither on
 * the batch size nor on which code path computed it, nor on the CPU.
 * Opcodes: WebAssembly core spec 2.0, binary format (section 5.4).
 */
import { wasmApi, type WasmMemory } from './webassembly.js';

/** Signature of the exported kernel; every argument is an i32. */
export type GemmKernel = (
  c: number, a: number, b: number, M: number, N: number, K: number,
  aRowStride: number, aColStride: number, ldb: number, ldc: number, accumulate: number,
) => void;

/** Rows of C per register block, and 4-float vectors per row: 4 x 2 keeps 8 accumulators + 2 B vectors + 1 splat in 16 registers. */
const ROWS = 4;
const VECS = 2;

const uleb = (v: number): number[] => {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
};
const sleb = (v: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => { const b = [...Buffer.from(s, 'utf8')]; return [...uleb(b.length), ...b]; };

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

/** Emits straight-line wasm into one function body, with named locals. */
class Body {
  readonly code: number[] = [];
  private readonly slots = new Map<string, number>();
  private readonly localTypes: number[] = [];
  private count = 0;

  constructor(params: readonly string[]) {
    for (const p of params) this.slots.set(p, this.count++);
  }

  local(n: string, type: number): void {
    this.slots.set(n, this.count++);
    this.localTypes.push(type);
  }

  private slot(n: string): number {
    const s = this.slots.get(n);
    if (s === undefined) throw new Error(`gemm assembler: unknown local '${n}'`);
    return s;
  }

  get(n: string): this { this.code.push(0x20, ...uleb(this.slot(n))); return this; }
  set(n: string): this { this.code.push(0x21, ...uleb(this.slot(n))); return this; }
  i32(v: number): this { this.code.push(0x41, ...sleb(v)); return this; }
  op(...bytes: number[]): this { this.code.push(...bytes); return this; }
  simd(op: number, ...rest: number[]): this { this.code.push(0xfd, ...uleb(op), ...rest); return this; }

  /** local `n` += value of local `by` (i32). */
  addTo(n: string, by: string): this { return this.get(n).get(by).op(0x6a).set(n); }

  /** while (get(counter) >= 1) { body; counter -= 1 } */
  countdown(counter: string, body: () => void): void {
    this.op(0x02, 0x40, 0x03, 0x40); // block, loop
    this.get(counter).op(0x45).op(0x0d, 1); // i32.eqz; br_if 1 (out)
    body();
    this.get(counter).i32(1).op(0x6b).set(counter);
    this.op(0x0c, 0, 0x0b, 0x0b); // br 0; end loop; end block
  }

  /** while (a + step <= limit) { body; a += step } with locals and a constant step. */
  whileFits(a: string, step: number, limit: string, body: () => void): void {
    this.op(0x02, 0x40, 0x03, 0x40);
    this.get(a).i32(step).op(0x6a).get(limit).op(0x4a).op(0x0d, 1); // a + step > limit: out
    body();
    this.get(a).i32(step).op(0x6a).set(a);
    this.op(0x0c, 0, 0x0b, 0x0b);
  }

  encode(): number[] {
    const body = [...vec(this.localTypes.map((t) => [1, t])), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

const PARAMS = ['c', 'a', 'b', 'M', 'N', 'K', 'sAm', 'sAk', 'ldb', 'ldc', 'acc'] as const;

function gemmBody(): Body {
  const f = new Body(PARAMS);
  for (const l of ['m', 'n', 'k', 'aRow', 'cRow', 'bp', 't']) f.local(l, I32);
  for (let r = 0; r < ROWS; r++) { f.local(`a${r}`, I32); f.local(`c${r}`, I32); }
  for (let r = 0; r < ROWS; r++) for (let v = 0; v < VECS; v++) f.local(`v${r}_${v}`, V128);
  for (let v = 0; v < VECS; v++) f.local(`b${v}`, V128);
  f.local('s', V128);
  for (let r = 0; r < ROWS; r++) f.local(`x${r}`, F32);
  f.local('y', F32);

  const memarg = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];
  const v128Load = (offset: number) => f.simd(0x00, ...memarg(4, offset));
  const v128Store = (offset: number) => f.simd(0x0b, ...memarg(4, offset));
  const splatLoad = () => f.simd(0x09, ...memarg(2, 0));
  const f32Load = (offset: number) => f.op(0x2a, ...memarg(2, offset));
  const f32Store = (offset: number) => f.op(0x38, ...memarg(2, offset));
  const mulF32x4 = () => f.simd(0xe6), addF32x4 = () => f.simd(0xe4);

  /**
   * One block of `rows` rows x `vecs` 4-float vectors (vecs = 0: one scalar
   * column) at (m, n): row pointers from aRow/cRow, then the k loop.
   */
  const block = (rows: number, vecs: number) => {
    // Row pointers: a_r = aRow + r * sAm; c_r = cRow + r * ldc + n * 4.
    f.get('cRow').get('n').i32(2).op(0x74).op(0x6a).set('c0');
    f.get('aRow').set('a0');
    for (let r = 1; r < rows; r++) {
      f.get(`c${r - 1}`).get('ldc').op(0x6a).set(`c${r}`);
      f.get(`a${r - 1}`).get('sAm').op(0x6a).set(`a${r}`);
    }
    // Accumulators start from C (accumulate) or zero.
    for (let r = 0; r < rows; r++) {
      if (vecs === 0) {
        f.get('acc').op(0x04, F32); // if (result f32)
        f.get(`c${r}`); f32Load(0);
        f.op(0x05).op(0x43, 0, 0, 0, 0).op(0x0b).set(`x${r}`); // else f32.const 0; end
      } else {
        for (let v = 0; v < vecs; v++) {
          f.get('acc').op(0x04, V128);
          f.get(`c${r}`); v128Load(16 * v);
          f.op(0x05).simd(0x0c, ...new Array<number>(16).fill(0)).op(0x0b).set(`v${r}_${v}`);
        }
      }
    }
    f.get('b').get('n').i32(2).op(0x74).op(0x6a).set('bp');
    f.get('K').set('k');
    f.countdown('k', () => {
      if (vecs === 0) {
        f.get('bp'); f32Load(0); f.set('y');
        for (let r = 0; r < rows; r++) {
          // x_r = x_r + a_r[0] * y
          f.get(`x${r}`).get(`a${r}`); f32Load(0); f.get('y').op(0x94).op(0x92).set(`x${r}`);
        }
      } else {
        for (let v = 0; v < vecs; v++) { f.get('bp'); v128Load(16 * v); f.set(`b${v}`); }
        for (let r = 0; r < rows; r++) {
          f.get(`a${r}`); splatLoad(); f.set('s');
          for (let v = 0; v < vecs; v++) {
            f.get(`v${r}_${v}`).get('s').get(`b${v}`); mulF32x4(); addF32x4(); f.set(`v${r}_${v}`);
          }
        }
      }
      f.addTo('bp', 'ldb');
      for (let r = 0; r < rows; r++) f.addTo(`a${r}`, 'sAk');
    });
    for (let r = 0; r < rows; r++) {
      if (vecs === 0) { f.get(`c${r}`).get(`x${r}`); f32Store(0); }
      else for (let v = 0; v < vecs; v++) { f.get(`c${r}`).get(`v${r}_${v}`); v128Store(16 * v); }
    }
  };

  /** All columns of the current rows: wide blocks, then 4-wide, then scalar columns. */
  const columns = (rows: number) => {
    f.i32(0).set('n');
    f.whileFits('n', 4 * VECS, 'N', () => block(rows, VECS));
    f.whileFits('n', 4, 'N', () => block(rows, 1));
    f.whileFits('n', 1, 'N', () => block(rows, 0));
  };

  f.i32(0).set('m');
  f.get('a').set('aRow');
  f.get('c').set('cRow');
  // t = ROWS * sAm and ROWS * ldc: pointer steps per row block.
  const rowBlock = (rows: number) => {
    f.whileFits('m', rows, 'M', () => {
      columns(rows);
      for (let r = 0; r < rows; r++) { f.addTo('aRow', 'sAm'); f.addTo('cRow', 'ldc'); }
    });
  };
  rowBlock(ROWS);
  rowBlock(1);
  return f;
}

function assemble(): Uint8Array {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const types = vec([[0x60, ...vec(PARAMS.map(() => [I32])), 0]]);
  // Imports env.memory with a minimum of one page and no maximum.
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]]);
  const funcs = vec([[0]]);
  const exports = vec([[...name('gemm'), 0x00, 0]]);
  const code = vec([gemmBody().encode()]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types), ...section(2, imports), ...section(3, funcs), ...section(7, exports), ...section(10, code),
  ]);
}

let compiled: object | undefined;

/** The kernel bound to `memory` (the module is compiled once per process). */
export function gemmKernel(memory: WasmMemory): GemmKernel {
  compiled ??= new wasmApi.Module(assemble());
  const instance = new wasmApi.Instance(compiled, { env: { memory } });
  return instance.exports.gemm as GemmKernel;
}
