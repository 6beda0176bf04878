/**
 * variableGradsReleasing against tf.variableGrads: the same gradients (the
 * same ops in the same order, so equal to the bit) on a graph with fan-out,
 * a multi-output op, convolutions and our batch-norm kernel; nothing
 * leaked; and less memory held while the backward pass runs.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@nasnet/random';
import { batchNormTraining, gradientsReleasing, initBackend, variableGradsReleasing, GradientComputationError } from '../src/index.js';

const quiet = { log: () => {} };

before(async () => {
  await initBackend('wasm', quiet);
});

function randomVariable(rng: Rng, shape: number[], name: string): tf.Variable {
  const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.3);
  return tf.variable(tf.tensor(v, shape), true, name);
}

/** A small cell-like graph: x feeds two branches (fan-out), a split feeds a concat, BN, ReLU, a residual add. */
function makeLoss(vars: Record<string, tf.Variable>, x: tf.Tensor4D): () => tf.Scalar {
  return () => {
    const a = tf.conv2d(tf.relu(x), vars.w1 as tf.Tensor4D, 1, 'same');
    const { y } = batchNormTraining(a, vars.gamma as tf.Tensor1D, vars.beta as tf.Tensor1D);
    const b = tf.depthwiseConv2d(tf.relu(x), vars.dw as tf.Tensor4D, 1, 'same') as tf.Tensor4D;
    const [p, q] = tf.split(tf.add(y, b), 2, 3);
    const c = tf.concat([tf.relu(q!), p!], 3);
    const d = tf.add(tf.conv2d(c as tf.Tensor4D, vars.w2 as tf.Tensor4D, 1, 'same'), c);
    return tf.mean(tf.square(tf.add(d, tf.mul(d, vars.gamma)))) as tf.Scalar;
  };
}

test('releasing gradients - equal tf.variableGrads to the bit and leak nothing', () => {
  const rng = new Rng(12);
  const vars = {
    w1: randomVariable(rng, [3, 3, 4, 4], 'rg_w1'),
    gamma: randomVariable(rng, [4], 'rg_gamma'),
    beta: randomVariable(rng, [4], 'rg_beta'),
    dw: randomVariable(rng, [3, 3, 4, 1], 'rg_dw'),
    w2: randomVariable(rng, [1, 1, 4, 4], 'rg_w2'),
  };
  const list = Object.values(vars);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 6 * 4 }, () => rng.normal()), [2, 6, 6, 4]);
  try {
    const plain = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(makeLoss(vars, x), list);
      return [value, ...list.map((v) => grads[v.name]!)];
    });
    const before = tf.memory().numTensors;
    const released = tf.tidy(() => {
      const { value, grads } = variableGradsReleasing(makeLoss(vars, x), list);
      return [value, ...list.map((v) => grads[v.name]!)];
    });
    // Only the returned loss and gradients remain: every saved and intermediate tensor went.
    assert.equal(tf.memory().numTensors, before + released.length);
    assert.equal(released.length, plain.length);
    for (let i = 0; i < plain.length; i++) {
      assert.deepEqual(released[i]!.shape, plain[i]!.shape);
      assert.deepEqual(Array.from(released[i]!.dataSync()), Array.from(plain[i]!.dataSync()), `tensor ${i} differs`);
    }
    tf.dispose([...plain, ...released]);
  } finally {
    tf.dispose([x, ...list]);
  }
});

test('releasing gradients - the backward pass holds less than tf.variableGrads does', () => {
  // A chain of 12 ops on 1 MiB activations; the first op's gradient runs last and records the heap's tensor bytes then.
  const rng = new Rng(5);
  const w = randomVariable(rng, [64, 64, 64], 'rg_chain_w');
  let bytesAtLastGradient = 0;
  const probe = tf.customGrad((...args: Array<tf.Tensor | ((save: tf.Tensor[]) => void)>) => ({
    value: tf.mul(args[0] as tf.Tensor, 1),
    gradFunc: (dy: tf.Tensor) => { bytesAtLastGradient = tf.memory().numBytes; return tf.mul(dy, 1); },
  }));
  const loss = (): tf.Scalar => {
    let h = probe(w) as tf.Tensor;
    for (let i = 0; i < 12; i++) h = i % 2 === 0 ? tf.sigmoid(h) : tf.mul(h, h);
    return tf.sum(h) as tf.Scalar;
  };
  try {
    tf.tidy(() => { tf.variableGrads(loss, [w]); });
    const plainBytes = bytesAtLastGradient;
    tf.tidy(() => { variableGradsReleasing(loss, [w]); });
    const releasedBytes = bytesAtLastGradient;
    const activation = 64 * 64 * 64 * 4;
    // tfjs holds every activation and every dy to the end (~2 x 12 x 1 MiB); releasing keeps a few.
    assert.ok(plainBytes > 12 * activation, `tf.variableGrads held ${plainBytes} bytes`);
    assert.ok(releasedBytes < 6 * activation, `variableGradsReleasing held ${releasedBytes} bytes`);
  } finally {
    w.dispose();
  }
});

test('releasing gradients - a seed dy, clear errors for a non-scalar loss or no path, nothing left by a failing forward pass', () => {
  const rng = new Rng(3);
  const w = randomVariable(rng, [5], 'rg_seed_w');
  const unused = randomVariable(rng, [2], 'rg_unused');
  try {
    tf.tidy(() => {
      const dy = tf.tensor1d([1, 2, 3, 4, 5]);
      const { grads } = gradientsReleasing(() => tf.mul(w, w), [w], dy);
      const expected = tf.mul(tf.mul(w, 2), dy);
      assert.deepEqual(Array.from(grads[0]!.dataSync()), Array.from(expected.dataSync()));
    });
    const tensors = tf.memory().numTensors;
    assert.throws(() => variableGradsReleasing(() => tf.mul(w, 2) as unknown as tf.Scalar, [w]), (e: unknown) =>
      e instanceof GradientComputationError && /scalar, got a rank-1/.test(e.message));
    assert.throws(() => variableGradsReleasing(() => tf.sum(w), [unused]), (e: unknown) =>
      e instanceof GradientComputationError && /does not depend/.test(e.message));
    assert.throws(() => variableGradsReleasing(() => {
      tf.relu(tf.mul(w, w)); // saved for a gradient that never runs
      throw new RangeError('forward pass fails half way');
    }, [w]), RangeError);
    assert.equal(tf.memory().numTensors, tensors, 'a failed call leaves no tensor behind');
  } finally {
    tf.dispose([w, unused]);
  }
});
