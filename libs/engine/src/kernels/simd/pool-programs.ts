/**
 * SIMD pooling gradients: average pool over the shared window loops, max
 * pool routing dy to the first tap that matches (see programs.ts for the
 * window-loop convention).
 */
import { F32, I32, V128, type ModuleBuilder } from './wasm-builder.js';
import { accumulate, i32, outputPixelLoops, setColumnTaps, WINDOW_PARAMS, windowLoops } from './loops.js';

/** Adds avgPoolGrad. */
export function addAvgPoolGrad(m: ModuleBuilder): void {
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
}

/** Adds maxPoolGrad. */
export function addMaxPoolGrad(m: ModuleBuilder): void {
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
    outputPixelLoops(f, () => {
      setColumnTaps(f);
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
}
