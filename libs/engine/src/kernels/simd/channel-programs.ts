/**
 * SIMD per-channel loops of batch normalisation (sums, deviations, dots,
 * affine maps) and the elementwise ReLU gradient, over channels-last
 * tensors [rows, c].
 */
import { F32, I32, V128, type Expr, type FunctionBuilder, type ModuleBuilder } from './wasm-builder.js';
import { i32 } from './loops.js';

/** Adds channelSum, channelSquaredDeviation, channelDots, channelAffine, channelAffine2, relu, addArrays and reluGrad. */
export function addChannelPrograms(m: ModuleBuilder): void {
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

  // Elementwise loops over n floats: four lanes at a time, then one at a time.
  // `o` is the byte offset of the current element in every array.
  const elementwise = (f: FunctionBuilder, vec: (o: Expr) => void, scalar: (o: Expr) => void) => {
    f.locals({ o: i32, end: i32, end4: i32 });
    const g = (n: string) => f.get(n);
    f.set('end', I32.shl(g('n'), I32.c(2)));
    f.set('end4', I32.and(g('end'), I32.c(~15)));
    f.loop('o', I32.c(0), g('end4'), I32.c(16), () => vec(g('o')));
    f.loop('o', g('end4'), g('end'), I32.c(4), () => scalar(g('o')));
  };

  m.fn('relu', [['x', i32], ['y', i32], ['n', i32]], (f) => {
    elementwise(f,
      (o) => f.storeV128(at(f, 'y', o), V128.maxF32(V128.load(at(f, 'x', o)), V128.zero())),
      (o) => f.storeF32(at(f, 'y', o), F32.max(F32.load(at(f, 'x', o)), F32.c(0))));
  });

  m.fn('addArrays', [['a', i32], ['b', i32], ['out', i32], ['n', i32]], (f) => {
    elementwise(f,
      (o) => f.storeV128(at(f, 'out', o), V128.addF32(V128.load(at(f, 'a', o)), V128.load(at(f, 'b', o)))),
      (o) => f.storeF32(at(f, 'out', o), F32.add(F32.load(at(f, 'a', o)), F32.load(at(f, 'b', o)))));
  });

  m.fn('reluGrad', [['dy', i32], ['x', i32], ['dx', i32], ['n', i32]], (f) => {
    elementwise(f,
      (o) => f.storeV128(at(f, 'dx', o), V128.select(V128.load(at(f, 'dy', o)), V128.zero(), V128.gtF32(V128.load(at(f, 'x', o)), V128.zero()))),
      (o) => f.when(F32.gt(F32.load(at(f, 'x', o)), F32.c(0)),
        () => f.storeF32(at(f, 'dx', o), F32.load(at(f, 'dy', o))),
        () => f.storeF32(at(f, 'dx', o), F32.c(0))));
  });
}
