import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { OPERATIONS } from '@nasnet/search-space';
import { buildNetwork, trainableParamCount } from '../src/index.js';
import { tfc, uniformGenotype } from './support.js';

// CIFAR layout, N = 1: normal (16x16), reduction, normal (8x8), reduction, normal (4x4).
const OPTIONS = { layout: 'cifar' as const, cells: 1, initialFilters: 4, imageSize: 16, numClasses: 10, seed: 5 };

for (const op of OPERATIONS) {
  test(`network - ${op} in every block of normal and reduction cells builds with the planned shapes and parameters and trains`, () => {
    const { model, plan } = buildNetwork(uniformGenotype(op), OPTIONS);
    assert.equal(trainableParamCount(model), plan.paramCount);
    assert.deepEqual(
      plan.cells.map((c) => [c.type, ...c.output]),
      [
        ['normal', 16, 16, 20],
        ['reduction', 8, 8, 40],
        ['normal', 8, 8, 40],
        ['reduction', 4, 4, 80],
        ['normal', 4, 4, 80],
      ],
    );
    // Run the model and compare every cell's real output shape with the plan.
    const probe = tfl.model({
      inputs: model.inputs,
      outputs: [...plan.cells.map((c) => model.getLayer(c.outputLayer).output as tfl.SymbolicTensor), model.outputs[0] as tfl.SymbolicTensor],
    });
    const x = tfc.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 9);
    const outs = probe.predict(x) as tfc.Tensor[];
    plan.cells.forEach((c, i) => assert.deepEqual(outs[i]?.shape, [2, ...c.output], `cell ${c.index} (${c.type})`));
    const logits = outs[outs.length - 1] as tfc.Tensor;
    assert.deepEqual(logits.shape, [2, 10]);
    assert.ok(Array.from(logits.dataSync()).every(Number.isFinite));
    // Training mode differentiates: every trainable tensor gets a finite, non-zero gradient.
    const { value, grads } = tfc.variableGrads(() => tfc.mean(tfc.square(model.apply(x, { training: true }) as tfc.Tensor)) as tfc.Scalar);
    assert.equal(Object.keys(grads).length, model.trainableWeights.length);
    for (const [name, g] of Object.entries(grads)) {
      const v = g.dataSync();
      assert.ok(v.every(Number.isFinite), `non-finite gradient for ${name}`);
      assert.ok(v.some((e) => e !== 0), `zero gradient for ${name}`);
    }
    tfc.dispose([x, value, ...outs, ...Object.values(grads)]);
  });
}
