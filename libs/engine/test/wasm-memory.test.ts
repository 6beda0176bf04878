import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_WASM_HEAP_LIMIT_BYTES, initBackend, WasmOutOfMemoryError } from '../src/index.js';

const MiB = 1024 ** 2;

// Its own process (one test file): the heap limit is the process's.
await initBackend('wasm', { log: () => {}, wasmHeapLimitBytes: 96 * MiB });

test('wasm memory - a tensor the capped heap cannot hold fails with WasmOutOfMemoryError; the backend goes on working', () => {
  const before = tf.memory().numTensors;
  // 128 MiB of float32: above the 96 MiB cap.
  assert.throws(() => tf.zeros([32 * MiB]), (err: unknown) => {
    assert.ok(err instanceof WasmOutOfMemoryError, String(err));
    assert.equal(err.bytes, 128 * MiB);
    assert.equal(err.limitBytes, 96 * MiB);
    assert.match(err.message, /wasm backend out of memory: a tensor of 128\.0 MiB does not fit \(heap [0-9.]+ MiB, limit 96\.0 MiB\)/);
    return true;
  });
  // Many tensors that together outgrow the cap: the one that does not fit fails, the others are intact.
  const held: tf.Tensor[] = [];
  let failed: unknown;
  try {
    for (let i = 0; i < 20; i++) held.push(tf.fill([2 * MiB], i)); // 8 MiB each
  } catch (err) {
    failed = err;
  }
  assert.ok(failed instanceof WasmOutOfMemoryError, `the heap filled up: ${String(failed)}`);
  assert.ok(held.length >= 5 && held.length < 12, `${held.length} tensors of 8 MiB fit under 96 MiB`);
  held.forEach((t, i) => assert.equal(t.dataSync()[2 * MiB - 1], i));
  for (const t of held) t.dispose();
  // After the failures the module still computes correctly, and nothing leaked.
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  const y = tf.matMul(x, x);
  assert.deepEqual(Array.from(y.dataSync()), [7, 10, 15, 22]);
  tf.dispose([x, y]);
  assert.equal(tf.memory().numTensors, before);
  // And the space freed is used again.
  const again = tf.fill([2 * MiB], 3);
  assert.equal(again.dataSync()[0], 3);
  again.dispose();
});

test('wasm memory - a limit above the default is clamped to it (4 GiB less 256 MiB), one below 64 MiB is refused', async () => {
  assert.equal(DEFAULT_WASM_HEAP_LIMIT_BYTES, 4 * 1024 * MiB - 256 * MiB);
  await assert.rejects(initBackend('wasm', { log: () => {}, wasmHeapLimitBytes: 10 * MiB }), /at least 64 MiB/);
  await initBackend('wasm', { log: () => {}, wasmHeapLimitBytes: 8 * 1024 * MiB });
  assert.throws(() => tf.zeros([1024 * MiB]), (err: unknown) => err instanceof WasmOutOfMemoryError && err.limitBytes === DEFAULT_WASM_HEAP_LIMIT_BYTES);
});
