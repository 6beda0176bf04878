/**
 * Speed of our wasm training kernels at the shapes of a search-time NASNet
 * child (batch 32; 32x32 at 32 channels, 16x16 at 64, 8x8 at 128), next to
 * the XNNPACK forward ops and, where tfjs has one, tfjs's own wasm kernel
 * (data movement included: Concat, SplitV, Slice, PadV2, Identity).
 * Ends with a whole forward+backward of conv-BN-ReLU stacks on wasm vs cpu.
 *
 *   node --import tsx libs/engine/bench/kernels.ts            # everything (~2 min)
 *   node --import tsx libs/engine/bench/kernels.ts --quick    # 32x32 only, no cpu stack
 *
 * Timing: each case runs three times to warm up (V8 tiers wasm up after the
 * first calls), then the best of 5 runs is reported. Times are this
 * process's CPU time, not wall time: the wasm backend runs on one thread,
 * and CPU time stays steady when other jobs share the machine (wall time
 * does not); the best run drops V8's background compiles and GC.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchNormTraining, initBackend } from '../src/index.js';
import { Rng } from '@nasnet/random';

const quick = process.argv.includes('--quick');
const BATCH = 32;
const STAGES: ReadonlyArray<readonly [number, number]> = quick ? [[32, 32]] : [[32, 32], [16, 64], [8, 128]];

const rng = new Rng(20170721);
function randomTensor(shape: number[]): tf.Tensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return tf.tensor(values, shape, 'float32');
}

/** Best of `reps` process CPU times (user + system) of `run`, in ms. */
function bestMs(run: () => tf.Tensor | tf.Tensor[], reps = 5): number {
  const once = () => {
    const t0 = process.cpuUsage();
    const out = run();
    // wasm and cpu kernels finish before returning; reading results back
    // (dataSync copies them off the heap) is not part of a training step.
    for (const t of Array.isArray(out) ? out : [out]) t.dispose();
    const used = process.cpuUsage(t0);
    return (used.user + used.system) / 1000;
  };
  once(); once(); once();
  return Math.min(...Array.from({ length: reps }, once));
}

const kernel = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) =>
  () => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

interface Row { name: string; ms: number; gflops?: number; note?: string }
const rows: Row[] = [];
function record(name: string, ms: number, flops?: number, note?: string): void {
  const row: Row = { name, ms, gflops: flops ? flops / ms / 1e6 : undefined, note };
  rows.push(row);
  const gf = row.gflops === undefined ? '' : `${row.gflops.toFixed(1).padStart(6)} GFLOP/s`;
  console.log(`${name.padEnd(58)} ${ms.toFixed(2).padStart(9)} ms ${gf.padEnd(16)} ${note ?? ''}`);
}

/** tfjs's own wasm kernels that ours replace, timed before we register ours. */
function baseline(h: number, c: number): Map<string, number> {
  const out = new Map<string, number>();
  const x = randomTensor([BATCH, h, h, c]);
  const w = randomTensor([3, 3, c, c]);
  const dy = randomTensor([BATCH, h, h, c]);
  out.set('Conv2DBackpropInput 3x3', bestMs(kernel('Conv2DBackpropInput', { dy, filter: w },
    { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }), 3));
  for (const k of [3, 7]) {
    const y = tf.maxPool(x as tf.Tensor4D, k, 1, 'same');
    out.set(`MaxPoolGrad ${k}x${k}`, bestMs(kernel('MaxPoolGrad', { dy, input: x, output: y },
      { filterSize: k, strides: 1, pad: 'same' }), 3));
    out.set(`AvgPoolGrad ${k}x${k}`, bestMs(kernel('AvgPoolGrad', { dy, input: x },
      { filterSize: k, strides: 1, pad: 'same' }), 3));
    y.dispose();
  }
  for (const k of [3, 5, 7]) {
    const f = randomTensor([k, k, c, 1]);
    out.set(`DepthwiseConv2dNative ${k}x${k}`, bestMs(kernel('DepthwiseConv2dNative', { x, filter: f },
      { strides: [1, 1], pad: 'same', dilations: [1, 1] }), 3));
    f.dispose();
  }
  const w1 = randomTensor([1, 1, c, c]);
  out.set('Conv2D 1x1', bestMs(kernel('Conv2D', { x, filter: w1 }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 }), 3));
  const copies = copyOps(h, c);
  for (const [name, run] of copies.ops) out.set(name, bestMs(run, 3));
  tf.dispose([x, w, dy, w1, ...copies.inputs]);
  return out;
}

/**
 * NASNet's data movement at one stage: a normal cell's output concat (six
 * inputs of C/2 channels), its gradient (SplitV), a channel slice of it,
 * the factorized reduction's one-pixel pad, and the engine's clone
 * (Identity) of a saved activation.
 */
