/**
 * SIMD loops of the fused optimizer step (NasnetClippedSgdStep.ts). Every
 * f32 product and sum rounds as the composed tfjs ops round them (wasm has
 * no fused multiply-add here); the squares of the global norm are summed in
 * float64.
 */
import { F32, I32, V128, type Expr, type FunctionBuilder, type ModuleBuilder } from './wasm-builder.js';
import { i32 } from './loops.js';

/** Adds sgdTotals and sgdUpdate: 4 floats at a time, then one at a time for the last n % 4. */
export function addOptimizerPrograms(m: ModuleBuilder): void {
  const at = (f: FunctionBuilder, base: string): Expr => I32.add(f.get(base), f.get('b'));

  // t = decay ? g + w * wd : g; sums (two f64, 16-byte aligned) += the f32 squares of t.
  m.fn('sgdTotals', [['g', i32], ['w', i32], ['t', i32], ['n', i32], ['wd', 'f32'], ['decay', i32], ['sums', i32]], (f) => {
    f.locals({ b: i32, end: i32, end4: i32, x: 'v128', sq: 'v128', lo: 'v128', hi: 'v128', wdv: 'v128', xs: 'f32' });
    const g = (n: string) => f.get(n);
    f.set('wdv', V128.splatF32(g('wd')));
    f.set('lo', V128.zero());
    f.set('hi', V128.zero());
    f.set('end', I32.shl(g('n'), I32.c(2)));
    f.set('end4', I32.and(g('end'), I32.c(~15)));
    f.loop('b', I32.c(0), g('end4'), I32.c(16), () => {
      f.set('x', V128.load(at(f, 'g')));
      f.when(g('decay'), () => f.set('x', V128.addF32(g('x'), V128.mulF32(V128.load(at(f, 'w')), g('wdv')))));
      f.storeV128(at(f, 't'), g('x'));
      f.set('sq', V128.mulF32(g('x'), g('x')));
      f.set('lo', V128.addF64(g('lo'), V128.promoteLowF32(g('sq'))));
      f.set('hi', V128.addF64(g('hi'), V128.promoteLowF32(V128.shuffle32(g('sq'), g('sq'), [2, 3, 2, 3]))));
    });
    // The last n % 4: each square goes to the float64 sums as lane 0 of an otherwise zero vector.
    f.loop('b', g('end4'), g('end'), I32.c(4), () => {
      f.set('xs', F32.load(at(f, 'g')));
      f.when(g('decay'), () => f.set('xs', F32.add(g('xs'), F32.mul(F32.load(at(f, 'w')), g('wd')))));
      f.storeF32(at(f, 't'), g('xs'));
      f.set('lo', V128.addF64(g('lo'), V128.promoteLowF32(V128.replaceLaneF32(V128.zero(), 0, F32.mul(g('xs'), g('xs'))))));
    });
    f.storeV128(g('sums'), V128.addF64(V128.load(g('sums')), V128.addF64(g('lo'), g('hi'))));
  });

  // v = m * mu + t * scale, stored over t; out = w - v * lr.
  m.fn('sgdUpdate', [['t', i32], ['m', i32], ['w', i32], ['out', i32], ['n', i32], ['scale', 'f32'], ['mu', 'f32'], ['lr', 'f32']], (f) => {
    f.locals({ b: i32, end: i32, end4: i32, v: 'v128', sv: 'v128', muv: 'v128', lrv: 'v128', vs: 'f32' });
    const g = (n: string) => f.get(n);
    f.set('sv', V128.splatF32(g('scale')));
    f.set('muv', V128.splatF32(g('mu')));
    f.set('lrv', V128.splatF32(g('lr')));
    f.set('end', I32.shl(g('n'), I32.c(2)));
    f.set('end4', I32.and(g('end'), I32.c(~15)));
    f.loop('b', I32.c(0), g('end4'), I32.c(16), () => {
      f.set('v', V128.addF32(V128.mulF32(V128.load(at(f, 'm')), g('muv')), V128.mulF32(V128.load(at(f, 't')), g('sv'))));
      f.storeV128(at(f, 't'), g('v'));
      f.storeV128(at(f, 'out'), V128.subF32(V128.load(at(f, 'w')), V128.mulF32(g('v'), g('lrv'))));
    });
    f.loop('b', g('end4'), g('end'), I32.c(4), () => {
      f.set('vs', F32.add(F32.mul(F32.load(at(f, 'm')), g('mu')), F32.mul(F32.load(at(f, 't')), g('scale'))));
      f.storeF32(at(f, 't'), g('vs'));
      f.storeF32(at(f, 'out'), F32.sub(F32.load(at(f, 'w')), F32.mul(g('vs'), g('lr'))));
    });
  });
}
