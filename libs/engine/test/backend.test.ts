import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  BackendUnavailableError, initBackend, UnknownBackendError, type BackendName,
} from '../src/index.js';

/**
 * What this machine offers, found independently of initBackend: whether
 * tfjs-node(-gpu) can be imported and whether Dawn finds a GPU adapter.
 * Here (DESIGN.md section 3) neither, so `auto` must end on wasm.
 */
let hasTensorflow = false;
let hasGpu = false;

before(async () => {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try { await import(pkg); hasTensorflow = true; } catch { /* not installed */ }
  }
  const spec = 'webgpu';
  const { create } = (await import(spec)) as { create(o: string[]): { requestAdapter(): Promise<unknown> } };
  hasGpu = (await create([]).requestAdapter()) != null;
});

test('backend - auto ends on the fastest available backend and says why it skipped the others', async () => {
  const lines: string[] = [];
  const choice = await initBackend('auto', { log: (l) => lines.push(l) });
  const expected = hasTensorflow ? 'tensorflow' : hasGpu ? 'webgpu' : 'wasm';
  assert.equal(choice.backend, expected);
  assert.equal(tf.getBackend(), expected);
  if (expected === 'wasm') {
    assert.match(choice.reason, /tensorflow skipped: @tensorflow\/tfjs-node-gpu not installed, @tensorflow\/tfjs-node not installed/);
    assert.match(choice.reason, /webgpu skipped: Dawn found no GPU adapter/);
    assert.match(choice.reason, /wasm: XNNPACK, 1 thread\(s\), 18 training kernels/);
  }
  assert.equal(lines.length, 1, `one log line, got ${JSON.stringify(lines)}`);
  assert.ok(lines[0].includes(`tfjs backend: ${expected}`) && lines[0].includes(choice.reason), lines[0]);
});

test('backend - a second call with the same name re-activates it without probing or logging', async () => {
  const first = await initBackend('auto', { log: () => {} });
  await initBackend('cpu', { log: () => {} });
  assert.equal(tf.getBackend(), 'cpu');
  const lines: string[] = [];
  const again = await initBackend('auto', { log: (l) => lines.push(l) });
  assert.deepEqual(again, first);
  assert.equal(tf.getBackend(), first.backend);
  assert.deepEqual(lines, []);
});

test('backend - cpu works and has gradients, including dilated convolutions', async () => {
  const choice = await initBackend('cpu', { log: () => {} });
  assert.equal(choice.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  // d/dx sum(conv(x, ones, dilation 2)) at the centre of a 5x5 input: all
  // nine taps of the 3x3 dilated window cover it, so 9.
  const x = tf.zeros([1, 5, 5, 1]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 1, 1]) as tf.Tensor4D;
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.conv2d(t as tf.Tensor4D, w, 1, 'same', 'NHWC', 2)))(x);
  const values = await g.data();
  assert.equal(values[12], 9);
  assert.equal(values[0], 4); // corner: taps at offsets 0 and +2 in each axis
});

test('backend - an unknown name is an error naming it', async () => {
  await assert.rejects(initBackend('tpu' as BackendName), (e: unknown) =>
    e instanceof UnknownBackendError && /'tpu'/.test(e.message) && /initBackend argument/.test(e.message));
});

test('backend - NAS_BACKEND picks the backend when no name is given, and a bad value is named', async () => {
  const saved = process.env.NAS_BACKEND;
  try {
    process.env.NAS_BACKEND = 'cpu';
    assert.equal((await initBackend(undefined, { log: () => {} })).backend, 'cpu');
    process.env.NAS_BACKEND = 'gpu';
    await assert.rejects(initBackend(), (e: unknown) =>
      e instanceof UnknownBackendError && /'gpu'/.test(e.message) && /NAS_BACKEND/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.NAS_BACKEND; else process.env.NAS_BACKEND = saved;
  }
});

test('backend - naming an unavailable backend fails with the reason', async () => {
  if (!hasTensorflow) {
    await assert.rejects(initBackend('tensorflow'), (e: unknown) =>
      e instanceof BackendUnavailableError && /backend 'tensorflow' is not available: .*tfjs-node not installed/.test(e.message));
  }
  if (!hasGpu) {
    await assert.rejects(initBackend('webgpu'), (e: unknown) =>
      e instanceof BackendUnavailableError && /backend 'webgpu' is not available: Dawn found no GPU adapter/.test(e.message));
  }
  // At least one of the two is missing on every machine this suite runs on
  // (no image ships both tfjs-node and a GPU); otherwise nothing was checked.
  assert.ok(!hasTensorflow || !hasGpu);
  // A failed attempt leaves the previous backend active.
  assert.notEqual(tf.getBackend(), 'tensorflow');
});