function copyOps(h: number, c: number): { ops: Array<[string, () => tf.Tensor | tf.Tensor[]]>; inputs: tf.Tensor[] } {
  const parts = Array.from({ length: 6 }, () => randomTensor([BATCH, h, h, c / 2]));
  const cat = tf.concat(parts, 3);
  const x = parts[0] as tf.Tensor;
  const ops: Array<[string, () => tf.Tensor | tf.Tensor[]]> = [
    ['Concat 6 x C/2 channels', () => tf.engine().runKernel('Concat', parts as unknown as tf.NamedTensorMap, { axis: 3 }) as tf.Tensor],
    ['SplitV 3C into 6 x C/2', () => tf.engine().runKernel('SplitV', { x: cat }, { numOrSizeSplits: 6, axis: 3 }) as unknown as tf.Tensor[]],
    ['Slice C/2 channels of 3C', () => tf.engine().runKernel('Slice', { x: cat }, { begin: [0, 0, 0, c], size: [-1, -1, -1, c / 2] }) as tf.Tensor],
    ['PadV2 one row and column', () => tf.engine().runKernel('PadV2', { x }, { paddings: [[0, 0], [0, 1], [0, 1], [0, 0]], constantValue: 0 }) as tf.Tensor],
    ['Identity (tape clone)', () => tf.engine().runKernel('Identity', { x }, {}) as tf.Tensor],
  ];
  return { ops, inputs: [...parts, cat] };
}

function copyCases(h: number, c: number, old: Map<string, number>): void {
  const copies = copyOps(h, c);
  for (const [name, run] of copies.ops) {
    const prev = old.get(name);
    record(`${h}x${h}x${c} ${name}`, bestMs(run), undefined, prev !== undefined ? `tfjs wasm: ${prev.toFixed(2)} ms` : '');
  }
  tf.dispose(copies.inputs);
}

function convCases(h: number, c: number, old: Map<string, number>): void {
  const shapes: Array<[string, number, number, number]> = [
    ['1x1', 1, 1, 1], ['3x3', 3, 3, 1], ['1x7', 1, 7, 1], ['7x1', 7, 1, 1], ['3x3 stride 2', 3, 3, 2], ['1x1 stride 2', 1, 1, 2],
  ];
  for (const [label, kh, kw, s] of shapes) {
    const x = randomTensor([BATCH, h, h, c]);
    const w = randomTensor([kh, kw, c, c]);
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const dy = randomTensor(y.shape);
    const flops = 2 * BATCH * y.shape[1] * y.shape[2] * kh * kw * c * c;
    const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC' };
    const tag = `${h}x${h}x${c} conv ${label}`;
    const pointwise = s === 1 && label === '1x1';
    const xnn = pointwise ? old.get('Conv2D 1x1') : undefined;
    record(`${tag} forward (${pointwise ? 'ours' : 'XNNPACK'})`, bestMs(kernel('Conv2D', { x, filter: w }, { ...attrs, dilations: [1, 1] })), flops,
      xnn ? `XNNPACK: ${(flops / xnn / 1e6).toFixed(1)} GFLOP/s` : '');
    const prev = s === 1 && label === '3x3' ? old.get('Conv2DBackpropInput 3x3') : undefined;
    record(`${tag} Conv2DBackpropInput`, bestMs(kernel('Conv2DBackpropInput', { dy, filter: w },
      { ...attrs, inputShape: x.shape })), flops, prev ? `tfjs wasm: ${(flops / prev / 1e6).toFixed(1)} GFLOP/s` : '');
    record(`${tag} Conv2DBackpropFilter`, bestMs(kernel('Conv2DBackpropFilter', { x, dy },
      { ...attrs, filterShape: w.shape })), flops, 'tfjs wasm: none');
    tf.dispose([x, w, y, dy]);
  }
  // NASNet's dilated 3x3 (dilation 2, stride 1).
  const x = randomTensor([BATCH, h, h, c]);
  const w = randomTensor([3, 3, c, c]);
  const dy = randomTensor([BATCH, h, h, c]);
  const flops = 2 * BATCH * h * h * 9 * c * c;
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [2, 2] };
  record(`${h}x${h}x${c} conv 3x3 dilation 2 forward (XNNPACK)`, bestMs(kernel('Conv2D', { x, filter: w }, attrs)), flops);
  record(`${h}x${h}x${c} conv 3x3 dilation 2 Conv2DBackpropInput`, bestMs(kernel('Conv2DBackpropInput', { dy, filter: w },
    { ...attrs, inputShape: x.shape })), flops);
  record(`${h}x${h}x${c} conv 3x3 dilation 2 Conv2DBackpropFilter`, bestMs(kernel('Conv2DBackpropFilter', { x, dy },
    { ...attrs, filterShape: w.shape })), flops);
  tf.dispose([x, w, dy]);
}

