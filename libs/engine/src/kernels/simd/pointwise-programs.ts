/**
 * SIMD pointwise (1x1, stride 1) convolution and its filter gradient, in
 * register tiles (see programs.ts for the conventions).
 */
import { I32, V128, type Expr, type ModuleBuilder } from './wasm-builder.js';
import { i32 } from './loops.js';

/** Adds pointwiseFilterGrad and pointwiseConv. */
export function addPointwisePrograms(m: ModuleBuilder): void {
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
}
