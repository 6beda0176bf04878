/**
 * Our wasm data-movement kernels (Slice, SplitV, Concat, PadV2, Identity,
 * Cast) against tfjs's cpu backend on the same inputs: every axis, odd
 * sizes, batch 1, ranks 1 to 5 (rank 5 takes the copy's outer JavaScript
 * levels), float32, int32 and bool, and copies big enough to be cut over
 * the kernel threads. Copies are exact: results must be equal.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@nasnet/random';
import { initBackend } from '../src/index.js';
import { planCopy, rowMajorStrides } from '../src/kernels/copy-region.js';

const quiet = { log: () => {} };
const rng = new Rng(20170721);

before(async () => {
  await initBackend('cpu', quiet);
  // Two kernel threads on any machine: big copies are cut over them (see 'threads' below).
  await initBackend('wasm', { ...quiet, threads: 2 });
});

type Dtype = 'float32' | 'int32' | 'bool';

function values(shape: readonly number[], dtype: Dtype): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => (dtype === 'float32' ? rng.normal() : dtype === 'int32' ? rng.int(2001) - 1000 : rng.int(2)));
}

/** Runs `build` on a backend and returns every output's shape, dtype and values (-0 read as 0). */
async function on(backend: 'cpu' | 'wasm', build: () => tf.Tensor | tf.Tensor[]): Promise<Array<{ shape: number[]; dtype: string; values: number[] }>> {
  await tf.setBackend(backend);
  const out = tf.tidy(build);
  const list = Array.isArray(out) ? out : [out];
  const result = [];
  for (const t of list) result.push({ shape: t.shape, dtype: t.dtype, values: Array.from(await t.data() as ArrayLike<number>, (v) => (v === 0 ? 0 : v)) });
  tf.dispose(list);
  return result;
}

async function sameOnBoth(label: string, build: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const cpu = await on('cpu', build);
  const wasm = await on('wasm', build);
  assert.deepEqual(wasm, cpu, label);
}

test('copy plan - an NHWC channel slice is one level of runs, a spatial slice two, a whole tensor one run', () => {
  const shape = [2, 5, 7, 12];
  const strides = rowMajorStrides(shape);
  assert.deepEqual(strides, [420, 84, 12, 1]);
  const channels = [2, 5, 7, 3];
  assert.deepEqual(planCopy(channels, strides, rowMajorStrides(channels), 4),
    { runBytes: 12, levels: [{ count: 70, src: 48, dst: 12 }] });
  const spatial = [2, 3, 4, 12];
  assert.deepEqual(planCopy(spatial, strides, rowMajorStrides(spatial), 4),
    { runBytes: 192, levels: [{ count: 3, src: 336, dst: 192 }, { count: 2, src: 1680, dst: 576 }] });
  assert.deepEqual(planCopy(shape, strides, strides, 1), { runBytes: 840, levels: [] });
  // Axes of size 1 drop out wherever they are.
  assert.deepEqual(planCopy([1, 5, 1, 3], [420, 84, 12, 1], [15, 3, 3, 1], 4),
    { runBytes: 12, levels: [{ count: 5, src: 336, dst: 12 }] });
});

const SLICE_CASES: Array<{ label: string; shape: number[]; begin: number[]; size: number[] }> = [
  { label: 'NHWC channel slice', shape: [2, 5, 7, 12], begin: [0, 0, 0, 4], size: [-1, -1, -1, 5] },
  { label: 'NHWC spatial crop (factorized reduction shift)', shape: [3, 9, 9, 6], begin: [0, 1, 1, 0], size: [-1, 8, 8, -1] },
  { label: 'batch slice, batch 1 out', shape: [4, 3, 5, 2], begin: [2, 0, 0, 0], size: [1, -1, -1, -1] },
  { label: 'every axis of rank 4, batch 1', shape: [1, 6, 7, 9], begin: [0, 2, 1, 3], size: [1, 3, 5, 4] },
  { label: 'rank 5, every axis (outer levels in JS)', shape: [3, 4, 5, 6, 7], begin: [1, 1, 2, 1, 2], size: [2, 2, 3, 4, 3] },
  { label: 'rank 1', shape: [37], begin: [5], size: [19] },
  { label: 'rank 2, columns', shape: [9, 13], begin: [2, 3], size: [5, 7] },
  { label: 'rank 3, middle axis', shape: [3, 11, 5], begin: [0, 4, 0], size: [-1, 6, -1] },
  { label: 'empty box', shape: [3, 4, 5], begin: [1, 2, 0], size: [2, 0, 5] },
];