function depthwiseCases(h: number, c: number, old: Map<string, number>): void {
  for (const [k, s] of [[3, 1], [5, 1], [7, 1], [5, 2]] as const) {
    const x = randomTensor([BATCH, h, h, c]);
    const w = randomTensor([k, k, c, 1]);
    const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const dy = randomTensor(y.shape);
    const flops = 2 * BATCH * y.shape[1] * y.shape[2] * k * k * c;
    const attrs = { strides: [s, s], pad: 'same', dilations: [1, 1] };
    const tag = `${h}x${h}x${c} depthwise ${k}x${k}${s > 1 ? ' stride 2' : ''}`;
    const xnn = s === 1 ? old.get(`DepthwiseConv2dNative ${k}x${k}`) : undefined;
    record(`${tag} forward`, bestMs(kernel('DepthwiseConv2dNative', { x, filter: w }, attrs)), flops,
      xnn ? `XNNPACK: ${(flops / xnn / 1e6).toFixed(1)} GFLOP/s` : '');
    record(`${tag} BackpropInput`, bestMs(kernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w },
      { ...attrs, inputShape: x.shape })), flops, 'tfjs wasm: none');
    record(`${tag} BackpropFilter`, bestMs(kernel('DepthwiseConv2dNativeBackpropFilter', { x, dy },
      { ...attrs, filterShape: w.shape })), flops, 'tfjs wasm: none');
    tf.dispose([x, w, y, dy]);
  }
}

function poolCases(h: number, c: number, old: Map<string, number>): void {
  for (const [k, s] of [[3, 1], [5, 1], [7, 1], [3, 2]] as const) {
    const x = randomTensor([BATCH, h, h, c]);
    const y = tf.maxPool(x as tf.Tensor4D, k, s, 'same');
    const dy = randomTensor(y.shape);
    const attrs = { filterSize: k, strides: s, pad: 'same' };
    const tag = `${h}x${h}x${c} pool ${k}x${k}${s > 1 ? ' stride 2' : ''}`;
    const fwd = bestMs(kernel('MaxPool', { x }, attrs));
    record(`${tag} MaxPool forward (XNNPACK)`, fwd);
    const oldMax = s === 1 ? old.get(`MaxPoolGrad ${k}x${k}`) : undefined;
    const maxMs = bestMs(kernel('MaxPoolGrad', { dy, input: x, output: y }, attrs));
    record(`${tag} MaxPoolGrad`, maxMs, undefined,
      `${(maxMs / fwd).toFixed(1)}x forward${oldMax ? `; tfjs wasm: ${oldMax.toFixed(1)} ms` : ''}`);
    const afwd = bestMs(kernel('AvgPool', { x }, attrs));
    const oldAvg = s === 1 ? old.get(`AvgPoolGrad ${k}x${k}`) : undefined;
    const avgMs = bestMs(kernel('AvgPoolGrad', { dy, input: x }, attrs));
    record(`${tag} AvgPoolGrad`, avgMs, undefined,
      `${(avgMs / afwd).toFixed(1)}x forward${oldAvg ? `; tfjs wasm: ${oldAvg.toFixed(1)} ms` : ''}`);
    tf.dispose([x, y, dy]);
  }
}

type BatchNorm = (t: tf.Tensor4D) => tf.Tensor4D;
/** Batch norm spelled with tf.moments and elementwise ops (what tfjs offers). */
const composedBn: BatchNorm = (t) => {
  const { mean, variance } = tf.moments(t, [0, 1, 2]);
  return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-3))) as tf.Tensor4D;
};
/** Our fused kernels (gamma 1, beta 0 to match). */
const fusedBn: BatchNorm = (t) => {
  const c = t.shape[3];
  return batchNormTraining(t, tf.ones([c]) as tf.Tensor1D, tf.zeros([c]) as tf.Tensor1D).y as tf.Tensor4D;
};

/** ReLU -> conv 3x3 -> BN per layer; loss = sum. */
const convStack = (bn: BatchNorm) => (x: tf.Tensor4D, filters: tf.Variable[]): tf.Scalar => {
  let h = x;
  for (const w of filters) h = bn(tf.conv2d(tf.relu(h), w as tf.Tensor4D, 1, 'same'));
  return tf.sum(h);
};

