import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/index.js';

const quiet = { log: () => {} };
before(async () => {
  await initBackend('cpu', quiet);
  await initBackend('wasm', quiet);
});

async function on<T extends tf.Tensor>(backend: string, f: () => T): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = f();
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

// Regression: replacing tfjs-wasm's PadV2 dropped its setup step, and
// SpaceToBatchND (which pads through PadV2's wasm function) failed with
// "wasmPadV2 is not a function": every dilated convolution broke on wasm.
test('replaced kernels - tfjs kernels that call a replaced kernel\'s wasm function still work (space-to-batch, dilated conv)', async () => {
  const xv = Float32Array.from({ length: 2 * 9 * 7 * 3 }, (_, i) => Math.sin(i * 0.37));
  const fv = Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i * 0.11));
  const cases: Array<[string, () => tf.Tensor]> = [
    ['spaceToBatchND', () => tf.spaceToBatchND(tf.tensor4d(xv, [2, 9, 7, 3]), [2, 2], [[1, 0], [0, 1]])],
    ['dilated conv2d', () => tf.conv2d(tf.tensor4d(xv, [2, 9, 7, 3]), tf.tensor4d(fv, [3, 3, 3, 4]), 1, 'same', 'NHWC', 2)],
  ];
  for (const [name, f] of cases) {
    const cpu = await on('cpu', f);
    const wasm = await on('wasm', f);
    assert.equal(wasm.length, cpu.length, name);
    const err = cpu.reduce((m, v, i) => Math.max(m, Math.abs(v - wasm[i]!)), 0);
    assert.ok(err <= 1e-4, `${name}: max abs error ${err}`);
  }
});

test('replaced kernels - our Relu and Add give the cpu backend\'s values, at sizes off the SIMD width, and hand other cases back to tfjs', async () => {
  for (const n of [1, 7, 64, 1003, 70_001]) {
    const av = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.71) * 3);
    const bv = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.13));
    if (n > 3) { av[1] = Number.NaN; av[2] = -0; av[3] = Number.POSITIVE_INFINITY; }
    for (const [name, f] of [
      ['relu', () => tf.relu(tf.tensor1d(av))],
      ['add', () => tf.add(tf.tensor2d(av, [1, n]), tf.tensor2d(bv, [1, n]))],
    ] as Array<[string, () => tf.Tensor]>) {
      const cpu = await on('cpu', f);
      const wasm = await on('wasm', f);
      assert.equal(wasm.length, n);
      for (let i = 0; i < n; i++) {
        // +0 and -0 compare equal here: ReLU of -0 is 0 either way.
        assert.ok(Object.is(wasm[i], cpu[i]) || wasm[i] === cpu[i], `${name}, n=${n}, at ${i}: wasm ${wasm[i]}, cpu ${cpu[i]}`);
      }
    }
  }
  // Broadcasting and int32 go to tfjs's own kernels.
  const cases: Array<[string, () => tf.Tensor]> = [
    ['broadcast add', () => tf.add(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), tf.tensor1d([10, 20, 30]))],
    ['int32 add', () => tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32'))],
    ['int32 relu', () => tf.relu(tf.tensor1d([-1, 0, 5], 'int32'))],
  ];
  for (const [name, f] of cases) {
    assert.deepEqual([...await on('wasm', f)], [...await on('cpu', f)], name);
  }
});
