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
   * time; `out` need not be zeroed.
   */
  dwForward(
    out: number, x: number, filter: number, tables: number, n: number, h: number, w: number, ho: number, wo: number,
    c: number, kw: number, sh: number, sw: number, dh: number, dw: number, pT: number, pL: number,
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

function buildModule(): Uint8Array {
  const m = new ModuleBuilder();

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
            f.set('t', I32.add(g('row'), I32.shl(g('wo0'), I32.c(2))));
            f.set('e', I32.add(g('row'), I32.shl(g('wo1'), I32.c(2))));
            f.set('s', I32.add(g('s'), I32.shl(g('wo0'), I32.c(2))));
            f.whileLt(I32.add(g('t'), I32.c(12)), g('e'), () => {
              f.storeV128(g('t'), V128.load(g('s')));
              f.inc('t', I32.c(16)); f.inc('s', I32.c(16));
            });
            f.whileLt(g('t'), g('e'), () => {
              f.storeF32(g('t'), F32.load(g('s')));
              f.inc('t', I32.c(4)); f.inc('s', I32.c(4));
            });
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
    f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
      f.set('inImg', I32.mul(I32.mul(g('bi'), I32.mul(g('h'), g('w'))), g('cBytes')));
      f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
        f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
        f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
        f.loop('ow', I32.c(0), g('wo'), I32.c(1), () => {
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
