/**
 * SIMD depthwise convolution (multiplier 1): forward over the border and
 * over the bound-free interior, and both gradients (see programs.ts for the
 * window-loop convention).
 */
import { F32, I32, V128, type ModuleBuilder } from './wasm-builder.js';
import { i32, outputPixelLoops, setColumnTaps, setRowTaps } from './loops.js';

/** Adds dwFilterGrad, dwInputGrad, dwForward and dwForwardInterior. */
export function addDepthwisePrograms(m: ModuleBuilder): void {
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
          setRowTaps(f);
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
      setColumnTaps(f);
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
    outputPixelLoops(f, () => {
      // Jump over the interior box's columns on its rows.
      f.when(I32.and(I32.eq(g('ow'), g('owA')), I32.and(I32.ge(g('oh'), g('ohA')), I32.lt(g('oh'), g('ohB')))), () => {
        f.inc('outPix', I32.mul(I32.sub(g('owB'), g('owA')), g('cBytes')));
        f.set('ow', g('owB'));
      });
      f.when(I32.lt(g('ow'), g('wo')), pixel);
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
}
