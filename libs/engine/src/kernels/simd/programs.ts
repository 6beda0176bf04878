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
 */
import { F32, FunctionBuilder, I32, ModuleBuilder, V128, type Expr } from './wasm-builder.js';
import { wasmApi, type WasmMemory } from './webassembly.js';

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
  /** dx[i] = x[i] > 0 ? dy[i] : 0 for i < n. */
  reluGrad(dy: number, x: number, dx: number, n: number): void;
  /** Max-pool gradient: dy goes to the first tap (row-major) whose x equals the pooled y. */
  maxPoolGrad(
    dx: number, x: number, y: number, dy: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, pT: number, pL: number,
  ): void;
}

const i32 = 'i32' as const;

/** `a[c] += term(c)` for c in 0..n floats, 16 then 4 lanes at a time, then scalar. */
function accumulate(
  f: FunctionBuilder, aPtr: string, n: Expr,
  vecTerm: (byteOff: Expr, lane: number) => Expr, scalarTerm: (byteOff: Expr) => Expr,
): void {
  const at = (lane: number): Expr => I32.add(f.get(aPtr), I32.add(f.get('cb'), I32.c(lane * 16)));
  f.set('cb', I32.c(0));
  f.set('cend', I32.shl(n, I32.c(2)));
  // 16 floats per turn: four independent vectors keep the adders busy.
  f.whileLt(I32.add(f.get('cb'), I32.c(60)), f.get('cend'), () => {
    for (let l = 0; l < 4; l++) {
      f.storeV128(at(l), V128.addF32(V128.load(at(l)), vecTerm(I32.add(f.get('cb'), I32.c(l * 16)), l)));
    }
    f.inc('cb', I32.c(64));
  });
  f.whileLt(I32.add(f.get('cb'), I32.c(12)), f.get('cend'), () => {
    f.storeV128(at(0), V128.addF32(V128.load(at(0)), vecTerm(f.get('cb'), 0)));
    f.inc('cb', I32.c(16));
  });
  f.whileLt(f.get('cb'), f.get('cend'), () => {
    const addr = I32.add(f.get(aPtr), f.get('cb'));
    f.storeF32(addr, F32.add(F32.load(addr), scalarTerm(f.get('cb'))));
    f.inc('cb', I32.c(4));
  });
}

const WINDOW_PARAMS = [
  ['a', i32], ['b', i32], ['d', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
  ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32],
] as const;

/**
 * Loops over every (batch, output pixel, valid tap) and calls `inner` with
 * locals `inPix` (byte offset of the input pixel inside the batch),
 * `tapOff` (byte offset of the tap in a [kh][kw][c] filter) and `dPix`
 * (byte address of the output pixel in `d`).
 */
function windowLoops(f: FunctionBuilder, perPixel: (() => void) | null, inner: () => void): void {
  f.locals({
    bi: i32, oh: i32, ow: i32, kh: i32, kwi: i32, kh0: i32, kh1: i32, kw0: i32, kw1: i32,
    inImg: i32, inPix: i32, tapOff: i32, dPix: i32, cBytes: i32, ih: i32, iw: i32,
  });
  const g = (n: string) => f.get(n);
  f.set('cBytes', I32.shl(g('c'), I32.c(2)));
  f.set('dPix', g('d'));
  f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
    f.set('inImg', I32.mul(I32.mul(g('bi'), I32.mul(g('h'), g('w'))), g('cBytes')));
    f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
      f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
      f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
      f.loop('ow', I32.c(0), g('wo'), I32.c(1), () => {
        const colBase = I32.add(I32.shl(g('ho'), I32.c(1)), g('ow'));
        f.set('kw0', I32.load(I32.add(g('tables'), I32.shl(colBase, I32.c(2)))));
        f.set('kw1', I32.load(I32.add(g('tables'), I32.shl(I32.add(colBase, g('wo')), I32.c(2)))));
        if (perPixel) perPixel();
        f.loop('kh', g('kh0'), g('kh1'), I32.c(1), () => {
          f.set('ih', I32.add(I32.sub(I32.mul(g('oh'), g('sh')), g('pT')), I32.mul(g('kh'), g('dh'))));
          f.loop('kwi', g('kw0'), g('kw1'), I32.c(1), () => {
            f.set('iw', I32.add(I32.sub(I32.mul(g('ow'), g('sw')), g('pL')), I32.mul(g('kwi'), g('dw'))));
            f.set('inPix', I32.add(g('inImg'), I32.mul(I32.add(I32.mul(g('ih'), g('w')), g('iw')), g('cBytes'))));
            f.set('tapOff', I32.mul(I32.add(I32.mul(g('kh'), g('kw')), g('kwi')), g('cBytes')));
            inner();
          });
        });
        f.inc('dPix', g('cBytes'));
      });
    });
  });
}

/**
 * Copies `run` bytes from address `s` to `d` (locals of `f`, with `k`,
 * `run64`, `run16`, `run4`): 64 bytes per turn as four vectors, then 16,
 * 4 and 1. The loop bounds are byte counts inside the run, never
 * addresses: the heap passes 2 GiB during training, where a signed
 * compare of addresses would fail.
 */
function copyRun(f: FunctionBuilder): void {
  const g = (n: string) => f.get(n);
  const from = (base: string) => I32.add(g(base), g('k'));
  f.set('run64', I32.and(g('run'), I32.c(~63)));
  f.set('run16', I32.and(g('run'), I32.c(~15)));
  f.set('run4', I32.and(g('run'), I32.c(~3)));
  f.loop('k', I32.c(0), g('run64'), I32.c(64), () => {
    for (let l = 0; l < 4; l++) f.storeV128(from('d'), V128.load(from('s'), l * 16), l * 16);
  });
  f.loop('k', g('run64'), g('run16'), I32.c(16), () => f.storeV128(from('d'), V128.load(from('s'))));
  f.loop('k', g('run16'), g('run4'), I32.c(4), () => f.storeI32(from('d'), I32.load(from('s'))));
  f.loop('k', g('run4'), g('run'), I32.c(1), () => f.storeI8(from('d'), I32.load8u(from('s'))));
}

