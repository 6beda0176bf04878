import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tfc } from './support.js';
import { parseGenotype, type Genotype } from '@nasnet/search-space';
import { buildNetwork, planNetwork, trainableParamCount } from '../src/index.js';

// Regression: a block merging one state with itself through identities
// (`id(1) ++ id(1)`) made tfjs-layers dispose that tensor while a later layer
// still read it ("Cannot read properties of undefined (reading 'backend')").
// A cell the PPO controller proposed in a real search (text form below).
const twin: Genotype = parseGenotype(
  'normal: id(1) ++ id(1); max7x7(2) ++ 1x7_7x1(2); id(3) ++ max7x7(0); sep7x7(3) ++ conv1x1(1); conv3x3(1) ++ sep5x5(3) => concat(4,5,6) | ' +
  'reduction: id(0) ++ id(1); sep3x3(2) + sep5x5(1); max7x7(0) ++ max3x3(3); max7x7(0) + sep5x5(1); 1x7_7x1(2) + sep5x5(1) => concat(4,5,6)',
);

test('build - merges that repeat one input train and predict, with the planned parameter count', async () => {
  const opts = { layout: 'cifar' as const, cells: 1, initialFilters: 4, imageSize: 8, channels: 3, numClasses: 10 };
  const { model } = buildNetwork(twin, { ...opts, seed: 1 });
  assert.equal(trainableParamCount(model), planNetwork(twin, opts).paramCount);
  const x = tfc.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tfc.Variable }).val);
  const { value, grads } = tfc.variableGrads(() => tfc.mean(tfc.square(model.apply(x, { training: true }) as tfc.Tensor)) as tfc.Scalar, vars);
  assert.ok(Number.isFinite((await value.data())[0]!));
  assert.equal(Object.keys(grads).length, vars.length);
  const y = model.predict(x) as tfc.Tensor;
  assert.deepEqual(y.shape, [2, 10]);
  assert.ok((await y.data()).every(Number.isFinite));
  tfc.dispose([x, value, y, ...Object.values(grads)]);
  model.dispose();
});
