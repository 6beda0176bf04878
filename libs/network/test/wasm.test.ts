/**
 * The layers' wasm paths (fused batch norm, direct 'same' average pool)
 * against the cpu backend, the numerical reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfc from '@tensorflow/tfjs-core';
import { initBackend } from '@nasnet/engine';
import { BatchNorm, SamePaddingAvgPool2d } from '../src/index.js';

tfc.env().set('PROD', true);
await initBackend('cpu', { log: () => {} });
await initBackend('wasm', { log: () => {} });

/** Values of `run()` on a backend, copied out. */
async function on(backend: 'cpu' | 'wasm', run: () => tfc.Tensor[]): Promise<Float32Array[]> {
  await tfc.setBackend(backend);
  const out = run();
  const values = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tfc.dispose(out);
  return values;
}

function assertClose(a: Float32Array[], b: Float32Array[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    assert.equal(x.length, y.length);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] as number) - (y[i] as number)));
    assert.ok(worst <= tol, `${what}, tensor ${k}: max difference ${worst}`);
  });
}

test('wasm - SamePaddingAvgPool2d pools directly (no pad) and matches cpu, gradient included', async () => {
  for (const [size, stride] of [[8, 1], [8, 2], [7, 2]] as const) {
    const layer = new SamePaddingAvgPool2d({ name: `avg_${size}_${stride}`, poolSize: 3, strides: stride });
    const out = Math.ceil(size / stride);
    const x = Float32Array.from({ length: 2 * size * size * 3 }, (_, i) => Math.sin(i * 0.37));
    const w = Float32Array.from({ length: 2 * out * out * 3 }, (_, i) => Math.cos(i * 0.11));
    const run = () => {
      const xt = tfc.tensor4d(x, [2, size, size, 3]);
      const wt = tfc.tensor4d(w, [2, out, out, 3]);
      const f = (t: tfc.Tensor) => tfc.sum(tfc.mul(layer.apply(t) as tfc.Tensor, wt));
      return [layer.apply(xt) as tfc.Tensor, tfc.grad(f)(xt)];
    };
    await tfc.setBackend('wasm');
    const kernels = (await tfc.profile(() => run())).kernels.map((k) => k.name);
    assert.ok(kernels.includes('AvgPool') && !kernels.includes('PadV2'), `wasm ran ${kernels.join(', ')}`);
    assertClose(await on('wasm', run), await on('cpu', run), 1e-5, `${size}x${size} stride ${stride}`);
  }
});

test('wasm - BatchNorm training on the fused kernel matches cpu: output, gradients, moving averages', async () => {
  const x = Float32Array.from({ length: 4 * 6 * 6 * 5 }, (_, i) => 3 * Math.sin(i * 0.7) + (i % 5));
  const w = Float32Array.from({ length: x.length }, (_, i) => Math.cos(i * 0.3));
  const run = () => {
    const layer = new BatchNorm({ name: 'bn', momentum: 0.9, epsilon: 1e-3 });
    layer.build([null, 6, 6, 5]);
    const xt = tfc.tensor4d(x, [4, 6, 6, 5]);
    const wt = tfc.tensor4d(w, [4, 6, 6, 5]);
    const vars = layer.trainableWeights.map((v) => v.read() as tfc.Variable);
    const f = (t: tfc.Tensor) => tfc.sum(tfc.mul(layer.apply(t, { training: true }) as tfc.Tensor, wt)) as tfc.Scalar;
    const y = layer.apply(xt, { training: true }) as tfc.Tensor;
    const dx = tfc.grad(f)(xt);
    const { grads } = tfc.variableGrads(() => f(xt), vars);
    // Three training calls so far: the moving statistics moved three times.
    const [, , mean, variance] = layer.getWeights();
    return [y, dx, ...vars.map((v) => grads[v.name] as tfc.Tensor), mean as tfc.Tensor, variance as tfc.Tensor];
  };
  assertClose(await on('wasm', run), await on('cpu', run), 2e-4, 'batch norm');
});
