/**
 * SIMD loops of the im2col lowering of convolutions: transpose, one filter
 * tap's rows of a column matrix, and col2im's scatter-add back (see
 * programs.ts for the window-loop convention).
 */
import { F32, I32, V128, type Expr, type ModuleBuilder } from './wasm-builder.js';
import { accumulate, i32, windowLoops } from './loops.js';

/** Adds transpose, im2colTap and col2im. */
export function addIm2colPrograms(m: ModuleBuilder): void {
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
}
