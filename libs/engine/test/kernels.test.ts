/**
 * Every wasm training kernel against tfjs's cpu backend (the reference), on
 * the same inputs, kernel by kernel and through a whole network's gradients.
 *
 * Tolerance: max |wasm - cpu| <= 1e-5 * max(1, max |cpu|) per kernel (one
 * float32 sum of at most a few hundred products; measured errors are below
 * 1e-6 relative), and 1e-4 for the network, whose batch norm divides by
 * small standard deviations and stacks a dozen layers of rounding.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@nasnet/random';
import {
  batchNormTraining, clippedSgdStep, composedSgdStep, initBackend, movingAverages, MovingAveragesInputError, SgdStepInputError, WASM_TRAINING_KERNELS,
} from '../src/index.js';

const KERNEL_TOL = 1e-5;
const NETWORK_TOL = 1e-4;
const quiet = { log: () => {} };
const rng = new Rng(20171205);

before(async () => {
  await initBackend('cpu', quiet);
  await initBackend('wasm', quiet);
});

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function randomValues(shape: readonly number[]): Float32Array {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return v;
}

/** Small integers >= 0 (ReLU of rounded normals): most pool windows hold tied maxima. */
function tiedValues(shape: readonly number[]): Float32Array {
  return randomValues(shape).map((v) => Math.max(0, Math.round(v)));
}

