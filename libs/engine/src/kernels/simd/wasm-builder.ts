/**
 * A tiny WebAssembly assembler: just enough to write the SIMD loops of our
 * training kernels and run them on the tfjs wasm heap, with no toolchain.
 *
 * Why: the tfjs wasm backend only exposes whole kernels; the loops we need
 * (depthwise filter gradient, pool gradients, im2col) run 4-8x faster as
 * 128-bit SIMD than as JavaScript, and a module that imports the backend's
 * own `WebAssembly.Memory` reads and writes tensors in place, without copies.
 *
 * Expressions are closures that push their value on the wasm stack
 * (`Expr`); statements are emitted straight into the function body. Opcode
 * numbers follow the WebAssembly core spec 2.0 (binary format, section 5.4)
 * and the fixed-width SIMD proposal as merged into it.
 */

export type ValType = 'i32' | 'f32' | 'v128';

const VALTYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Pushes one value on the wasm operand stack. */
export type Expr = (out: number[]) => void;

export function uleb(value: number): number[] {
  const bytes: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (v !== 0);
  return bytes;
}

export function sleb(value: number): number[] {
  const bytes: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

function f32Bytes(value: number): number[] {
  return Array.from(new Uint8Array(new Float32Array([value]).buffer));
}

function utf8(name: string): number[] {
  const b = Array.from(new TextEncoder().encode(name));
  return [...uleb(b.length), ...b];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const simd = (op: number, ...rest: number[]): number[] => [0xfd, ...uleb(op), ...rest];
const memarg = (alignLog2: number, offset: number): number[] => [...uleb(alignLog2), ...uleb(offset)];

const binary = (code: number[]) => (a: Expr, b: Expr): Expr => (o) => { a(o); b(o); o.push(...code); };
const unary = (code: number[]) => (a: Expr): Expr => (o) => { a(o); o.push(...code); };

/** i32 expressions. Addresses are byte offsets into the imported memory. */
export const I32 = {
  c: (v: number): Expr => (o) => { o.push(0x41, ...sleb(v)); },
  add: binary([0x6a]),
  sub: binary([0x6b]),
  mul: binary([0x6c]),
  shl: binary([0x74]),
  eqz: unary([0x45]),
  eq: binary([0x46]),
  ne: binary([0x47]),
  lt: binary([0x48]),
  gt: binary([0x4a]),
  le: binary([0x4c]),
  ge: binary([0x4e]),
  and: binary([0x71]),
  or: binary([0x72]),
  load: (addr: Expr, offset = 0): Expr => (o) => { addr(o); o.push(0x28, ...memarg(2, offset)); },
  /** One byte, zero-extended (i32.load8_u). */
  load8u: (addr: Expr, offset = 0): Expr => (o) => { addr(o); o.push(0x2d, ...memarg(0, offset)); },
};

/** f32 expressions. */
export const F32 = {
  c: (v: number): Expr => (o) => { o.push(0x43, ...f32Bytes(v)); },
  add: binary([0x92]),
  sub: binary([0x93]),
  mul: binary([0x94]),
  div: binary([0x95]),
  /** f32.max: NaN if either is NaN; max(-0, +0) = +0. */
  max: binary([0x97]),
  gt: binary([0x5e]),
  eq: binary([0x5b]),
  fromI32: unary([0xb2]),
  load: (addr: Expr, offset = 0): Expr => (o) => { addr(o); o.push(0x2a, ...memarg(2, offset)); },
};

/** 128-bit SIMD expressions (four f32 or four i32 lanes). */
export const V128 = {
  load: (addr: Expr, offset = 0): Expr => (o) => { addr(o); o.push(...simd(0x00, ...memarg(4, offset))); },
  /** One f32 (or i32) from memory in all four lanes (v128.load32_splat). */
  load32Splat: (addr: Expr, offset = 0): Expr => (o) => { addr(o); o.push(...simd(0x09, ...memarg(2, offset))); },
  zero: (): Expr => (o) => { o.push(...simd(0x0c, ...new Array<number>(16).fill(0))); },
  splatF32: unary(simd(0x13)),
  splatI32: unary(simd(0x11)),
  /** Lane `lane` (0..3) of an f32x4 as f32. */
  laneF32: (v: Expr, lane: number): Expr => (o) => { v(o); o.push(...simd(0x1f, lane)); },
  /** Lane `lane` (0..3) of an i32x4 as i32. */
  laneI32: (v: Expr, lane: number): Expr => (o) => { v(o); o.push(...simd(0x1b, lane)); },
  /** Picks four 32-bit lanes: 0..3 from `a`, 4..7 from `b`. */
  shuffle32: (a: Expr, b: Expr, lanes: readonly [number, number, number, number]): Expr => (o) => {
    a(o); b(o);
    o.push(...simd(0x0d, ...lanes.flatMap((l) => [l * 4, l * 4 + 1, l * 4 + 2, l * 4 + 3])));
  },
  /** `v` with f32 lane `lane` (0..3) replaced by `x` (f32x4.replace_lane). */
  replaceLaneF32: (v: Expr, lane: number, x: Expr): Expr => (o) => { v(o); x(o); o.push(...simd(0x20, lane)); },
  /** f64x2 of lanes 0 and 1 of an f32x4 (f64x2.promote_low_f32x4). */
  promoteLowF32: unary(simd(0x5f)),
  addF64: binary(simd(0xf0)),
  addF32: binary(simd(0xe4)),
  subF32: binary(simd(0xe5)),
  mulF32: binary(simd(0xe6)),
  maxF32: binary(simd(0xe9)),
  eqF32: binary(simd(0x41)),
  gtF32: binary(simd(0x44)),
  /** Lanes of `a` where `mask` is set, else lanes of `b`. */
  select: (a: Expr, b: Expr, mask: Expr): Expr => (o) => { a(o); b(o); mask(o); o.push(...simd(0x52)); },
};

/**
 * Builds one function. Locals are named; `get`/`set` refer to them by name.
 * Control helpers (`loop`, `when`) only ever branch to their own labels, so
 * nested helpers compose without label arithmetic.
 */
export class FunctionBuilder {
  readonly body: number[] = [];
  private readonly index = new Map<string, number>();
  private readonly types: ValType[] = [];
  readonly paramTypes: ValType[];

  constructor(readonly name: string, params: ReadonlyArray<readonly [string, ValType]>) {
    for (const [n, t] of params) this.declare(n, t);
    this.paramTypes = params.map(([, t]) => t);
  }

  private declare(name: string, type: ValType): void {
    if (this.index.has(name)) throw new Error(`wasm function ${this.name}: local '${name}' declared twice`);
    this.index.set(name, this.types.length);
    this.types.push(type);
  }

  /** Declares locals (beyond the parameters). */
  locals(spec: Record<string, ValType>): this {
    for (const [n, t] of Object.entries(spec)) this.declare(n, t);
    return this;
  }

  private slot(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`wasm function ${this.name}: unknown local '${name}'`);
    return i;
  }

  get(name: string): Expr {
    const i = this.slot(name);
    return (o) => { o.push(0x20, ...uleb(i)); };
  }

  set(name: string, value: Expr): void {
    value(this.body);
    this.body.push(0x21, ...uleb(this.slot(name)));
  }

  /** `name += delta` for an i32 local. */
  inc(name: string, delta: Expr): void {
    this.set(name, I32.add(this.get(name), delta));
  }

  storeF32(addr: Expr, value: Expr, offset = 0): void {
    addr(this.body); value(this.body);
    this.body.push(0x38, ...memarg(2, offset));
  }

  storeI32(addr: Expr, value: Expr, offset = 0): void {
    addr(this.body); value(this.body);
    this.body.push(0x36, ...memarg(2, offset));
  }

  /** Stores the low byte of an i32 (i32.store8). */
  storeI8(addr: Expr, value: Expr, offset = 0): void {
    addr(this.body); value(this.body);
    this.body.push(0x3a, ...memarg(0, offset));
  }

  storeV128(addr: Expr, value: Expr, offset = 0): void {
    addr(this.body); value(this.body);
    this.body.push(...simd(0x0b, ...memarg(4, offset)));
  }

  /** memory.fill (bulk memory): `bytes` bytes from `addr` set to the low byte of `value`. */
  memoryFill(addr: Expr, value: Expr, bytes: Expr): void {
    addr(this.body); value(this.body); bytes(this.body);
    this.body.push(0xfc, ...uleb(11), 0x00);
  }

  /** `for (name = from; name < to; name += step) body()` with i32 values. */
  loop(name: string, from: Expr, to: Expr, step: Expr, body: () => void): void {
    this.set(name, from);
    this.whileLt(this.get(name), to, () => { body(); this.inc(name, step); });
  }

  /** `while (a < b) body()` (signed i32 compare, re-evaluated each turn). */
  whileLt(a: Expr, b: Expr, body: () => void): void {
    this.body.push(0x02, 0x40, 0x03, 0x40); // block, loop
    I32.ge(a, b)(this.body);
    this.body.push(0x0d, 1); // br_if to the block's end
    body();
    this.body.push(0x0c, 0, 0x0b, 0x0b); // br to loop head, end loop, end block
  }

  /** `if (cond) then() else otherwise()`. */
  when(cond: Expr, then: () => void, otherwise?: () => void): void {
    cond(this.body);
    this.body.push(0x04, 0x40);
    then();
    if (otherwise) { this.body.push(0x05); otherwise(); }
    this.body.push(0x0b);
  }

  encode(): number[] {
    const locals = this.types.slice(this.paramTypes.length).map((t) => [1, VALTYPE_CODE[t]]);
    const code = [...vec(locals), ...this.body, 0x0b];
    return [...uleb(code.length), ...code];
  }
}

/** Assembles functions into a module that imports `env.memory`. */
export class ModuleBuilder {
  private readonly functions: FunctionBuilder[] = [];

  fn(name: string, params: ReadonlyArray<readonly [string, ValType]>, build: (f: FunctionBuilder) => void): void {
    const f = new FunctionBuilder(name, params);
    build(f);
    this.functions.push(f);
  }

  /**
   * The module's bytes. With `sharedMemory` it imports a shared memory
   * (limits flag 3: shared, with a maximum of 65,536 pages, so any shared
   * wasm32 memory matches), which the threaded tfjs build creates; without,
   * an ordinary one. An instance only links against the kind it declares.
   */
  build(sharedMemory = false): Uint8Array {
    const signatures: string[] = [];
    const typeIndex = this.functions.map((f) => {
      const key = f.paramTypes.join(',');
      let i = signatures.indexOf(key);
      if (i < 0) { i = signatures.length; signatures.push(key); }
      return i;
    });
    const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
    const typeSec = vec(signatures.map((s) => {
      const params = s === '' ? [] : s.split(',').map((t) => VALTYPE_CODE[t as ValType]);
      return [0x60, ...vec(params.map((p) => [p])), 0];
    }));
    // Memory import with minimum 1 page: with no maximum it matches any unshared memory; shared ones must state one.
    const limits = sharedMemory ? [0x03, 1, ...uleb(65_536)] : [0x00, 1];
    const importSec = vec([[...utf8('env'), ...utf8('memory'), 0x02, ...limits]]);
    const funcSec = vec(typeIndex.map((i) => uleb(i)));
    const exportSec = vec(this.functions.map((f, i) => [...utf8(f.name), 0x00, ...uleb(i)]));
    const codeSec = vec(this.functions.map((f) => f.encode()));
    return new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, typeSec),
      ...section(2, importSec),
      ...section(3, funcSec),
      ...section(7, exportSec),
      ...section(10, codeSec),
    ]);
  }
}
