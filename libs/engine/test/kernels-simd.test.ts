/**
 * The hand-assembled SIMD module on its own memory (no tfjs): encoding,
 * validation, and a few programs checked against plain JS loops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { simdModuleBytes, simdPrograms } from '../src/kernels/simd/programs.js';
import { sleb, uleb } from '../src/kernels/simd/wasm-builder.js';
import { wasmApi } from '../src/kernels/simd/webassembly.js';

test('wasm builder - LEB128 encodings match the spec examples', () => {
  assert.deepEqual(uleb(0), [0x00]);
  assert.deepEqual(uleb(127), [0x7f]);
  assert.deepEqual(uleb(128), [0x80, 0x01]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  assert.deepEqual(sleb(-64), [0x40]);
  assert.deepEqual(sleb(-65), [0xbf, 0x7f]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
});

test('wasm builder - the assembled module validates and exports every program', () => {
  const bytes = simdModuleBytes();
  assert.ok(wasmApi.validate(bytes), 'WebAssembly.validate rejected the module');
  const programs = simdPrograms(new wasmApi.Memory({ initial: 1 }));
  for (const name of ['copyRuns', 'zeroBytes', 'interleaveRuns', 'pointwiseFilterGrad', 'pointwiseConv', 'dwForwardInterior', 'transpose', 'im2colTap', 'col2im', 'dwFilterGrad', 'dwInputGrad', 'dwForward', 'avgPoolGrad',
    'maxPoolGrad', 'channelSum', 'channelSquaredDeviation', 'channelDots', 'channelAffine', 'channelAffine2', 'relu', 'addArrays', 'reluGrad']) {
    assert.equal(typeof (programs as unknown as Record<string, unknown>)[name], 'function', name);
  }
});

test('simd programs - transpose handles sizes that are not multiples of 4', () => {
  const memory = new wasmApi.Memory({ initial: 4 });
  const p = simdPrograms(memory);
  const heap = new Float32Array(memory.buffer);
  for (const [rows, cols] of [[7, 9], [4, 4], [1, 13], [13, 1], [8, 12]]) {
    for (let i = 0; i < rows * cols; i++) heap[i] = i + 0.5;
    heap.fill(-1, 4096, 4096 + rows * cols + 4);
    p.transpose(0, 4096 * 4, rows, cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) assert.equal(heap[4096 + c * rows + r], r * cols + c + 0.5, `${rows}x${cols} at ${r},${c}`);
    }
    assert.equal(heap[4096 + rows * cols], -1, `${rows}x${cols}: wrote past the end`);
  }
});

test('simd programs - copyRuns moves two strided levels of runs of any byte length, and nothing else', () => {
  const memory = new wasmApi.Memory({ initial: 1 });
  const p = simdPrograms(memory);
  const heap = new Uint8Array(memory.buffer);
  assert.equal(heap.length, 65536);
  // Run lengths hit the 64-, 16-, 4- and 1-byte loops; odd addresses and strides.
  for (const [run, n1, n2] of [[1, 3, 2], [5, 4, 3], [21, 2, 2], [64, 3, 1], [135, 2, 3], [0, 3, 3]]) {
    const src = 3, ss1 = run + 7, ss2 = n1 * ss1 + 11;
    const dst = 40001, ds1 = run + 2, ds2 = n1 * ds1 + 5;
    for (let i = 0; i < 40000; i++) heap[i] = (i * 7 + 1) & 255;
    heap.fill(0xee, 40000, 65536);
    p.copyRuns(src, dst, run, n1, ss1, ds1, n2, ss2, ds2);
    const expected = new Uint8Array(65536 - 40000).fill(0xee);
    for (let i2 = 0; i2 < n2; i2++) {
      for (let i1 = 0; i1 < n1; i1++) {
        for (let k = 0; k < run; k++) expected[dst - 40000 + i2 * ds2 + i1 * ds1 + k] = heap[src + i2 * ss2 + i1 * ss1 + k] as number;
      }
    }
    assert.deepEqual(heap.subarray(40000), expected, `run ${run} x ${n1} x ${n2}`);
  }
});

test('simd programs - per-channel sums, affine and ReLU gradient match JS, 16/4/1-lane tails included', () => {
  const memory = new wasmApi.Memory({ initial: 4 });
  const p = simdPrograms(memory);
  const heap = new Float32Array(memory.buffer);
  const rng = new Rng(99);
  for (const c of [3, 4, 20, 37]) {
    const rows = 11;
    const x = 0, sums = rows * c, scale = sums + 64, shift = scale + 64, y = shift + 64;
    for (let i = 0; i < rows * c; i++) heap[x + i] = rng.normal();
    for (let i = 0; i < c; i++) { heap[scale + i] = rng.normal(); heap[shift + i] = rng.normal(); }
    heap.fill(0, sums, sums + c);
    p.channelSum(x * 4, rows, c, sums * 4);
    p.channelAffine(x * 4, y * 4, rows, c, scale * 4, shift * 4);
    for (let ch = 0; ch < c; ch++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += heap[x + r * c + ch];
      assert.ok(Math.abs(heap[sums + ch] - s) <= 1e-5 * Math.max(1, Math.abs(s)), `c=${c} sum[${ch}]`);
      for (let r = 0; r < rows; r++) {
        const want = Math.fround(Math.fround(heap[x + r * c + ch] * heap[scale + ch]) + heap[shift + ch]);
        assert.equal(heap[y + r * c + ch], want, `c=${c} affine[${r},${ch}]`);
      }
    }
  }
  const n = 23, dy = 0, x = 32, dx = 64;
  for (let i = 0; i < n; i++) { heap[dy + i] = i + 1; heap[x + i] = [-1, 0, 2][i % 3]; }
  p.reluGrad(dy * 4, x * 4, dx * 4, n);
  for (let i = 0; i < n; i++) assert.equal(heap[dx + i], i % 3 === 2 ? i + 1 : 0, `relu grad ${i}`);
});

test('simd programs - zeroBytes clears exactly the bytes asked for, at any alignment and length', () => {
  const memory = new wasmApi.Memory({ initial: 1 });
  const p = simdPrograms(memory);
  const heap = new Uint8Array(memory.buffer);
  for (const [at, bytes] of [[0, 0], [1, 1], [3, 17], [64, 4096], [4097, 333]]) {
    heap.fill(0xab);
    p.zeroBytes(at, bytes);
    for (let i = 0; i < 8192; i++) assert.equal(heap[i], i >= at && i < at + bytes ? 0 : 0xab, `zeroBytes(${at}, ${bytes}) at byte ${i}`);
  }
});
