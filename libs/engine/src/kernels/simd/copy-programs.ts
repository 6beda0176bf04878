/**
 * SIMD copy loops: whole channel runs for Slice, Concat, Pad and Split (see
 * programs.ts for the conventions).
 */
import { I32, type ModuleBuilder } from './wasm-builder.js';
import { copyRun, i32 } from './loops.js';

/** Adds copyRuns and interleaveRuns. */
export function addCopyPrograms(m: ModuleBuilder): void {
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

  // V8 fills a typed array over a SharedArrayBuffer (the threaded build's heap) element by element,
  // about 4x slower than over an ArrayBuffer; memory.fill is one memset either way.
  m.fn('zeroBytes', [['dst', i32], ['bytes', i32]], (f) => {
    f.memoryFill(f.get('dst'), I32.c(0), f.get('bytes'));
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
}