/** Runs `build` on a backend (inputs are made there from plain arrays) and reads the result. */
async function on(backend: 'cpu' | 'wasm', build: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(build);
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string, tol = KERNEL_TOL): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} values, expected ${expected.length}`);
  let scale = 1, err = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= err)) { err = d; at = i; }
  }
  assert.ok(err <= tol * scale,
    `${label}: max abs error ${err} at ${at} (got ${actual[at]}, cpu ${expected[at]}) exceeds ${tol} x ${scale}`);
}

const run = (name: string, inputs: Record<string, [Float32Array, readonly number[]]>, attrs: Record<string, unknown>) => () => {
  const tensors: tf.NamedTensorMap = {};
  for (const [k, [v, s]] of Object.entries(inputs)) tensors[k] = tf.tensor(v, s as number[]);
  return tf.engine().runKernel(name, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
};

/** Filter [KH, KW, A, B] with (d-1) zeros between taps: a dilated conv as a plain one. */
function spread(values: Float32Array, [kh, kw, a, b]: Shape4, d: number): [Float32Array, Shape4] {
  const khe = (kh - 1) * d + 1, kwe = (kw - 1) * d + 1, inner = a * b;
  const out = new Float32Array(khe * kwe * inner);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) out.set(values.subarray((i * kw + j) * inner, (i * kw + j + 1) * inner), (i * d * kwe + j * d) * inner);
  }
  return [out, [khe, kwe, a, b]];
}

/** Every d-th tap of a spread filter gradient. */
function sample(values: Float32Array, [khe, kwe, a, b]: Shape4, d: number): Float32Array {
  const kh = (khe - 1) / d + 1, kw = (kwe - 1) / d + 1, inner = a * b;
  const out = new Float32Array(kh * kw * inner);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) out.set(values.subarray((i * d * kwe + j * d) * inner, (i * d * kwe + j * d + 1) * inner), (i * kw + j) * inner);
  }
  return out;
}

interface ConvCase { label: string; x: Shape4; filter: Shape4; strides: number; pad: Pad; dilation: number }

// Odd sizes, batch 1 and > 1, channel counts that exercise the 16-, 4- and
// 1-lane paths of the SIMD loops (3, 5, 8, 20, 36).
const CONV_CASES: ConvCase[] = [
  { label: '3x3 stride 1 same, 7x5 input, 3 channels, batch 1', x: [1, 7, 5, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same', dilation: 1 },
  // The stem's shape: the filter gradient sums 27 im2col rows (padded to 28) over 2,048 positions in two reduction groups.
  { label: '3x3 stride 1 same, 3 channels, 2,048 positions', x: [8, 16, 16, 3], filter: [3, 3, 3, 16], strides: 1, pad: 'same', dilation: 1 },
  { label: '3x3 stride 2 same, batch 2', x: [2, 7, 5, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same', dilation: 1 },
  { label: '3x3 stride 2 valid', x: [2, 7, 5, 5], filter: [3, 3, 5, 4], strides: 2, pad: 'valid', dilation: 1 },
  { label: '5x5 stride 1 valid', x: [2, 8, 7, 5], filter: [5, 5, 5, 6], strides: 1, pad: 'valid', dilation: 1 },
  { label: '1x1 stride 1', x: [3, 6, 5, 8], filter: [1, 1, 8, 20], strides: 1, pad: 'same', dilation: 1 },
  // 286 pixels: the pointwise filter gradient's 170-pixel chunks end in a partial one.
  { label: '1x1 stride 1, two chunks of pixels', x: [2, 13, 11, 12], filter: [1, 1, 12, 12], strides: 1, pad: 'valid', dilation: 1 },
  { label: '1x1 stride 1, channels not multiples of 4 (XNNPACK and im2col routes)', x: [2, 5, 5, 6], filter: [1, 1, 6, 5], strides: 1, pad: 'same', dilation: 1 },
  { label: '1x1 stride 2 valid', x: [2, 7, 7, 8], filter: [1, 1, 8, 4], strides: 2, pad: 'valid', dilation: 1 },
  { label: '1x7 stride 1 same', x: [2, 9, 9, 8], filter: [1, 7, 8, 12], strides: 1, pad: 'same', dilation: 1 },
  { label: '7x1 stride 2 same', x: [2, 9, 9, 8], filter: [7, 1, 8, 12], strides: 2, pad: 'same', dilation: 1 },
  { label: '3x3 dilation 2 same', x: [2, 9, 8, 6], filter: [3, 3, 6, 4], strides: 1, pad: 'same', dilation: 2 },
  { label: '3x3 dilation 2 valid, batch 1', x: [1, 9, 8, 20], filter: [3, 3, 20, 4], strides: 1, pad: 'valid', dilation: 2 },
  { label: '3x3 explicit pad wider than the filter', x: [2, 6, 5, 4], filter: [3, 3, 4, 4], strides: 1, pad: [[0, 0], [3, 0], [0, 1], [0, 0]], dilation: 1 },
];

function convOutShape(c: ConvCase, depthwise = false): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilation, c.pad, undefined, depthwise);
  return info.outShape as Shape4;
}

for (const c of CONV_CASES) {
  test(`conv2DBackpropInput - matches cpu: ${c.label}`, async () => {
    const filter = randomValues(c.filter);
    const dyShape = convOutShape(c);
    const dy = randomValues(dyShape);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
    const wasm = await on('wasm', run('Conv2DBackpropInput', { dy: [dy, dyShape], filter: [filter, c.filter] },
      { ...attrs, dilations: c.dilation }));
    // cpu's kernel has no dilation; a dilated conv is a plain one with the spread filter.
    const [sf, sfShape] = spread(filter, c.filter, c.dilation);
    const cpu = await on('cpu', run('Conv2DBackpropInput', { dy: [dy, dyShape], filter: [sf, sfShape] }, attrs));
    assertClose(wasm, cpu, c.label);
  });

  test(`conv2DBackpropFilter - matches cpu: ${c.label}`, async () => {
    const x = randomValues(c.x);
    const dyShape = convOutShape(c);
    const dy = randomValues(dyShape);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
    const wasm = await on('wasm', run('Conv2DBackpropFilter', { x: [x, c.x], dy: [dy, dyShape] },
      { ...attrs, filterShape: c.filter, dilations: c.dilation }));
    const [, sfShape] = spread(new Float32Array(c.filter.reduce((a, b) => a * b)), c.filter, c.dilation);
    const cpu = sample(await on('cpu', run('Conv2DBackpropFilter', { x: [x, c.x], dy: [dy, dyShape] },
      { ...attrs, filterShape: sfShape })), sfShape, c.dilation);
    assertClose(wasm, cpu, c.label);
  });
}

for (const c of CONV_CASES) {
  test(`conv2D - matches cpu: ${c.label}`, async () => {
    const x = randomValues(c.x), filter = randomValues(c.filter);
    const k = run('Conv2D', { x: [x, c.x], filter: [filter, c.filter] },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilation });
    assertClose(await on('wasm', k), await on('cpu', k), c.label);
  });
}

// Pointwise cases take our SIMD loop: 15 pixels (4-pixel tiles and a tail of
// 3), 20 output channels (8-, 8- and 4-channel tiles), an odd input count.
// The others check the hand-back to XNNPACK.
const FUSED_CASES: Array<{ label: string; x: Shape4; filter: Shape4; bias: boolean; activation: 'linear' | 'relu' | 'elu'; pad: Pad }> = [
  { label: 'pointwise, bias and ReLU, batch 1', x: [1, 5, 3, 7], filter: [1, 1, 7, 20], bias: true, activation: 'relu', pad: 'same' },
  { label: 'pointwise, no bias, linear', x: [3, 4, 5, 16], filter: [1, 1, 16, 12], bias: false, activation: 'linear', pad: 'valid' },
  { label: 'pointwise, ReLU without bias', x: [2, 3, 3, 4], filter: [1, 1, 4, 8], bias: false, activation: 'relu', pad: 'same' },
  { label: 'pointwise, 6 output channels (XNNPACK)', x: [2, 3, 3, 4], filter: [1, 1, 4, 6], bias: true, activation: 'relu', pad: 'same' },
  { label: 'pointwise, elu (XNNPACK)', x: [2, 3, 3, 4], filter: [1, 1, 4, 8], bias: true, activation: 'elu', pad: 'same' },
  { label: '1x1 with explicit padding (XNNPACK)', x: [2, 3, 3, 4], filter: [1, 1, 4, 8], bias: false, activation: 'linear', pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  { label: '3x3 (XNNPACK)', x: [2, 5, 5, 4], filter: [3, 3, 4, 8], bias: true, activation: 'relu', pad: 'same' },
];

for (const c of FUSED_CASES) {
  test(`fusedConv2D - matches cpu: ${c.label}`, async () => {
    const x = randomValues(c.x), filter = randomValues(c.filter), bias = randomValues([c.filter[3]]);
    const k = run('FusedConv2D', { x: [x, c.x], filter: [filter, c.filter], ...(c.bias ? { bias: [bias, [c.filter[3]]] } : {}) },
      { strides: 1, pad: c.pad, dataFormat: 'NHWC', dilations: 1, activation: c.activation, leakyreluAlpha: 0.2 });
    const wasm = await on('wasm', k);
    assertClose(wasm, await on('cpu', k), c.label);
    if (c.activation === 'relu') assert.ok(wasm.some((v) => v === 0) && wasm.some((v) => v > 0), `${c.label}: ReLU had nothing to clip`);
  });
}

const DEPTHWISE_CASES: ConvCase[] = [
  { label: '3x3 stride 1 same, 7x5 input, 3 channels, batch 1', x: [1, 7, 5, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same', dilation: 1 },
  { label: '3x3 stride 2 valid, 20 channels', x: [2, 7, 5, 20], filter: [3, 3, 20, 1], strides: 2, pad: 'valid', dilation: 1 },
  { label: '5x5 stride 2 same', x: [2, 9, 9, 8], filter: [5, 5, 8, 1], strides: 2, pad: 'same', dilation: 1 },
  { label: '7x7 stride 1 same, 36 channels', x: [2, 8, 8, 36], filter: [7, 7, 36, 1], strides: 1, pad: 'same', dilation: 1 },
  { label: '3x3 dilation 2 same', x: [2, 9, 8, 6], filter: [3, 3, 6, 1], strides: 1, pad: 'same', dilation: 2 },
  { label: '3x3 dilation 2 valid', x: [1, 9, 8, 5], filter: [3, 3, 5, 1], strides: 1, pad: 'valid', dilation: 2 },
  { label: 'channel multiplier 2, stride 2 same', x: [2, 7, 5, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'same', dilation: 1 },
  // Channels a multiple of 4 take the interior loop (3-pixel tiles, 8- and
  // 4-channel groups); interior widths 10, 5 and 4 leave tails of 1, 2, 1.
  { label: '5x5 stride 1 same, 12 channels, interior tail of 1', x: [2, 11, 14, 12], filter: [5, 5, 12, 1], strides: 1, pad: 'same', dilation: 1 },
  { label: '7x7 stride 1 valid, 4 channels, batch 3, interior tail of 2', x: [3, 9, 11, 4], filter: [7, 7, 4, 1], strides: 1, pad: 'valid', dilation: 1 },
  { label: '3x3 dilation 2 same, 8 channels', x: [2, 9, 8, 8], filter: [3, 3, 8, 1], strides: 1, pad: 'same', dilation: 2 },
  { label: '3x3 stride 2 same, 16 channels, batch 1', x: [1, 9, 10, 16], filter: [3, 3, 16, 1], strides: 2, pad: 'same', dilation: 1 },
];

for (const c of DEPTHWISE_CASES) {
  test(`depthwiseConv2dNative - matches cpu: ${c.label}`, async () => {
    const x = randomValues(c.x), filter = randomValues(c.filter);
    const k = run('DepthwiseConv2dNative', { x: [x, c.x], filter: [filter, c.filter] },
      { strides: c.strides, pad: c.pad, dilations: c.dilation });
    assertClose(await on('wasm', k), await on('cpu', k), c.label);
  });

  test(`depthwiseConv2dNativeBackpropInput - matches cpu: ${c.label}`, async () => {
    const filter = randomValues(c.filter);
    const dyShape = convOutShape(c, true);
    const dy = randomValues(dyShape);
    const attrs = { strides: c.strides, pad: c.pad, inputShape: c.x };
    const wasm = await on('wasm', run('DepthwiseConv2dNativeBackpropInput', { dy: [dy, dyShape], filter: [filter, c.filter] },
      { ...attrs, dilations: c.dilation }));
    // cpu's depthwise backprop kernels ignore dilation in their loops: use the spread filter.
    const [sf, sfShape] = spread(filter, c.filter, c.dilation);
    const cpu = await on('cpu', run('DepthwiseConv2dNativeBackpropInput', { dy: [dy, dyShape], filter: [sf, sfShape] },
      { ...attrs, dilations: 1 }));
    assertClose(wasm, cpu, c.label);
  });

  test(`depthwiseConv2dNativeBackpropFilter - matches cpu: ${c.label}`, async () => {
    const x = randomValues(c.x);
    const dyShape = convOutShape(c, true);
    const dy = randomValues(dyShape);
    const attrs = { strides: c.strides, pad: c.pad };
    const wasm = await on('wasm', run('DepthwiseConv2dNativeBackpropFilter', { x: [x, c.x], dy: [dy, dyShape] },
      { ...attrs, filterShape: c.filter, dilations: c.dilation }));
    const [, sfShape] = spread(new Float32Array(c.filter.reduce((a, b) => a * b)), c.filter, c.dilation);
    const cpu = sample(await on('cpu', run('DepthwiseConv2dNativeBackpropFilter', { x: [x, c.x], dy: [dy, dyShape] },
      { ...attrs, filterShape: sfShape, dilations: 1 })), sfShape, c.dilation);
    assertClose(wasm, cpu, c.label);
  });
}

interface PoolCase { label: string; x: Shape4; size: number; strides: number; pad: 'same' | 'valid' }

const POOL_CASES: PoolCase[] = [
  { label: '3x3 stride 1 same, 7x5 input, 3 channels, batch 1', x: [1, 7, 5, 3], size: 3, strides: 1, pad: 'same' },
  { label: '3x3 stride 2 same, 20 channels', x: [2, 7, 5, 20], size: 3, strides: 2, pad: 'same' },
  { label: '5x5 stride 2 same', x: [2, 9, 9, 8], size: 5, strides: 2, pad: 'same' },
  { label: '7x7 stride 1 same, 36 channels', x: [1, 8, 8, 36], size: 7, strides: 1, pad: 'same' },
  { label: '3x3 stride 2 valid', x: [2, 7, 5, 5], size: 3, strides: 2, pad: 'valid' },
  // Stride 1 'valid': the gradient runs as a depthwise conv (interior loop when channels % 4 == 0).
  { label: '3x3 stride 1 valid, 16 channels', x: [2, 9, 11, 16], size: 3, strides: 1, pad: 'valid' },
  { label: '5x5 stride 1 valid, 3 channels, batch 1', x: [1, 8, 7, 3], size: 5, strides: 1, pad: 'valid' },
];

function poolInfo(c: PoolCase) {
  return tf.backend_util.computePool2DInfo(c.x, c.size, c.strides, 1, c.pad);
}

for (const c of POOL_CASES) {
  test(`maxPoolGrad - matches cpu, ties included: ${c.label}`, async () => {
    // Inputs in {0, 1, 2, 3}: windows tie often, and the gradient must go
    // to the same (first) position as on cpu.
    const x = tiedValues(c.x);
    const info = poolInfo(c);
    const dy = randomValues(info.outShape);
    const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad };
    const y = await on('cpu', run('MaxPool', { x: [x, c.x] }, attrs));
    const k = run('MaxPoolGrad', { dy: [dy, info.outShape], input: [x, c.x], output: [y, info.outShape] }, attrs);
    assertClose(await on('wasm', k), await on('cpu', k), c.label);
  });

  test(`avgPoolGrad - matches cpu with cpu's divisor corrected: ${c.label}`, async () => {
    const x = randomValues(c.x);
    const info = poolInfo(c);
    const dy = randomValues(info.outShape);
    const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad };
    const wasm = await on('wasm', run('AvgPoolGrad', { dy: [dy, info.outShape], input: [x, c.x] }, attrs));
    // cpu divides every window by size^2; ours by its taps inside the input
    // (what the forward AvgPool does). Scaling dy by size^2 / taps turns one into the other.
    const scaled = dy.slice();
    for (let b = 0; b < info.batchSize; b++) {
      for (let oh = 0; oh < info.outHeight; oh++) {
        for (let ow = 0; ow < info.outWidth; ow++) {
          const rows = validTaps(oh, info.strideHeight, info.padInfo.top, c.size, info.inHeight);
          const cols = validTaps(ow, info.strideWidth, info.padInfo.left, c.size, info.inWidth);
          const at = ((b * info.outHeight + oh) * info.outWidth + ow) * info.inChannels;
          for (let ch = 0; ch < info.inChannels; ch++) scaled[at + ch] *= (c.size * c.size) / (rows * cols);
        }
      }
    }
    const cpu = await on('cpu', run('AvgPoolGrad', { dy: [scaled, info.outShape], input: [x, c.x] }, attrs));
    assertClose(wasm, cpu, c.label);
  });
}