for (const c of SLICE_CASES) {
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    test(`slice - matches cpu: ${c.label}, ${dtype}`, async () => {
      const v = values(c.shape, dtype);
      await sameOnBoth(c.label, () => tf.slice(tf.tensor(v, c.shape, dtype), c.begin, c.size));
    });
  }
}

const CONCAT_CASES: Array<{ label: string; shapes: number[][]; axis: number }> = [
  { label: 'NHWC channels, six inputs (NASNet cell output)', shapes: [[2, 5, 7, 4], [2, 5, 7, 4], [2, 5, 7, 3], [2, 5, 7, 4], [2, 5, 7, 1], [2, 5, 7, 4]], axis: 3 },
  { label: 'width', shapes: [[2, 3, 4, 5], [2, 3, 1, 5], [2, 3, 6, 5]], axis: 2 },
  { label: 'height, batch 1', shapes: [[1, 2, 5, 3], [1, 7, 5, 3]], axis: 1 },
  { label: 'batch', shapes: [[1, 3, 3, 2], [3, 3, 3, 2]], axis: 0 },
  { label: 'axis -1 with an empty input', shapes: [[2, 3, 4], [2, 3, 0], [2, 3, 5]], axis: -1 },
  { label: 'rank 1', shapes: [[5], [9], [1]], axis: 0 },
  { label: 'rank 5, middle axis', shapes: [[2, 3, 2, 3, 2], [2, 3, 4, 3, 2]], axis: 2 },
];

for (const c of CONCAT_CASES) {
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    test(`concat - matches cpu: ${c.label}, ${dtype}`, async () => {
      const vs = c.shapes.map((s) => values(s, dtype));
      await sameOnBoth(c.label, () => tf.concat(vs.map((v, i) => tf.tensor(v, c.shapes[i], dtype)), c.axis));
    });
  }
}

test('concat - one non-empty input comes back without a copy', async () => {
  await tf.setBackend('wasm');
  const v = values([2, 3], 'float32');
  const x = tf.tensor(v, [2, 3]);
  const y = tf.engine().runKernel('Concat', [x, tf.zeros([0, 3])] as unknown as tf.NamedTensorMap, { axis: 0 }) as tf.Tensor;
  assert.equal(y.dataId, x.dataId);
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), Array.from(Float32Array.from(v)), 'the result outlives its input');
  y.dispose();
});

const SPLIT_CASES: Array<{ label: string; shape: number[]; splits: number | number[]; axis: number }> = [
  { label: 'NHWC channels into sizes 4, 1, 3, 4 (concat gradient)', shape: [2, 5, 7, 12], splits: [4, 1, 3, 4], axis: 3 },
  { label: 'height into 3 equal parts, batch 1', shape: [1, 9, 4, 3], splits: 3, axis: 1 },
  { label: 'batch', shape: [4, 3, 2, 5], splits: [1, 3], axis: 0 },
  { label: 'rank 2, axis -1', shape: [6, 10], splits: [7, 3], axis: -1 },
];

for (const c of SPLIT_CASES) {
  for (const dtype of ['float32', 'int32'] as const) {
    test(`splitV - matches cpu: ${c.label}, ${dtype}`, async () => {
      const v = values(c.shape, dtype);
      await sameOnBoth(c.label, () => tf.split(tf.tensor(v, c.shape, dtype), c.splits, c.axis));
    });
  }
}

const PAD_CASES: Array<{ label: string; shape: number[]; paddings: Array<[number, number]>; value: number }> = [
  { label: 'NHWC one row and column after (factorized reduction)', shape: [2, 8, 8, 5], paddings: [[0, 0], [0, 1], [0, 1], [0, 0]], value: 0 },
  { label: 'NHWC same-pool border, batch 1', shape: [1, 7, 5, 3], paddings: [[0, 0], [1, 1], [2, 1], [0, 0]], value: 0 },
  { label: 'every axis, constant 2.5', shape: [2, 3, 4, 5], paddings: [[1, 0], [0, 2], [1, 1], [3, 2]], value: 2.5 },
  { label: 'rank 5, every axis', shape: [2, 2, 3, 2, 3], paddings: [[1, 1], [0, 1], [1, 0], [2, 0], [0, 2]], value: -1 },
  { label: 'rank 1', shape: [6], paddings: [[3, 4]], value: 7 },
];