function buildModule(): Uint8Array {
  const m = new ModuleBuilder();

  // Slice, Concat and Pad move whole channel runs with this.
  m.fn('copyRuns', [
    ['src', i32], ['dst', i32], ['run', i32], ['n1', i32], ['ss1', i32], ['ds1', i32], ['n2', i32], ['ss2', i32], ['ds2', i32],
  ], (f) => {
    f.locals({ i1: i32, i2: i32, s: i32, d: i32, s2: i32, d2: i32, k: i32, run64: i32, run16: i32, run4: i32 });
    const g = (n: string) => f.get(n);
    f.set('s2', g('src'));
    f.set('d2', g('dst'));
    f.loop('i2', I32.c(0), g('n2'), I32.c(1), () => {
      f.set('s', g('s2'));
      f.set('d', g('d2'));
      f.loop('i1', I32.c(0), g('n1'), I32.c(1), () => {
        copyRun(f);
        f.inc('s', g('ss1'));
        f.inc('d', g('ds1'));
      });
      f.inc('s2', g('ss2'));
      f.inc('d2', g('ds2'));
    });
  });

  m.fn('interleaveRuns', [['table', i32], ['parts', i32], ['n', i32]], (f) => {
    f.locals({ i: i32, j: i32, e: i32, s: i32, d: i32, k: i32, run: i32, run64: i32, run16: i32, run4: i32 });
    const g = (n: string) => f.get(n);
    f.loop('i', I32.c(0), g('n'), I32.c(1), () => {
      f.set('e', g('table'));
      f.loop('j', I32.c(0), g('parts'), I32.c(1), () => {
        f.set('s', I32.load(g('e')));
        f.set('d', I32.load(g('e'), 8));
        f.set('run', I32.load(g('e'), 16));
        f.storeI32(g('e'), I32.add(g('s'), I32.load(g('e'), 4)));
        f.storeI32(g('e'), I32.add(g('d'), I32.load(g('e'), 12)), 8);
        copyRun(f);
        f.inc('e', I32.c(20));
      });
    });
  });

  // Register tiles of 4 input x 8 output channels (8 accumulators, two dy
  // vectors, one broadcast x: 11 of x64's 16 vector registers), then 4 x 4
  // for an output tail. Each chunk of pixels (x and dy rows together about
  // 16 KB, so L1-resident) is swept once per tile; the tile's sums live in
  // registers for the chunk and in dw between chunks.
  m.fn('pointwiseFilterGrad', [
    ['dw', i32], ['x', i32], ['dy', i32], ['pixels', i32], ['cin', i32], ['cout', i32], ['chunk', i32],
  ], (f) => {
    f.locals({
      p0: i32, n: i32, k: i32, ci: i32, co: i32, cinB: i32, coutB: i32, co8: i32, xBase: i32, dyBase: i32,
      xp: i32, dp: i32, w: i32, d0: 'v128', d1: 'v128', b: 'v128',
      ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${i}`, 'v128' as const])),
    });
    const g = (n: string) => f.get(n);
    f.set('cinB', I32.shl(g('cin'), I32.c(2)));
    f.set('coutB', I32.shl(g('cout'), I32.c(2)));
    f.set('co8', I32.and(g('coutB'), I32.c(~31)));
    // w: address of dw[ci][co] for row r is w + r * coutB.
    const rowAt = (r: number) => (r === 0 ? g('w') : I32.add(g('w'), I32.mul(g('coutB'), I32.c(r))));
    const tile = (vecs: 1 | 2) => {
      f.set('w', I32.add(I32.add(g('dw'), I32.mul(g('ci'), g('cout'))), g('co')));
      for (let r = 0; r < 4; r++) for (let v = 0; v < vecs; v++) f.set(`a${r * 2 + v}`, V128.load(rowAt(r), v * 16));
      f.set('xp', I32.add(g('xBase'), g('ci')));
      f.set('dp', I32.add(g('dyBase'), g('co')));
      f.loop('k', I32.c(0), g('n'), I32.c(1), () => {
        f.set('d0', V128.load(g('dp')));
        if (vecs === 2) f.set('d1', V128.load(g('dp'), 16));
        for (let r = 0; r < 4; r++) {
          f.set('b', V128.load32Splat(g('xp'), r * 4));
          f.set(`a${r * 2}`, V128.addF32(g(`a${r * 2}`), V128.mulF32(g('b'), g('d0'))));
          if (vecs === 2) f.set(`a${r * 2 + 1}`, V128.addF32(g(`a${r * 2 + 1}`), V128.mulF32(g('b'), g('d1'))));
        }
        f.inc('xp', g('cinB'));
        f.inc('dp', g('coutB'));
      });
      for (let r = 0; r < 4; r++) for (let v = 0; v < vecs; v++) f.storeV128(rowAt(r), g(`a${r * 2 + v}`), v * 16);
    };
    f.loop('p0', I32.c(0), g('pixels'), g('chunk'), () => {
      f.set('n', I32.sub(g('pixels'), g('p0')));
      f.when(I32.gt(g('n'), g('chunk')), () => f.set('n', g('chunk')));
      f.set('xBase', I32.add(g('x'), I32.mul(g('p0'), g('cinB'))));
      f.set('dyBase', I32.add(g('dy'), I32.mul(g('p0'), g('coutB'))));
      // ci and co are byte offsets of the tile's first channel.
      f.loop('ci', I32.c(0), g('cinB'), I32.c(16), () => {
        f.loop('co', I32.c(0), g('co8'), I32.c(32), () => tile(2));
        f.loop('co', g('co8'), g('coutB'), I32.c(16), () => tile(1));
      });
    });
  });

  // Register tiles of 4 pixels x 8 output channels: per input channel two
  // weight vectors and four broadcast x values feed 8 multiply-adds into
  // 8 accumulators (11 of x64's 16 vector registers); the sums never leave
  // registers until the tile's output is written once. Tails: 4-channel
  // vectors, then single pixels.
  m.fn('pointwiseConv', [
    ['out', i32], ['x', i32], ['w', i32], ['pixels', i32], ['cin', i32], ['cout', i32], ['bias', i32], ['hasBias', i32], ['relu', i32],
  ], (f) => {
    f.locals({
      p: i32, p4: i32, k: i32, co: i32, cinB: i32, coutB: i32, co8: i32, c2: i32, c3: i32,
      xRow: i32, oRow: i32, xq: i32, wp: i32, o: i32, w0: 'v128', w1: 'v128', b: 'v128',
      ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${i}`, 'v128' as const])),
    });
    const g = (n: string) => f.get(n);
    f.set('cinB', I32.shl(g('cin'), I32.c(2)));
    f.set('coutB', I32.shl(g('cout'), I32.c(2)));
    f.set('c2', I32.shl(g('cinB'), I32.c(1)));
    f.set('c3', I32.add(g('c2'), g('cinB')));
    f.set('co8', I32.and(g('coutB'), I32.c(~31)));
    f.set('p4', I32.and(g('pixels'), I32.c(~3)));
    const xAt = (r: number) => [g('xq'), I32.add(g('xq'), g('cinB')), I32.add(g('xq'), g('c2')), I32.add(g('xq'), g('c3'))][r] as Expr;
    const tile = (rows: 1 | 4, vecs: 1 | 2) => {
      const acc = (r: number, v: number) => `a${r * 2 + v}`;
      for (let r = 0; r < rows; r++) for (let v = 0; v < vecs; v++) f.set(acc(r, v), V128.zero());
      f.set('xq', g('xRow'));
      f.set('wp', I32.add(g('w'), g('co')));
      f.loop('k', I32.c(0), g('cin'), I32.c(1), () => {
        f.set('w0', V128.load(g('wp')));
        if (vecs === 2) f.set('w1', V128.load(g('wp'), 16));
        for (let r = 0; r < rows; r++) {
          f.set('b', V128.load32Splat(xAt(r)));
          f.set(acc(r, 0), V128.addF32(g(acc(r, 0)), V128.mulF32(g('b'), g('w0'))));
          if (vecs === 2) f.set(acc(r, 1), V128.addF32(g(acc(r, 1)), V128.mulF32(g('b'), g('w1'))));
        }
        f.inc('xq', I32.c(4));
        f.inc('wp', g('coutB'));
      });
      for (let v = 0; v < vecs; v++) {
        f.when(g('hasBias'), () => {
          f.set('b', V128.load(I32.add(g('bias'), g('co')), v * 16));
          for (let r = 0; r < rows; r++) f.set(acc(r, v), V128.addF32(g(acc(r, v)), g('b')));
        });
        f.when(g('relu'), () => {
          for (let r = 0; r < rows; r++) f.set(acc(r, v), V128.maxF32(g(acc(r, v)), V128.zero()));
        });
      }
      f.set('o', I32.add(g('oRow'), g('co')));
      for (let r = 0; r < rows; r++) {
        for (let v = 0; v < vecs; v++) f.storeV128(g('o'), g(acc(r, v)), v * 16);
        if (r < rows - 1) f.inc('o', g('coutB'));
      }
    };
    const pixelLoop = (from: Expr, to: Expr, rows: 1 | 4) => {
      f.loop('p', from, to, I32.c(rows), () => {
        f.set('xRow', I32.add(g('x'), I32.mul(g('p'), g('cinB'))));
        f.set('oRow', I32.add(g('out'), I32.mul(g('p'), g('coutB'))));
        f.loop('co', I32.c(0), g('co8'), I32.c(32), () => tile(rows, 2));
        f.loop('co', g('co8'), g('coutB'), I32.c(16), () => tile(rows, 1));
      });
    };
    pixelLoop(I32.c(0), g('p4'), 4);
    pixelLoop(g('p4'), g('pixels'), 1);
  });

  m.fn('transpose', [['src', i32], ['dst', i32], ['rows', i32], ['cols', i32]], (f) => {
    f.locals({
      r: i32, c: i32, rows4: i32, cols4: i32, s: i32, t: i32, colBytes: i32, rowBytes: i32,
      a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', t0: 'v128', t1: 'v128', t2: 'v128', t3: 'v128',
    });
    const g = (n: string) => f.get(n);
    f.set('rows4', I32.and(g('rows'), I32.c(~3)));
    f.set('cols4', I32.and(g('cols'), I32.c(~3)));
    f.set('colBytes', I32.shl(g('cols'), I32.c(2)));
    f.set('rowBytes', I32.shl(g('rows'), I32.c(2)));
    f.loop('r', I32.c(0), g('rows4'), I32.c(4), () => {
      f.loop('c', I32.c(0), g('cols4'), I32.c(4), () => {
        f.set('s', I32.add(g('src'), I32.shl(I32.add(I32.mul(g('r'), g('cols')), g('c')), I32.c(2))));
        f.set('a0', V128.load(g('s')));
        f.set('a1', V128.load(I32.add(g('s'), g('colBytes'))));
        f.set('a2', V128.load(I32.add(g('s'), I32.shl(g('colBytes'), I32.c(1)))));
        f.set('a3', V128.load(I32.add(g('s'), I32.mul(g('colBytes'), I32.c(3)))));
        f.set('t0', V128.shuffle32(g('a0'), g('a1'), [0, 4, 1, 5]));
        f.set('t1', V128.shuffle32(g('a0'), g('a1'), [2, 6, 3, 7]));
        f.set('t2', V128.shuffle32(g('a2'), g('a3'), [0, 4, 1, 5]));
        f.set('t3', V128.shuffle32(g('a2'), g('a3'), [2, 6, 3, 7]));
        f.set('t', I32.add(g('dst'), I32.shl(I32.add(I32.mul(g('c'), g('rows')), g('r')), I32.c(2))));
        f.storeV128(g('t'), V128.shuffle32(g('t0'), g('t2'), [0, 1, 4, 5]));
        f.storeV128(I32.add(g('t'), g('rowBytes')), V128.shuffle32(g('t0'), g('t2'), [2, 3, 6, 7]));
        f.storeV128(I32.add(g('t'), I32.shl(g('rowBytes'), I32.c(1))), V128.shuffle32(g('t1'), g('t3'), [0, 1, 4, 5]));
        f.storeV128(I32.add(g('t'), I32.mul(g('rowBytes'), I32.c(3))), V128.shuffle32(g('t1'), g('t3'), [2, 3, 6, 7]));
      });
    });
    const scalar = (r0: Expr, r1: Expr, c0: Expr, c1: Expr) => {
      f.loop('r', r0, r1, I32.c(1), () => {
        f.loop('c', c0, c1, I32.c(1), () => {
          f.storeF32(
            I32.add(g('dst'), I32.shl(I32.add(I32.mul(g('c'), g('rows')), g('r')), I32.c(2))),
            F32.load(I32.add(g('src'), I32.shl(I32.add(I32.mul(g('r'), g('cols')), g('c')), I32.c(2)))),
          );
        });
      });
    };
    scalar(I32.c(0), g('rows'), g('cols4'), g('cols'));
    scalar(g('rows4'), g('rows'), I32.c(0), g('cols4'));
  });

  m.fn('im2colTap', [
    ['xT', i32], ['dst', i32], ['planes', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
    ['hOff', i32], ['wOff', i32], ['sh', i32], ['sw', i32], ['ho0', i32], ['ho1', i32], ['wo0', i32], ['wo1', i32],
  ], (f) => {
    f.locals({ p: i32, oh: i32, ow: i32, src: i32, row: i32, s: i32, e: i32, t: i32, inPlane: i32, outRow: i32 });
    const g = (n: string) => f.get(n);
    const zero = (from: Expr, to: Expr) => {
      f.loop('ow', from, to, I32.c(1), () => f.storeF32(I32.add(g('row'), I32.shl(g('ow'), I32.c(2))), F32.c(0)));
    };
    f.set('inPlane', I32.shl(I32.mul(g('h'), g('w')), I32.c(2)));
    f.set('outRow', I32.shl(g('wo'), I32.c(2)));
    f.set('row', g('dst'));
    f.loop('p', I32.c(0), g('planes'), I32.c(1), () => {
      f.set('src', I32.add(g('xT'), I32.mul(g('p'), g('inPlane'))));
      f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
        f.when(I32.or(I32.lt(g('oh'), g('ho0')), I32.ge(g('oh'), g('ho1'))), () => zero(I32.c(0), g('wo')), () => {
          zero(I32.c(0), g('wo0'));
          // s: address of input element for ow = 0 (may lie before the row; only valid ow are read).
          f.set('s', I32.add(g('src'), I32.shl(
            I32.add(I32.mul(I32.add(I32.mul(g('oh'), g('sh')), g('hOff')), g('w')), g('wOff')), I32.c(2))));
          f.when(I32.eq(g('sw'), I32.c(1)), () => {
            // Contiguous copy of [wo0, wo1): vectors, then the scalar tail.
            // t counts bytes from wo0 and e is the run's length: comparing
            // addresses would fail on a heap past 2 GiB (i32 compares are signed).
            f.set('t', I32.c(0));
            f.set('e', I32.shl(I32.sub(g('wo1'), g('wo0')), I32.c(2)));
            f.set('s', I32.add(g('s'), I32.shl(g('wo0'), I32.c(2))));
            f.set('row', I32.add(g('row'), I32.shl(g('wo0'), I32.c(2))));
            f.whileLt(I32.add(g('t'), I32.c(12)), g('e'), () => {
              f.storeV128(I32.add(g('row'), g('t')), V128.load(I32.add(g('s'), g('t'))));
              f.inc('t', I32.c(16));
            });
            f.whileLt(g('t'), g('e'), () => {
              f.storeF32(I32.add(g('row'), g('t')), F32.load(I32.add(g('s'), g('t'))));
              f.inc('t', I32.c(4));
            });
            f.set('row', I32.sub(g('row'), I32.shl(g('wo0'), I32.c(2))));
          }, () => {
            f.loop('ow', g('wo0'), g('wo1'), I32.c(1), () => {
              f.storeF32(I32.add(g('row'), I32.shl(g('ow'), I32.c(2))),
                F32.load(I32.add(g('s'), I32.shl(I32.mul(g('ow'), g('sw')), I32.c(2)))));
            });
          });
          zero(g('wo1'), g('wo'));
        });
        f.inc('row', g('outRow'));
      });
    });
  });

  m.fn('col2im', [
    ['col', i32], ['dx', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
    ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32], ['taps', i32],
  ], (f) => {
    // Row p of the column matrix holds taps*c floats; windowLoops advances
    // dPix by c floats per output pixel from d = 0, so the row starts at
    // col + dPix * taps.
    f.locals({ d: i32, cb: i32, cend: i32, aPtr: i32, bPtr: i32 });
    f.set('d', I32.c(0));
    windowLoops(f, null, () => {
      f.set('aPtr', I32.add(f.get('dx'), f.get('inPix')));
      f.set('bPtr', I32.add(I32.add(f.get('col'), f.get('tapOff')), I32.mul(f.get('dPix'), f.get('taps'))));
      accumulate(f, 'aPtr', f.get('c'),
        (off) => V128.load(I32.add(f.get('bPtr'), off)),
        (off) => F32.load(I32.add(f.get('bPtr'), off)));
    });
  });

  m.fn('avgPoolGrad', WINDOW_PARAMS, (f) => {
    f.locals({ cb: i32, cend: i32, aPtr: i32, inv: 'f32', invV: 'v128' });
    const perPixel = () => {
      // Divisor = taps inside the input: tfjs's forward AvgPool skips padding.
      f.set('inv', F32.div(F32.c(1), F32.fromI32(I32.mul(
        I32.sub(f.get('kh1'), f.get('kh0')), I32.sub(f.get('kw1'), f.get('kw0'))))));
      f.set('invV', V128.splatF32(f.get('inv')));
    };
    windowLoops(f, perPixel, () => {
      f.set('aPtr', I32.add(f.get('a'), f.get('inPix')));
      accumulate(f, 'aPtr', f.get('c'),
        (off) => V128.mulF32(V128.load(I32.add(f.get('dPix'), off)), f.get('invV')),
        (off) => F32.mul(F32.load(I32.add(f.get('dPix'), off)), f.get('inv')));
    });
  });

  // Depthwise gradients, one output row at a time: for each (row, kh, kw)
  // the valid output columns [ow0, ow1) come from `kwTable` (2*KW ints).
  // The filter gradient sums x*dy along the row in registers; the input
  // gradient keeps the tap's weights in registers and updates dx in place.
  for (const mode of ['dwFilterGrad', 'dwInputGrad'] as const) {
    m.fn(mode, [
      ['a', i32], ['b', i32], ['dy', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
      ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32], ['kwTable', i32],
    ], (f) => {
      f.locals({
        bi: i32, oh: i32, kh: i32, kwi: i32, kh0: i32, kh1: i32, ow: i32, ow0: i32, ow1: i32, cBytes: i32,
        c16: i32, c4: i32, cb: i32, dyRow: i32, xRow: i32, tap: i32, xp: i32, dp: i32, xStep: i32, ih: i32,
        r0: 'v128', r1: 'v128', r2: 'v128', r3: 'v128', s: 'f32',
      });
      const g = (n: string) => f.get(n);
      const regs = ['r0', 'r1', 'r2', 'r3'];
      // In both modes: `xp` walks the input row (x or dx), `dp` the dy row,
      // `tap` is the tap's filter slot (dW or W) at channel offset cb.
      const rowLoop = (lanes: number) => {
        const vec = lanes > 0;
        const count = vec ? lanes : 1;
        if (mode === 'dwFilterGrad') {
          for (let l = 0; l < count; l++) f.set(vec ? regs[l] : 's', vec ? V128.zero() : F32.c(0));
        } else {
          for (let l = 0; l < count; l++) {
            f.set(vec ? regs[l] : 's', vec ? V128.load(I32.add(g('tap'), g('cb')), l * 16) : F32.load(I32.add(g('tap'), g('cb'))));
          }
        }
        f.set('xp', I32.add(I32.add(g('xRow'), I32.mul(I32.add(I32.sub(I32.mul(g('ow0'), g('sw')), g('pL')),
          I32.mul(g('kwi'), g('dw'))), g('cBytes'))), g('cb')));
        f.set('dp', I32.add(I32.add(g('dyRow'), I32.mul(g('ow0'), g('cBytes'))), g('cb')));
        f.loop('ow', g('ow0'), g('ow1'), I32.c(1), () => {
          for (let l = 0; l < count; l++) {
            if (mode === 'dwFilterGrad') {
              if (vec) f.set(regs[l], V128.addF32(g(regs[l]), V128.mulF32(V128.load(g('xp'), l * 16), V128.load(g('dp'), l * 16))));
              else f.set('s', F32.add(g('s'), F32.mul(F32.load(g('xp')), F32.load(g('dp')))));
            } else if (vec) {
              f.storeV128(g('xp'), V128.addF32(V128.load(g('xp'), l * 16), V128.mulF32(g(regs[l]), V128.load(g('dp'), l * 16))), l * 16);
            } else {
              f.storeF32(g('xp'), F32.add(F32.load(g('xp')), F32.mul(g('s'), F32.load(g('dp')))));
            }
          }
          f.inc('xp', g('xStep'));
          f.inc('dp', g('cBytes'));
        });
        if (mode === 'dwFilterGrad') {
          for (let l = 0; l < count; l++) {
            const at = I32.add(g('tap'), g('cb'));
            if (vec) f.storeV128(at, V128.addF32(V128.load(at, l * 16), g(regs[l])), l * 16);
            else f.storeF32(at, F32.add(F32.load(at), g('s')));
          }
        }
      };
      const [xArg, tapArg] = mode === 'dwFilterGrad' ? ['b', 'a'] : ['a', 'b'];
      f.set('cBytes', I32.shl(g('c'), I32.c(2)));
      f.set('c16', I32.and(g('cBytes'), I32.c(~63)));
      f.set('c4', I32.and(g('cBytes'), I32.c(~15)));
      f.set('xStep', I32.mul(g('sw'), g('cBytes')));
      f.set('dyRow', g('dy'));
      f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
        f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
          f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
          f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
          f.loop('kh', g('kh0'), g('kh1'), I32.c(1), () => {
            f.set('ih', I32.add(I32.sub(I32.mul(g('oh'), g('sh')), g('pT')), I32.mul(g('kh'), g('dh'))));
            f.set('xRow', I32.add(g(xArg), I32.mul(I32.mul(I32.add(I32.mul(g('bi'), g('h')), g('ih')), g('w')), g('cBytes'))));
            f.loop('kwi', I32.c(0), g('kw'), I32.c(1), () => {
              f.set('ow0', I32.load(I32.add(g('kwTable'), I32.shl(g('kwi'), I32.c(2)))));
              f.set('ow1', I32.load(I32.add(g('kwTable'), I32.shl(I32.add(g('kw'), g('kwi')), I32.c(2)))));
              f.set('tap', I32.add(g(tapArg), I32.mul(I32.add(I32.mul(g('kh'), g('kw')), g('kwi')), g('cBytes'))));
              f.loop('cb', I32.c(0), g('c16'), I32.c(64), () => rowLoop(4));
              f.loop('cb', g('c16'), g('c4'), I32.c(16), () => rowLoop(1));
              f.loop('cb', g('c4'), g('cBytes'), I32.c(4), () => rowLoop(0));
            });
          });
          f.inc('dyRow', I32.mul(g('wo'), g('cBytes')));
        });
      });
    });
  }

  m.fn('dwForward', [
    ['out', i32], ['x', i32], ['wt', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
    ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32],
    ['ohA', i32], ['ohB', i32], ['owA', i32], ['owB', i32],
  ], (f) => {
    f.locals({
      bi: i32, oh: i32, ow: i32, kh: i32, kwi: i32, kh0: i32, kh1: i32, kw0: i32, kw1: i32, cBytes: i32,
      inImg: i32, outPix: i32, rowPix: i32, tapRow: i32, xp: i32, wp: i32, cb: i32, c16: i32, c4: i32,
      ih: i32, iw0: i32, a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', s: 'f32',
    });
    const g = (n: string) => f.get(n);
    f.set('cBytes', I32.shl(g('c'), I32.c(2)));
    f.set('c16', I32.and(g('cBytes'), I32.c(~63)));
    f.set('c4', I32.and(g('cBytes'), I32.c(~15)));
    f.set('outPix', g('out'));
    // Visits the valid taps of the current output pixel with xp / wp at
    // (input pixel, tap) + channel byte offset cb.
    const taps = (body: () => void) => {
      f.loop('kh', g('kh0'), g('kh1'), I32.c(1), () => {
        f.set('ih', I32.add(I32.sub(I32.mul(g('oh'), g('sh')), g('pT')), I32.mul(g('kh'), g('dh'))));
        f.set('rowPix', I32.add(g('x'), I32.add(g('inImg'), I32.mul(I32.mul(g('ih'), g('w')), g('cBytes')))));
        f.set('tapRow', I32.add(g('wt'), I32.mul(I32.mul(g('kh'), g('kw')), g('cBytes'))));
        f.loop('kwi', g('kw0'), g('kw1'), I32.c(1), () => {
          f.set('xp', I32.add(I32.add(g('rowPix'), I32.mul(I32.add(g('iw0'), I32.mul(g('kwi'), g('dw'))), g('cBytes'))), g('cb')));
          f.set('wp', I32.add(I32.add(g('tapRow'), I32.mul(g('kwi'), g('cBytes'))), g('cb')));
          body();
        });
      });
    };
    // One output pixel (bi, oh, ow), all channels.
    const pixel = () => {
      const colBase = I32.add(I32.shl(g('ho'), I32.c(1)), g('ow'));
      f.set('kw0', I32.load(I32.add(g('tables'), I32.shl(colBase, I32.c(2)))));
      f.set('kw1', I32.load(I32.add(g('tables'), I32.shl(I32.add(colBase, g('wo')), I32.c(2)))));
      f.set('iw0', I32.sub(I32.mul(g('ow'), g('sw')), g('pL')));
      f.loop('cb', I32.c(0), g('c16'), I32.c(64), () => {
        for (const a of ['a0', 'a1', 'a2', 'a3']) f.set(a, V128.zero());
        taps(() => {
          ['a0', 'a1', 'a2', 'a3'].forEach((a, l) => {
            f.set(a, V128.addF32(g(a), V128.mulF32(V128.load(g('xp'), l * 16), V128.load(g('wp'), l * 16))));
          });
        });
        ['a0', 'a1', 'a2', 'a3'].forEach((a, l) => f.storeV128(I32.add(g('outPix'), g('cb')), g(a), l * 16));
      });
      f.loop('cb', g('c16'), g('c4'), I32.c(16), () => {
        f.set('a0', V128.zero());
        taps(() => f.set('a0', V128.addF32(g('a0'), V128.mulF32(V128.load(g('xp')), V128.load(g('wp'))))));
        f.storeV128(I32.add(g('outPix'), g('cb')), g('a0'));
      });
      f.loop('cb', g('c4'), g('cBytes'), I32.c(4), () => {
        f.set('s', F32.c(0));
        taps(() => f.set('s', F32.add(g('s'), F32.mul(F32.load(g('xp')), F32.load(g('wp'))))));
        f.storeF32(I32.add(g('outPix'), g('cb')), g('s'));
      });
      f.inc('outPix', g('cBytes'));
    };
    f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
      f.set('inImg', I32.mul(I32.mul(g('bi'), I32.mul(g('h'), g('w'))), g('cBytes')));
      f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
        f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
        f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
        f.loop('ow', I32.c(0), g('wo'), I32.c(1), () => {
          // Jump over the interior box's columns on its rows.
          f.when(I32.and(I32.eq(g('ow'), g('owA')), I32.and(I32.ge(g('oh'), g('ohA')), I32.lt(g('oh'), g('ohB')))), () => {
            f.inc('outPix', I32.mul(I32.sub(g('owB'), g('owA')), g('cBytes')));
            f.set('ow', g('owB'));
          });
          f.when(I32.lt(g('ow'), g('wo')), pixel);
        });
      });
    });
  });

  // Tiles of 3 output pixels x 8 channels: per tap, two weight vectors
  // serve three pixels (6 multiply-adds for 8 loads, against 4 for 8 in
  // dwForward), and the tap loop carries no bounds. Measured: V8's
  // TurboFan hoists every load of a basic block to its top, so the tap
  // loop stays a loop (unrolling 25-49 taps spilled and ran slower) and the
  // tile is sized to keep accumulators, weights and x loads (14 vectors)
  // within x64's 16 registers.
  m.fn('dwForwardInterior', [
    ['out', i32], ['x', i32], ['wt', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
    ['c', i32], ['kh', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32],
    ['ohA', i32], ['ohB', i32], ['owA', i32], ['owB', i32],
  ], (f) => {
    f.locals({
      bi: i32, oh: i32, ow: i32, i: i32, j: i32, cb: i32, cB: i32, c8: i32, xPixB: i32, xPix2B: i32, tapB: i32, rowB: i32,
      xRow: i32, oRow: i32, xo: i32, xt: i32, xr: i32, wr: i32, op: i32,
      a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', a4: 'v128', a5: 'v128', w0: 'v128', w1: 'v128',
    });
    const g = (n: string) => f.get(n);
    f.set('cB', I32.shl(g('c'), I32.c(2)));
    f.set('c8', I32.and(g('cB'), I32.c(~31)));
    f.set('xPixB', I32.mul(g('sw'), g('cB')));
    f.set('xPix2B', I32.shl(g('xPixB'), I32.c(1)));
    f.set('tapB', I32.mul(g('dw'), g('cB')));
    f.set('rowB', I32.mul(I32.mul(g('dh'), g('w')), g('cB')));
    // `pixels` output pixels from window origin xo / output op, `vecs` vectors from channel byte cb.
    const tile = (pixels: 1 | 3, vecs: 1 | 2) => {
      const acc = (p: number, k: number) => `a${p * 2 + k}`;
      for (let p = 0; p < pixels; p++) for (let k = 0; k < vecs; k++) f.set(acc(p, k), V128.zero());
      f.set('xt', I32.add(g('xo'), g('cb')));
      f.set('wr', I32.add(g('wt'), g('cb')));
      f.loop('i', I32.c(0), g('kh'), I32.c(1), () => {
        f.set('xr', g('xt'));
        f.loop('j', I32.c(0), g('kw'), I32.c(1), () => {
          for (let k = 0; k < vecs; k++) f.set(`w${k}`, V128.load(g('wr'), k * 16));
          for (let p = 0; p < pixels; p++) {
            const at = p === 0 ? g('xr') : I32.add(g('xr'), g(p === 1 ? 'xPixB' : 'xPix2B'));
            for (let k = 0; k < vecs; k++) {
              f.set(acc(p, k), V128.addF32(g(acc(p, k)), V128.mulF32(V128.load(at, k * 16), g(`w${k}`))));
            }
          }
          f.inc('xr', g('tapB'));
          f.inc('wr', g('cB'));
        });
        f.inc('xt', g('rowB'));
      });
      for (let p = 0; p < pixels; p++) {
        for (let k = 0; k < vecs; k++) f.storeV128(I32.add(g('op'), g('cb')), g(acc(p, k)), k * 16);
        if (p < pixels - 1) f.inc('op', g('cB'));
      }
      if (pixels > 1) f.set('op', I32.sub(g('op'), I32.mul(g('cB'), I32.c(pixels - 1))));
    };
    const allChannels = (pixels: 1 | 3) => {
      f.loop('cb', I32.c(0), g('c8'), I32.c(32), () => tile(pixels, 2));
      f.loop('cb', g('c8'), g('cB'), I32.c(16), () => tile(pixels, 1));
    };
    f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
      f.loop('oh', g('ohA'), g('ohB'), I32.c(1), () => {
        // Window origin of (bi, oh, owA) in x, and output pixel (bi, oh, owA).
        f.set('xo', I32.add(g('x'), I32.mul(I32.add(
          I32.mul(I32.add(I32.mul(g('bi'), g('h')), I32.sub(I32.mul(g('oh'), g('sh')), g('pT'))), g('w')),
          I32.sub(I32.mul(g('owA'), g('sw')), g('pL'))), g('cB'))));
        f.set('op', I32.add(g('out'), I32.mul(I32.add(
          I32.mul(I32.add(I32.mul(g('bi'), g('ho')), g('oh')), g('wo')), g('owA')), g('cB'))));
        f.set('ow', g('owA'));
        f.whileLt(I32.add(g('ow'), I32.c(2)), g('owB'), () => {
          allChannels(3);
          f.inc('xo', I32.mul(g('xPixB'), I32.c(3)));
          f.inc('op', I32.mul(g('cB'), I32.c(3)));
          f.inc('ow', I32.c(3));
        });
        f.whileLt(g('ow'), g('owB'), () => {
          allChannels(1);
          f.inc('xo', g('xPixB'));
          f.inc('op', g('cB'));
          f.inc('ow', I32.c(1));
        });
      });
    });
  });

  // Per-channel loops over rows of a channels-last tensor [rows, c]. `row`
  // is the byte offset of the current row; per-channel arrays are indexed by
  // the channel's byte offset `cb` alone, so they stay in L1.
  const channelLoop = (
    f: FunctionBuilder, rowsName: string,
    vec: (row: Expr, cb: Expr) => void, scalar: (row: Expr, cb: Expr) => void,
  ) => {
    f.locals({ r: i32, row: i32, cb: i32, c4: i32, cBytes: i32 });
    const g = (n: string) => f.get(n);
    f.set('cBytes', I32.shl(g('c'), I32.c(2)));
    f.set('c4', I32.and(g('cBytes'), I32.c(~15)));
    f.set('row', I32.c(0));
    f.loop('r', I32.c(0), g(rowsName), I32.c(1), () => {
      f.loop('cb', I32.c(0), g('c4'), I32.c(16), () => vec(g('row'), g('cb')));
      f.loop('cb', g('c4'), g('cBytes'), I32.c(4), () => scalar(g('row'), g('cb')));
      f.inc('row', g('cBytes'));
    });
  };
  const at = (f: FunctionBuilder, base: string, ...offsets: Expr[]) =>
    offsets.reduce((a, o) => I32.add(a, o), f.get(base));

  m.fn('channelSum', [['x', i32], ['rows', i32], ['c', i32], ['sums', i32]], (f) => {
    channelLoop(f, 'rows',
      (row, cb) => f.storeV128(at(f, 'sums', cb), V128.addF32(V128.load(at(f, 'sums', cb)), V128.load(at(f, 'x', row, cb)))),
      (row, cb) => f.storeF32(at(f, 'sums', cb), F32.add(F32.load(at(f, 'sums', cb)), F32.load(at(f, 'x', row, cb)))));
  });

  m.fn('channelSquaredDeviation', [['x', i32], ['rows', i32], ['c', i32], ['mean', i32], ['sums', i32]], (f) => {
    f.locals({ t: 'v128', u: 'f32' });
    channelLoop(f, 'rows', (row, cb) => {
      f.set('t', V128.subF32(V128.load(at(f, 'x', row, cb)), V128.load(at(f, 'mean', cb))));
      f.storeV128(at(f, 'sums', cb), V128.addF32(V128.load(at(f, 'sums', cb)), V128.mulF32(f.get('t'), f.get('t'))));
    }, (row, cb) => {
      f.set('u', F32.sub(F32.load(at(f, 'x', row, cb)), F32.load(at(f, 'mean', cb))));
      f.storeF32(at(f, 'sums', cb), F32.add(F32.load(at(f, 'sums', cb)), F32.mul(f.get('u'), f.get('u'))));
    });
  });

  m.fn('channelDots', [['dy', i32], ['x', i32], ['rows', i32], ['c', i32], ['mean', i32], ['sumDy', i32], ['sumDyXc', i32]], (f) => {
    f.locals({ t: 'v128', u: 'f32' });
    channelLoop(f, 'rows', (row, cb) => {
      f.set('t', V128.load(at(f, 'dy', row, cb)));
      f.storeV128(at(f, 'sumDy', cb), V128.addF32(V128.load(at(f, 'sumDy', cb)), f.get('t')));
      f.storeV128(at(f, 'sumDyXc', cb), V128.addF32(V128.load(at(f, 'sumDyXc', cb)),
        V128.mulF32(f.get('t'), V128.subF32(V128.load(at(f, 'x', row, cb)), V128.load(at(f, 'mean', cb))))));
    }, (row, cb) => {
      f.set('u', F32.load(at(f, 'dy', row, cb)));
      f.storeF32(at(f, 'sumDy', cb), F32.add(F32.load(at(f, 'sumDy', cb)), f.get('u')));
      f.storeF32(at(f, 'sumDyXc', cb), F32.add(F32.load(at(f, 'sumDyXc', cb)),
        F32.mul(f.get('u'), F32.sub(F32.load(at(f, 'x', row, cb)), F32.load(at(f, 'mean', cb))))));
    });
  });

  m.fn('channelAffine', [['x', i32], ['y', i32], ['rows', i32], ['c', i32], ['scale', i32], ['shift', i32]], (f) => {
    channelLoop(f, 'rows',
      (row, cb) => f.storeV128(at(f, 'y', row, cb), V128.addF32(
        V128.mulF32(V128.load(at(f, 'x', row, cb)), V128.load(at(f, 'scale', cb))), V128.load(at(f, 'shift', cb)))),
      (row, cb) => f.storeF32(at(f, 'y', row, cb), F32.add(
        F32.mul(F32.load(at(f, 'x', row, cb)), F32.load(at(f, 'scale', cb))), F32.load(at(f, 'shift', cb)))));
  });

  m.fn('channelAffine2', [
    ['dy', i32], ['x', i32], ['dx', i32], ['rows', i32], ['c', i32], ['a', i32], ['b', i32], ['mean', i32], ['d', i32],
  ], (f) => {
    channelLoop(f, 'rows',
      (row, cb) => f.storeV128(at(f, 'dx', row, cb), V128.addF32(V128.addF32(
        V128.mulF32(V128.load(at(f, 'dy', row, cb)), V128.load(at(f, 'a', cb))),
        V128.mulF32(V128.subF32(V128.load(at(f, 'x', row, cb)), V128.load(at(f, 'mean', cb))), V128.load(at(f, 'b', cb)))),
      V128.load(at(f, 'd', cb)))),
      (row, cb) => f.storeF32(at(f, 'dx', row, cb), F32.add(F32.add(
        F32.mul(F32.load(at(f, 'dy', row, cb)), F32.load(at(f, 'a', cb))),
        F32.mul(F32.sub(F32.load(at(f, 'x', row, cb)), F32.load(at(f, 'mean', cb))), F32.load(at(f, 'b', cb)))),
      F32.load(at(f, 'd', cb)))));
  });

  m.fn('reluGrad', [['dy', i32], ['x', i32], ['dx', i32], ['n', i32]], (f) => {
    f.locals({ o: i32, end: i32, end4: i32 });
    const g = (n: string) => f.get(n);
    f.set('end', I32.shl(g('n'), I32.c(2)));
    f.set('end4', I32.and(g('end'), I32.c(~15)));
    f.loop('o', I32.c(0), g('end4'), I32.c(16), () => {
      f.storeV128(at(f, 'dx', g('o')), V128.select(V128.load(at(f, 'dy', g('o'))), V128.zero(),
        V128.gtF32(V128.load(at(f, 'x', g('o'))), V128.zero())));
    });
    f.loop('o', g('end4'), g('end'), I32.c(4), () => {
      f.when(F32.gt(F32.load(at(f, 'x', g('o'))), F32.c(0)),
        () => f.storeF32(at(f, 'dx', g('o')), F32.load(at(f, 'dy', g('o')))),
        () => f.storeF32(at(f, 'dx', g('o')), F32.c(0)));
    });
  });

  m.fn('maxPoolGrad', [
    ['dx', i32], ['x', i32], ['y', i32], ['dy', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32],
    ['ho', i32], ['wo', i32], ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['pT', i32], ['pL', i32],
  ], (f) => {
    f.locals({
      bi: i32, oh: i32, ow: i32, kh0: i32, kh1: i32, kw0: i32, kw1: i32, rh: i32, rw: i32, ih: i32, iw: i32,
      cBytes: i32, inImg: i32, outPix: i32, pixOff: i32, cb: i32, cend: i32, c4: i32, pos: i32, addr: i32,
      yv: 'v128', idx: 'v128', dv: 'v128', yf: 'f32',
    });
    const g = (n: string) => f.get(n);
    f.set('cBytes', I32.shl(g('c'), I32.c(2)));
    f.set('c4', I32.and(g('cBytes'), I32.c(~15)));
    f.set('outPix', I32.c(0));
    // Scans the window backwards so the first tap in row-major order wins,
    // the tie rule of tfjs's cpu MaxPoolGrad (first strict maximum).
    const scanBack = (body: () => void) => {
      f.loop('rh', I32.c(0), I32.sub(g('kh1'), g('kh0')), I32.c(1), () => {
        f.set('ih', I32.sub(I32.add(I32.mul(g('oh'), g('sh')), I32.sub(I32.sub(g('kh1'), I32.c(1)), g('rh'))), g('pT')));
        f.loop('rw', I32.c(0), I32.sub(g('kw1'), g('kw0')), I32.c(1), () => {
          f.set('iw', I32.sub(I32.add(I32.mul(g('ow'), g('sw')), I32.sub(I32.sub(g('kw1'), I32.c(1)), g('rw'))), g('pL')));
          f.set('pixOff', I32.add(g('inImg'), I32.mul(I32.add(I32.mul(g('ih'), g('w')), g('iw')), g('cBytes'))));
          body();
        });
      });
    };
    f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
      f.set('inImg', I32.mul(I32.mul(g('bi'), I32.mul(g('h'), g('w'))), g('cBytes')));
      f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
        f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
        f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
        f.loop('ow', I32.c(0), g('wo'), I32.c(1), () => {
          const colBase = I32.add(I32.shl(g('ho'), I32.c(1)), g('ow'));
          f.set('kw0', I32.load(I32.add(g('tables'), I32.shl(colBase, I32.c(2)))));
          f.set('kw1', I32.load(I32.add(g('tables'), I32.shl(I32.add(colBase, g('wo')), I32.c(2)))));
          f.loop('cb', I32.c(0), g('c4'), I32.c(16), () => {
            f.set('yv', V128.load(I32.add(g('y'), I32.add(g('outPix'), g('cb')))));
            f.set('idx', V128.splatI32(I32.c(-1)));
            scanBack(() => {
              f.set('idx', V128.select(
                V128.splatI32(g('pixOff')), g('idx'),
                V128.eqF32(V128.load(I32.add(g('x'), I32.add(g('pixOff'), g('cb')))), g('yv'))));
            });
            f.set('dv', V128.load(I32.add(g('dy'), I32.add(g('outPix'), g('cb')))));
            for (let lane = 0; lane < 4; lane++) {
              f.set('pos', V128.laneI32(g('idx'), lane));
              f.when(I32.ge(g('pos'), I32.c(0)), () => {
                f.set('addr', I32.add(g('dx'), I32.add(g('pos'), I32.add(g('cb'), I32.c(lane * 4)))));
                f.storeF32(g('addr'), F32.add(F32.load(g('addr')), V128.laneF32(g('dv'), lane)));
              });
            }
          });
          f.loop('cb', g('c4'), g('cBytes'), I32.c(4), () => {
            f.set('yf', F32.load(I32.add(g('y'), I32.add(g('outPix'), g('cb')))));
            f.set('pos', I32.c(-1));
            scanBack(() => {
              f.when(F32.eq(F32.load(I32.add(g('x'), I32.add(g('pixOff'), g('cb')))), g('yf')), () => {
                f.set('pos', g('pixOff'));
              });
            });
            f.when(I32.ge(g('pos'), I32.c(0)), () => {
              f.set('addr', I32.add(g('dx'), I32.add(g('pos'), g('cb'))));
              f.storeF32(g('addr'), F32.add(F32.load(g('addr')),
                F32.load(I32.add(g('dy'), I32.add(g('outPix'), g('cb'))))));
            });
          });
          f.inc('outPix', g('cBytes'));
        });
      });
    });
  });

  return m.build();
}

let compiled: object | null = null;
const instances = new WeakMap<WasmMemory, SimdPrograms>();

/** The SIMD programs bound to `memory` (compiled once per process). */
export function simdPrograms(memory: WasmMemory): SimdPrograms {
  let programs = instances.get(memory);
  if (!programs) {
    compiled ??= new wasmApi.Module(buildModule());
    const instance = new wasmApi.Instance(compiled, { env: { memory } });
    programs = instance.exports as unknown as SimdPrograms;
    instances.set(memory, programs);
  }
  return programs;
}

/** Exposed for tests: the assembled module's bytes. */
export function simdModuleBytes(): Uint8Array {
  return buildModule();
}