function validTaps(o: number, stride: number, pad: number, size: number, extent: number): number {
  let n = 0;
  for (let k = 0; k < size; k++) { const i = o * stride - pad + k; if (i >= 0 && i < extent) n++; }
  return n;
}

test('avgPool gradient - equals d(sum(avgPool(x) * dy))/dx at padded borders on cpu and wasm', async () => {
  // avgPool is linear, so its exact gradient is: each output's dy divided by
  // the taps of its window inside the input, added to those taps.
  const shape: Shape4 = [1, 5, 4, 2];
  const x = randomValues(shape);
  const info = tf.backend_util.computePool2DInfo(shape, 3, 1, 1, 'same');
  const dy = randomValues(info.outShape);
  const expected = new Float32Array(x.length);
  for (let oh = 0; oh < info.outHeight; oh++) {
    for (let ow = 0; ow < info.outWidth; ow++) {
      const taps: Array<[number, number]> = [];
      for (let i = oh - 1; i <= oh + 1; i++) for (let j = ow - 1; j <= ow + 1; j++) if (i >= 0 && i < 5 && j >= 0 && j < 4) taps.push([i, j]);
      for (const [i, j] of taps) for (let ch = 0; ch < 2; ch++) expected[(i * 4 + j) * 2 + ch] += dy[(oh * 4 + ow) * 2 + ch] / taps.length;
    }
  }
  for (const backend of ['cpu', 'wasm'] as const) {
    const grad = await on(backend, () => tf.grad((t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, 3, 1, 'same'))(tf.tensor4d(x, shape), tf.tensor4d(dy, info.outShape)));
    assertClose(grad, expected, `avgPool gradient on ${backend}`);
  }
});