/** ReLU -> depthwise k x k -> pointwise 1x1 -> BN, twice (NASNet's separable conv). */
const sepConvStack = (bn: BatchNorm) => (x: tf.Tensor4D, vars: tf.Variable[]): tf.Scalar => {
  let h = x;
  for (let i = 0; i < vars.length; i += 2) {
    h = bn(tf.conv2d(tf.depthwiseConv2d(tf.relu(h), vars[i] as tf.Tensor4D, 1, 'same'), vars[i + 1] as tf.Tensor4D, 1, 'same'));
  }
  return tf.sum(h);
};

function stepMs(loss: (x: tf.Tensor4D, v: tf.Variable[]) => tf.Scalar, x: tf.Tensor4D, vars: tf.Variable[], reps: number): number {
  return bestMs(() => {
    const { value, grads } = tf.variableGrads(() => loss(x, vars), vars);
    return [value, ...Object.values(grads)];
  }, reps);
}

async function stacks(): Promise<void> {
  const make = (shapes: number[][]) => shapes.map((s) => tf.variable(tf.mul(randomTensor(s), 0.1)));
  const x = randomTensor([BATCH, 32, 32, 32]) as tf.Tensor4D;
  // Batch norm and ReLU alone, forward + backward.
  const bnLoss = (bn: BatchNorm) => (t: tf.Tensor4D) => tf.sum(tf.mul(bn(t), t));
  for (const [label, bn] of [['tf.moments + elementwise', composedBn], ['batchNormTraining (fused)', fusedBn]] as const) {
    record(`batch norm ${label} b32 32x32x32 fwd+bwd`, bestMs(() => tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => bnLoss(bn)(t as tf.Tensor4D))([x]);
      return [value, ...grads];
    })), undefined, 'includes a mul + sum loss (~7 ms)');
  }
  // Full size, wasm only (cpu would take minutes).
  const convVars = make([[3, 3, 32, 32], [3, 3, 32, 32], [3, 3, 32, 32]]);
  const convFlops = 3 * 3 * 2 * BATCH * 32 * 32 * 9 * 32 * 32; // forward + 2 backward convs per layer
  for (const [label, bn] of [['tf.moments BN', composedBn], ['fused BN', fusedBn]] as const) {
    record(`stack 3x(ReLU-conv3x3-${label}) b32 32x32x32 fwd+bwd, wasm`, stepMs(convStack(bn), x, convVars, 3), convFlops,
      'conv FLOPs only; PyTorch 1.13, 2 cores: 36 ms per conv3x3 fwd+bwd (DESIGN.md 3)');
  }
  for (const k of [3, 5, 7]) {
    const sepVars = make([[k, k, 32, 1], [1, 1, 32, 32], [k, k, 32, 1], [1, 1, 32, 32]]);
    const sepFlops = 3 * 2 * (2 * BATCH * 32 * 32 * 32 * (k * k + 32));
    record(`sep conv ${k}x${k} (2x ReLU-dw-pw-fused BN) b32 32x32x32 fwd+bwd, wasm`, stepMs(sepConvStack(fusedBn), x, sepVars, 3),
      sepFlops, 'conv FLOPs only');
    tf.dispose(sepVars);
  }
  tf.dispose([x, ...convVars]);
  if (quick) return;
  // Same small stack on both backends: batch 4, 16x16x16, three layers
  // (batchNormTraining takes tf.moments on cpu).
  for (const backend of ['wasm', 'cpu']) {
    await initBackend(backend as 'wasm' | 'cpu', { log: () => {} });
    const xs = randomTensor([4, 16, 16, 16]) as tf.Tensor4D;
    const vs = make([[3, 3, 16, 16], [3, 3, 16, 16], [3, 3, 16, 16]]);
    const flops = 3 * 3 * 2 * 4 * 16 * 16 * 9 * 16 * 16;
    record(`stack 3x(ReLU-conv3x3-BN) b4 16x16x16 fwd+bwd, ${backend}`, stepMs(convStack(fusedBn), xs, vs, backend === 'cpu' ? 1 : 5),
      flops, 'conv FLOPs only');
    tf.dispose([xs, ...vs]);
  }
}

async function main(): Promise<void> {
  // tfjs's own kernels first, before initBackend registers ours over them.
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  const old = new Map<string, number>();
  for (const [h, c] of STAGES) for (const [k, v] of baseline(h, c)) old.set(`${h}:${k}`, v);
  const choice = await initBackend('wasm', { log: () => {} });
  console.log(`backend: ${choice.backend} (${choice.reason})`);
  for (const [h, c] of STAGES) {
    const prev = new Map([...old].filter(([k]) => k.startsWith(`${h}:`)).map(([k, v]) => [k.slice(k.indexOf(':') + 1), v]));
    copyCases(h, c, prev);
    convCases(h, c, prev);
    depthwiseCases(h, c, prev);
    poolCases(h, c, prev);
  }
  await stacks();
}

await main();
