import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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
const here = fileURLToPath(new URL('.', import.meta.url));

/** Whether Dawn finds an adapter, asked in a child process (skip decisions are made before `before` runs). */
function hasGpuSync(): boolean {
  const script = "const { create } = await import('webgpu'); process.stdout.write(String((await create([]).requestAdapter()) != null)); process.exit(0);";
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: here, encoding: 'utf8' }).stdout === 'true';
}

before(async () => {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try { await import(pkg); hasTensorflow = true; } catch { /* not installed */ }
  }
  hasGpu = hasGpuSync();
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
    assert.match(choice.reason, /wasm: XNNPACK on \d+ thread\(s\), \d+ training kernels on \d+/);
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

test('backend - no name means auto; the environment plays no part (services read NAS_BACKEND at their edge)', async () => {
  const saved = process.env.NAS_BACKEND;
  try {
    process.env.NAS_BACKEND = 'cpu';
    const lines: string[] = [];
    const choice = await initBackend(undefined, { log: (l) => lines.push(l) });
    assert.deepEqual(choice, await initBackend('auto', { log: () => {} }));
    assert.notEqual(choice.backend, 'cpu', 'auto never picks cpu, whatever NAS_BACKEND says');
  } finally {
    if (saved === undefined) delete process.env.NAS_BACKEND; else process.env.NAS_BACKEND = saved;
  }
});

test('backend - without a GPU, probing webgpu writes nothing to stderr: the reason names the missing adapter', { skip: hasGpuSync() }, () => {
  // A fresh process, so the probe really runs (this one may have probed already).
  const script = "import { initBackend } from '@nasnet/engine'; const c = await initBackend('auto', { log: (l) => process.stdout.write(l + '\\n') }); process.exit(c.backend === 'webgpu' ? 3 : 0);";
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: here, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no Dawn lines on stderr');
  assert.match(r.stdout, /^\[engine\] tfjs backend: \w+ \(.*webgpu skipped: Dawn found no GPU adapter.*\)\n$/);
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