test('conv2d gradient - dilation 2 works on cpu and wasm and they agree', async () => {
  // tfjs 4.22 throws for dilated conv gradients; ours handle them.
  const xShape: Shape4 = [2, 9, 9, 4], wShape: Shape4 = [3, 3, 4, 6];
  const x = randomValues(xShape), w = randomValues(wShape);
  const grads = async (backend: 'cpu' | 'wasm') => {
    const out: Float32Array[] = [];
    for (const which of [0, 1]) {
      out.push(await on(backend, () => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same', 'NHWC', 2))))([tf.tensor4d(x, xShape), tf.tensor4d(w, wShape)])[which]));
    }
    return out;
  };
  const [cx, cw] = await grads('cpu');
  const [wx, ww] = await grads('wasm');
  assertClose(wx, cx, 'dx');
  assertClose(ww, cw, 'dW');
});

test('registry - every registered training kernel is the one on the wasm backend', () => {
  for (const config of WASM_TRAINING_KERNELS) {
    assert.equal(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc, config.kernelFunc, config.kernelName);
  }
  assert.deepEqual(WASM_TRAINING_KERNELS.map((k) => k.kernelName).sort(), [
    'Add', 'AvgPoolGrad', 'Cast', 'Concat', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNative',
    'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'FusedConv2D', 'Identity', 'MaxPoolGrad',
    'NasnetBatchNormTraining', 'NasnetBatchNormTrainingGrad', 'NasnetClippedSgdStep', 'NasnetMovingAverages', 'NasnetReluGrad', 'PadV2', 'Relu', 'Slice', 'SplitV',
  ]);
});

for (const shape of [[1, 7, 5, 3], [4, 6, 6, 20], [10, 36]]) {
  test(`batchNormTraining - fused wasm kernels match tf.moments arithmetic on cpu, shape [${shape}]`, async () => {
    // Loss uses y, mean and variance, so the gradient paths through the
    // returned statistics are checked too.
    const c = shape[shape.length - 1];
    const x = randomValues(shape).map((v, i) => 3 + 2 * v + (i % c)); // offset, scaled, per-channel means differ
    const gamma = randomValues([c]), beta = randomValues([c]);
    const wy = randomValues(shape), wm = randomValues([c]), wv = randomValues([c]);
    const f = (xt: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { y, mean, variance } = batchNormTraining(xt, g as tf.Tensor1D, b as tf.Tensor1D);
      return tf.addN([tf.sum(tf.mul(y, tf.tensor(wy, shape))), tf.sum(tf.mul(mean, tf.tensor(wm))), tf.sum(tf.mul(variance, tf.tensor(wv)))]);
    };
    const inputs = () => [tf.tensor(x, shape), tf.tensor(gamma), tf.tensor(beta)];
    for (let which = 0; which < 6; which++) {
      const build = () => {
        if (which === 3) return batchNormTraining(inputs()[0], tf.tensor1d(gamma), tf.tensor1d(beta)).y;
        if (which === 4) return batchNormTraining(inputs()[0], tf.tensor1d(gamma), tf.tensor1d(beta)).variance;
        if (which === 5) return f(...(inputs() as [tf.Tensor, tf.Tensor, tf.Tensor]));
        return tf.grads(f)(inputs())[which];
      };
      const label = ['dx', 'dgamma', 'dbeta', 'y', 'variance', 'loss'][which];
      assertClose(await on('wasm', build), await on('cpu', build), label, 1e-4);
    }
    await tf.setBackend('wasm');
    assert.equal(tf.getKernel('NasnetBatchNormTraining', 'cpu'), undefined, 'cpu must take the composite path');
  });
}

test('reluGrad - one-pass wasm kernel matches cpu, zeros and negatives included', async () => {
  const shape = [2, 7, 5, 6];
  const x = tiedValues(shape).map((v, i) => (i % 3 === 0 ? -v : v)); // exact zeros, negatives, positives
  const dy = randomValues(shape);
  const build = () => tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor(x, shape), tf.tensor(dy, shape));
  assertClose(await on('wasm', build), await on('cpu', build), 'relu gradient');
});

// Sizes with and without a tail past the last multiple of 4 (the SIMD loop's step), one scalar-sized.
const SGD_SHAPES = [[3, 3, 4, 8], [10], [1], [7, 5], [64]];

for (const [label, clipNorm, weightDecay, gradScale] of [
  ['clipped', 0.5, 5e-4, 1], ['under the clip', 1e6, 4e-5, 1], ['no clipping', 0, 5e-4, 3], ['no weight decay', 0.5, 0, 1],
] as const) {
  test(`clippedSgdStep - the one wasm kernel equals the composed ops on cpu (${label})`, async () => {
    const decay = SGD_SHAPES.map((_, i) => i % 2 === 0);
    const values = SGD_SHAPES.map((s) => [randomValues(s), randomValues(s).map((v) => v * gradScale), randomValues(s)]);
    const step = (fn: typeof clippedSgdStep) => () => {
      const input = {
        variables: SGD_SHAPES.map((s, i) => tf.tensor(values[i]![0]!, s)),
        gradients: SGD_SHAPES.map((s, i) => tf.tensor(values[i]![1]!, s)),
        velocities: SGD_SHAPES.map((s, i) => tf.tensor(values[i]![2]!, s)),
        decay, learningRate: 0.025, momentum: 0.9, weightDecay, clipNorm,
      };
      const out = fn(input);
      return tf.concat([...out.variables, ...out.velocities].map((t) => tf.reshape(t, [-1])));
    };
    await tf.setBackend('wasm');
    assert.notEqual(tf.getKernel('NasnetClippedSgdStep', 'wasm'), undefined);
    const fused = await on('wasm', step(clippedSgdStep));
    const reference = await on('cpu', step(clippedSgdStep));
    assert.equal(tf.getKernel('NasnetClippedSgdStep', 'cpu'), undefined, 'cpu must take the composed path');
    // Every f32 operation rounds alike; only the norm's sum order differs (float64 against tfjs's float32).
    assertClose(fused, reference, `step, ${label}`, clipNorm > 0 && clipNorm < 1e6 ? 1e-6 : 0);
    assertClose(await on('wasm', step(composedSgdStep)), reference, `composed on wasm, ${label}`, 1e-6);
  });
}

test('clippedSgdStep - the step moves the weights against the gradient, and the clipped step has the clip as its norm', async () => {
  await tf.setBackend('wasm');
  const w = tf.tensor1d([1, 2, 3, 4, 5]), g = tf.tensor1d([30, 0, -40, 0, 0]), m = tf.zeros([5]);
  const out = clippedSgdStep({ variables: [w], gradients: [g], velocities: [m], decay: [false], learningRate: 1, momentum: 0.9, weightDecay: 0, clipNorm: 5 });
  // |g| = 50, so the velocity is g / 10 and the new weights w - g / 10.
  assertClose(out.velocities[0]!.dataSync() as Float32Array, new Float32Array([3, 0, -4, 0, 0]), 'velocity', 1e-7);
  assertClose(out.variables[0]!.dataSync() as Float32Array, new Float32Array([-2, 2, 7, 4, 5]), 'weights', 1e-7);
  assert.deepEqual(Array.from(w.dataSync()), [1, 2, 3, 4, 5], 'the inputs are left as they were');
  tf.dispose([w, g, m, ...out.variables, ...out.velocities]);
});

test('movingAverages - the one wasm kernel gives the bits of the composed ops on cpu, and records nothing to differentiate', async () => {
  const moving = [randomValues([7]), randomValues([16]).map((v) => 1 + v * v)];
  const batch = [randomValues([7]), randomValues([16]).map((v) => v * v)];
  const build = () => tf.concat(movingAverages(moving.map((m) => tf.tensor1d(m)), batch.map((b) => tf.tensor1d(b)), 0.9997));
  assertClose(await on('wasm', build), await on('cpu', build), 'moving averages', 0);
  await tf.setBackend('wasm');
  // In a gradient's forward pass: the gradient of the batch statistic ignores the update.
  const x = tf.tensor1d(batch[0]!);
  const g = tf.grad((t: tf.Tensor) => {
    const [updated] = movingAverages([tf.tensor1d(moving[0]!)], [t], 0.9);
    updated!.dispose();
    return tf.sum(tf.mul(t, 2));
  })(x);
  assert.deepEqual(Array.from(g.dataSync()), new Array(7).fill(2));
  assert.throws(() => movingAverages([x], [tf.zeros([6])], 0.9), (e: Error) => e instanceof MovingAveragesInputError && /pair 0/.test(e.message));
  assert.throws(() => movingAverages([x], [x], 1.5), /momentum must be in \[0, 1\]/);
  tf.dispose([x, g]);
});

test('clippedSgdStep - a gradient that does not match its variable is named', async () => {
  await tf.setBackend('wasm');
  const vars = [tf.zeros([2, 3]), tf.zeros([4])];
  const input = { variables: vars, velocities: vars, decay: [true, false], learningRate: 0.1, momentum: 0.9, weightDecay: 0, clipNorm: 0 };
  assert.throws(() => clippedSgdStep({ ...input, gradients: [tf.zeros([2, 3]), tf.zeros([5])] }),
    (e: Error) => e instanceof SgdStepInputError && /gradients\[1\]: shape \[5\]/.test(e.message));
  assert.throws(() => clippedSgdStep({ ...input, gradients: vars, decay: [true] }), /decay: expected 2/);
  assert.throws(() => clippedSgdStep({ ...input, gradients: vars, learningRate: Number.NaN }), /learningRate/);
  tf.dispose(vars);
});

/**
 * A small network using every NASNet op: 3x3, 1x7/7x1, dilated and 1x1
 * convs, separable convs (stride 1 and 2), max pools 3/5/7 and avg pools
 * ('same', stride 1 and 2), batch norm (from tf.moments and our fused
 * batchNormTraining), ReLU, concat, pad and slice (factorized reduction),
 * global mean, dense layer, softmax cross-entropy.
 */
function network(x: tf.Tensor4D, p: tf.Tensor[]): tf.Scalar {
  const [w0, w1, w2, w3, dw1, pw1, dw2, pw2, w4, w5, fc, gamma, beta, labels] = p as [
    tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D,
    tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor2D];
  const bn = (t: tf.Tensor4D) => {
    const { mean, variance } = tf.moments(t, [0, 1, 2]);
    return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-3))) as tf.Tensor4D;
  };
  const h = bn(tf.conv2d(x, w0, 1, 'same'));
  const r = tf.relu(h);
  const a = tf.conv2d(tf.conv2d(r, w1, 1, 'same'), w2, 1, 'same');
  const b = tf.conv2d(r, w3, 1, 'same', 'NHWC', 2);
  const c = tf.conv2d(tf.depthwiseConv2d(r, dw1, 1, 'same'), pw1, 1, 'same');
  const pools = tf.addN([tf.maxPool(h, 3, 1, 'same'), tf.maxPool(h, 5, 1, 'same'), tf.maxPool(h, 7, 1, 'same'), tf.avgPool(h, 3, 1, 'same')]);
  const cell = tf.relu(batchNormTraining(tf.concat([a, b, c, pools], 3), gamma, beta).y as tf.Tensor4D);
  // Reduction: separable conv stride 2, pools stride 2, factorized reduction.
  const s = tf.conv2d(tf.depthwiseConv2d(cell, dw2, 2, 'same'), pw2, 1, 'same');
  const mp = tf.conv2d(tf.maxPool(cell, 3, 2, 'same'), w4, 1, 'same');
  const ap = tf.conv2d(tf.avgPool(cell, 3, 2, 'same'), w4, 1, 'same');
  const shifted = tf.slice(tf.pad(cell, [[0, 0], [0, 1], [0, 1], [0, 0]]), [0, 1, 1, 0], [-1, 9, 9, -1]);
  const fr = tf.conv2d(tf.avgPool(shifted, 1, 2, 'valid'), w5, 1, 'same');
  const red = tf.relu(bn(tf.concat([s, mp, ap, fr], 3)));
  const logits = tf.matMul(tf.mean(red, [1, 2]) as tf.Tensor2D, fc);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

