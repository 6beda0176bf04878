/**
 * Loop builders the SIMD program families share (see programs.ts for the
 * window-loop convention).
 */
import { F32, I32, V128, type Expr, type FunctionBuilder } from './wasm-builder.js';

export const i32 = 'i32' as const;

/** `a[c] += term(c)` for c in 0..n floats, 16 then 4 lanes at a time, then scalar. */
export function accumulate(
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

/**
 * Runs `pixel` for every output pixel: loops `bi` over n, `oh` over ho and
 * `ow` over wo, with `inImg` set per image and the row taps (`kh0`, `kh1`)
 * per output row.
 */
export function outputPixelLoops(f: FunctionBuilder, pixel: () => void): void {
  const g = (n: string) => f.get(n);
  f.loop('bi', I32.c(0), g('n'), I32.c(1), () => {
    setImageOffset(f);
    f.loop('oh', I32.c(0), g('ho'), I32.c(1), () => {
      setRowTaps(f);
      f.loop('ow', I32.c(0), g('wo'), I32.c(1), pixel);
    });
  });
}

/** inImg = byte offset of image `bi` of an NHWC input `h` x `w` with `cBytes` bytes per pixel. */
function setImageOffset(f: FunctionBuilder): void {
  const g = (n: string) => f.get(n);
  f.set('inImg', I32.mul(I32.mul(g('bi'), I32.mul(g('h'), g('w'))), g('cBytes')));
}

/** kh0, kh1 = the valid filter rows of output row `oh`: `tables[oh]`, `tables[ho + oh]`. */
export function setRowTaps(f: FunctionBuilder): void {
  const g = (n: string) => f.get(n);
  f.set('kh0', I32.load(I32.add(g('tables'), I32.shl(g('oh'), I32.c(2)))));
  f.set('kh1', I32.load(I32.add(g('tables'), I32.shl(I32.add(g('ho'), g('oh')), I32.c(2)))));
}

/** kw0, kw1 = the valid filter columns of output column `ow`: `tables[2*ho + ow]`, `tables[2*ho + wo + ow]`. */
export function setColumnTaps(f: FunctionBuilder): void {
  const g = (n: string) => f.get(n);
  const colBase = I32.add(I32.shl(g('ho'), I32.c(1)), g('ow'));
  f.set('kw0', I32.load(I32.add(g('tables'), I32.shl(colBase, I32.c(2)))));
  f.set('kw1', I32.load(I32.add(g('tables'), I32.shl(I32.add(colBase, g('wo')), I32.c(2)))));
}

export const WINDOW_PARAMS = [
  ['a', i32], ['b', i32], ['d', i32], ['tables', i32], ['n', i32], ['h', i32], ['w', i32], ['ho', i32], ['wo', i32],
  ['c', i32], ['kw', i32], ['sh', i32], ['sw', i32], ['dh', i32], ['dw', i32], ['pT', i32], ['pL', i32],
] as const;

/**
 * Loops over every (batch, output pixel, valid tap) and calls `inner` with
 * locals `inPix` (byte offset of the input pixel inside the batch),
 * `tapOff` (byte offset of the tap in a [kh][kw][c] filter) and `dPix`
 * (byte address of the output pixel in `d`).
 */
export function windowLoops(f: FunctionBuilder, perPixel: (() => void) | null, inner: () => void): void {
  f.locals({
    bi: i32, oh: i32, ow: i32, kh: i32, kwi: i32, kh0: i32, kh1: i32, kw0: i32, kw1: i32,
    inImg: i32, inPix: i32, tapOff: i32, dPix: i32, cBytes: i32, ih: i32, iw: i32,
  });
  const g = (n: string) => f.get(n);
  f.set('cBytes', I32.shl(g('c'), I32.c(2)));
  f.set('dPix', g('d'));
  outputPixelLoops(f, () => {
    setColumnTaps(f);
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
}

/**
 * Copies `run` bytes from address `s` to `d` (locals of `f`, with `k`,
 * `run64`, `run16`, `run4`): 64 bytes per turn as four vectors, then 16,
 * 4 and 1. The loop bounds are byte counts inside the run, never
 * addresses: the heap passes 2 GiB during training, where a signed
 * compare of addresses would fail.
 */
export function copyRun(f: FunctionBuilder): void {
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
