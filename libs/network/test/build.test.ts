import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import { DropPath, InvalidNetworkOptionError, SeededDropout, WeightCopyError, buildNetwork, copyWeights, planTotals, trainableParamCount } from '../src/index.js';
import { tfc } from './support.js';

const SMALL = { cells: 1, initialFilters: 4, imageSize: 8, numClasses: 5 };

test('build - the same seed builds identical weights, another seed different ones', () => {
  const a = buildNetwork(NASNET_A, { ...SMALL, seed: 1 }).model;
  const b = buildNetwork(NASNET_A, { ...SMALL, seed: 1 }).model;
  const c = buildNetwork(NASNET_A, { ...SMALL, seed: 2 }).model;
  const wa = a.getWeights();
  const wb = b.getWeights();
  const wc = c.getWeights();
  assert.equal(wa.length, wb.length);
  assert.deepEqual(a.weights.map((w) => w.originalName), b.weights.map((w) => w.originalName));
  wa.forEach((w, i) => assert.deepEqual(w.dataSync(), wb[i]?.dataSync(), a.weights[i]?.originalName));
  const stem = a.weights.findIndex((w) => w.originalName === 'stem_conv/kernel');
  assert.notDeepEqual(wa[stem]?.dataSync(), wc[stem]?.dataSync());
  // Different layers of one model do not share initial values.
  const k1 = a.getLayer('cell0_in0_conv').getWeights()[0] as tfc.Tensor;
  const k2 = a.getLayer('cell2_in0_conv').getWeights()[0] as tfc.Tensor;
  assert.notDeepEqual(k1.dataSync().slice(0, 8), k2.dataSync().slice(0, 8));
});

test('build - ImageNet layout with auxiliary head matches its plan', () => {
  // 32x32 input: stem conv (valid, stride 2) 15x15, stem cells 8x8 and 4x4, stacks 4, 2, 1.
  const { model, plan } = buildNetwork(NASNET_A, { layout: 'imagenet', cells: 1, initialFilters: 8, imageSize: 32, numClasses: 6, seed: 3 });
  assert.equal(trainableParamCount(model), plan.paramCount);
  assert.deepEqual(plan.cells.map((c) => c.output[0]), [8, 4, 4, 2, 2, 1, 1]);
  assert.deepEqual(plan.cells.map((c) => c.filters), [2, 4, 8, 16, 16, 32, 32]);
  const x = tfc.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
  assert.deepEqual((model.predict(x) as tfc.Tensor).shape, [2, 6]);

  const aux = buildNetwork(NASNET_A, { cells: 1, initialFilters: 4, imageSize: 16, numClasses: 4, auxHead: true, seed: 3 });
  assert.equal(trainableParamCount(aux.model), planTotals(aux.plan, { includeAux: true }).paramCount);
  assert.equal(aux.model.outputs.length, 2);
  const [logits, auxLogits] = aux.model.predict(tfc.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 2)) as tfc.Tensor[];
  assert.deepEqual(logits?.shape, [2, 4]);
  assert.deepEqual(auxLogits?.shape, [2, 4]);
});

test('build - invalid build options are rejected with the field named', () => {
  const field = (name: string, extra: object) =>
    assert.throws(() => buildNetwork(NASNET_A, { ...SMALL, seed: 1, ...extra }), (e: unknown) => e instanceof InvalidNetworkOptionError && e.field === name);
  field('seed', { seed: 1.5 });
  field('dropPathKeepProb', { dropPathKeepProb: 0 });
  field('totalSteps', { totalSteps: Number.NaN });
});

test('build - the inference model has no aux head, drop path or dropout, and takes the trained weights', () => {
  const options = { cells: 1, initialFilters: 4, imageSize: 16, numClasses: 4, denseDropout: 0.5 };
  const trained = buildNetwork(NASNET_A, { ...options, initialFilters: 6, seed: 5, dropPathKeepProb: 0.7 });
  const withAux = buildNetwork(NASNET_A, { ...options, auxHead: true, seed: 5, dropPathKeepProb: 0.7 });
  const inference = buildNetwork(NASNET_A, { ...options, auxHead: true, seed: 6, dropPathKeepProb: 0.7, inference: true });
  assert.ok(withAux.model.layers.some((l) => l.name.startsWith('aux_')));
  assert.ok(withAux.model.layers.some((l) => l instanceof DropPath) && withAux.model.layers.some((l) => l instanceof SeededDropout));
  assert.equal(inference.model.outputs.length, 1);
  assert.ok(!inference.model.layers.some((l) => l.name.startsWith('aux_') || l instanceof DropPath || l instanceof SeededDropout));
  assert.equal(trainableParamCount(inference.model), withAux.plan.paramCount);
  copyWeights(withAux.model, inference.model);
  const x = tfc.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 4);
  const [expected] = withAux.model.predict(x) as tfc.Tensor[];
  const got = inference.model.predict(x) as tfc.Tensor;
  assert.deepEqual(Array.from(got.dataSync()), Array.from(expected!.dataSync()));
  // A model of another size cannot take them, and the error names the layer.
  assert.throws(() => copyWeights(withAux.model, trained.model), (e: unknown) => e instanceof WeightCopyError && e.layer === 'stem_conv' && /shapes \[3x3x3x18\] cannot take \[3x3x3x12\]/.test(e.message));
  for (const m of [trained, withAux, inference]) m.model.dispose();
});