test('network - gradients of every NASNet op on wasm equal those on cpu', async () => {
  const xShape: Shape4 = [2, 9, 9, 4];
  const shapes: number[][] = [
    [3, 3, 4, 8], [1, 7, 8, 8], [7, 1, 8, 8], [3, 3, 8, 8], [5, 5, 8, 1], [1, 1, 8, 8], [3, 3, 32, 1],
    [1, 1, 32, 8], [1, 1, 32, 8], [1, 1, 32, 8], [32, 10], [32], [32],
  ];
  const x = randomValues(xShape);
  const params = shapes.map((s) => randomValues(s).map((v) => (s.length === 1 ? 1 + 0.3 * v : 0.3 * v)));
  const labels = new Float32Array(20);
  labels[3] = 1; labels[10 + 7] = 1;
  const results: Record<string, Float32Array[]> = {};
  for (const backend of ['cpu', 'wasm'] as const) {
    const out: Float32Array[] = [];
    const n = shapes.length + 1;
    for (let which = 0; which <= n; which++) {
      out.push(await on(backend, () => {
        const inputs = [tf.tensor4d(x, xShape), ...params.map((v, i) => tf.tensor(v, shapes[i]))];
        const f = (...ts: tf.Tensor[]) => network(ts[0] as tf.Tensor4D, [...ts.slice(1), tf.tensor2d(labels, [2, 10])]);
        if (which === n) return f(...inputs);
        return tf.grads(f)(inputs)[which];
      }));
    }
    results[backend] = out;
  }
  const names = ['x', 'conv3x3', 'conv1x7', 'conv7x1', 'dilated3x3', 'depthwise5x5', 'pointwise', 'depthwise3x3/2',
    'pointwise/2', 'conv1x1 after pools', 'conv1x1 factorized', 'dense', 'bn gamma', 'bn beta', 'loss'];
  results.wasm.forEach((v, i) => assertClose(v, results.cpu[i], `network ${names[i]}`, NETWORK_TOL));
  // The comparison means something only if the gradients are not all zero.
  assert.ok(results.cpu.slice(0, -1).every((g) => g.some((v) => Math.abs(v) > 1e-6)), 'some gradient is all zeros');
});
