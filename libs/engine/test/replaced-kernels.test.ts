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