for (const c of PAD_CASES) {
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    test(`padV2 - matches cpu: ${c.label}, ${dtype}`, async () => {
      const v = values(c.shape, dtype);
      await sameOnBoth(c.label, () => tf.pad(tf.tensor(v, c.shape, dtype), c.paddings, dtype === 'bool' ? 1 : c.value));
    });
  }
}

test('identity - a clone shares its input\'s data, which lives until both are disposed', async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as BackendWasm;
  const before = backend.numDataIds();
  const v = values([3, 4, 5], 'float32');
  const x = tf.tensor(v, [3, 4, 5]);
  const y = tf.clone(x);
  assert.equal(y.dataId, x.dataId, 'the clone is a new reference to the same data');
  assert.equal(backend.numDataIds(), before + 1);
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), Array.from(Float32Array.from(v)));
  y.dispose();
  assert.equal(backend.numDataIds(), before, 'the data is freed with its last reference');
});

test('cast - same dtype shares the data; other casts match cpu', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor([1.5, -2.7, 0, 3.2], [4]);
  const same = tf.cast(x, 'float32');
  assert.equal(same.dataId, x.dataId);
  tf.dispose([x, same]);
  const v = values([3, 5], 'float32').map((a) => a * 10);
  for (const dtype of ['int32', 'bool'] as const) {
    await sameOnBoth(`float32 -> ${dtype}`, () => tf.cast(tf.tensor(v, [3, 5]), dtype));
  }
  const ints = values([7], 'int32');
  await sameOnBoth('int32 -> float32', () => tf.cast(tf.tensor(ints, [7], 'int32'), 'float32'));
  // tfjs-wasm's own cast to bool kept the number modulo 256: 256 became false.
  await sameOnBoth('to bool tests != 0', () => tf.cast(tf.tensor([256, -0.5, 0, 2.7, -0], [5]), 'bool'));
});

test('gradients - concat, slice and pad gradients on wasm equal those on cpu', async () => {
  const shape = [2, 5, 6, 3];
  const [a, b, dy] = [values(shape, 'float32'), values([2, 5, 6, 4], 'float32'), values([2, 5, 5, 7], 'float32')];
  const f = (x: tf.Tensor, y: tf.Tensor) => {
    const cat = tf.concat([tf.relu(x), y], 3) as tf.Tensor4D;
    const shifted = tf.slice(tf.pad(cat, [[0, 0], [0, 1], [0, 1], [0, 0]]), [0, 1, 1, 0], [-1, 5, 6, -1]);
    return tf.sum(tf.mul(tf.slice(shifted, [0, 0, 1, 0], [-1, -1, 5, -1]), tf.tensor(dy, [2, 5, 5, 7])));
  };
  await sameOnBoth('dx, dy', () => tf.grads(f)([tf.tensor(a, shape), tf.tensor(b, [2, 5, 6, 4])]));
});

test('threads - copies big enough to be cut over the kernel threads equal cpu\'s', async () => {
  await tf.setBackend('wasm');
  assert.match(tf.engine().backendName, /wasm/);
  const big = [8, 32, 32, 8];
  const x = values(big, 'float32');
  const parts = [[8, 16, 16, 16], [8, 16, 16, 12], [8, 16, 16, 20]].map((s) => ({ s, v: values(s, 'float32') }));
  const bits = values([4, 150_001], 'bool');
  const cases: Array<[string, () => tf.Tensor | tf.Tensor[]]> = [
    ['channel concat of three inputs (interleaved runs)', () => tf.concat(parts.map((p) => tf.tensor(p.v, p.s)), 3)],
    ['channel split (interleaved runs)', () => tf.split(tf.tensor(x, big), [3, 5], 3)],
    ['spatial slice (two levels)', () => tf.slice(tf.tensor(x, big), [0, 1, 1, 0], [8, 31, 31, 8])],
    ['channel slice (one level)', () => tf.slice(tf.tensor(x, big), [0, 0, 0, 2], [8, 32, 32, 5])],
    ['batch slice (one run)', () => tf.slice(tf.tensor(x, big), [2, 0, 0, 0], [5, 32, 32, 8])],
    ['bool batch slice (one run of an odd number of bytes)', () => tf.slice(tf.tensor(bits, [4, 150_001], 'bool'), [1, 0], [2, 150_001])],
    ['pad after (factorized reduction)', () => tf.pad(tf.tensor(x, big), [[0, 0], [0, 1], [0, 1], [0, 0]])],
  ];
  for (const [label, build] of cases) await sameOnBoth(label, build);
});
