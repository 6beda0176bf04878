import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import type { Genotype } from '@nasnet/search-space';
import {
  CellConstructionError,
  FeatureMapTooSmallError,
  InvalidNetworkOptionError,
  cellOutputWidth,
  initialFiltersFor,
  planNetwork,
  planTotals,
} from '../src/index.js';

const within = (actual: number, expected: number, rel: number): boolean => Math.abs(actual - expected) <= rel * expected;

test('plan - NASNet-A 6@768 on CIFAR-10 has the paper\'s 3.3M parameters (within 2%)', () => {
  const plan = planNetwork(NASNET_A, { layout: 'cifar', cells: 6, filters: 768, imageSize: 32, channels: 3, numClasses: 10, auxHead: false });
  console.log(`NASNet-A 6@768 CIFAR: paramCount ${plan.paramCount}, multAdds ${plan.multAdds}`);
  assert.ok(within(plan.paramCount, 3.3e6, 0.02), `paramCount ${plan.paramCount}`);
  assert.equal(plan.options.initialFilters, 32);
  assert.equal(plan.options.stemFilters, 96);
  assert.equal(plan.totalCells, 20);
  // Stacks at 32x32, 16x16, 8x8; the penultimate layer has F = 768 channels.
  const last = plan.cells[plan.cells.length - 1];
  assert.deepEqual(last?.output, [8, 8, 768]);
  assert.deepEqual(plan.cells.map((c) => c.type).join(','), [
    ...Array(6).fill('normal'), 'reduction', ...Array(6).fill('normal'), 'reduction', ...Array(6).fill('normal'),
  ].join(','));
  assert.deepEqual(plan.cells[6]?.output, [16, 16, 256]);
});

test('plan - NASNet-A 4@1056 at 224x224 has 5.3M parameters and 564M mult-adds (within 2%)', () => {
  const plan = planNetwork(NASNET_A, { layout: 'imagenet', cells: 4, filters: 1056, imageSize: 224, numClasses: 1000 });
  console.log(`NASNet-A 4@1056 ImageNet: paramCount ${plan.paramCount}, multAdds ${plan.multAdds}`);
  assert.ok(within(plan.paramCount, 5.3e6, 0.02), `paramCount ${plan.paramCount}`);
  assert.ok(within(plan.multAdds, 564e6, 0.02), `multAdds ${plan.multAdds}`);
  // The reference implementation (TF-slim nasnet_mobile, also Keras NASNetMobile)
  // reports exactly 5,289,978 trainable parameters in 742 trainable tensors.
  assert.equal(plan.paramCount, 5_289_978);
  const tensors = plan.layers.reduce((n, l) => n + (l.spec.kind === 'batch_norm' || l.spec.kind === 'dense' ? 2 : l.paramCount > 0 ? 1 : 0), 0);
  assert.equal(tensors, 742);
  assert.equal(plan.options.initialFilters, 44);
  assert.equal(plan.totalCells, 16);
  assert.deepEqual(plan.cells.slice(0, 2).map((c) => [c.filters, ...c.output]), [[11, 56, 56, 44], [22, 28, 28, 88]]);
  assert.deepEqual(plan.cells[plan.cells.length - 1]?.output, [7, 7, 1056]);
});

test('plan - NASNet-A 6@4032 at 331x331 matches the reference large model exactly', () => {
  const plan = planNetwork(NASNET_A, { layout: 'imagenet', cells: 6, filters: 4032, imageSize: 331, stemMultiplier: 3 });
  // Reference (nasnet_large / Keras NASNetLarge): 88,753,150 trainable parameters;
  // the paper (Table 2) gives 23.8B mult-adds.
  assert.equal(plan.paramCount, 88_753_150);
  assert.ok(within(plan.multAdds, 23.8e9, 0.02), `multAdds ${plan.multAdds}`);
  assert.equal(plan.options.initialFilters, 168);
});

test('plan - the imagenet-large layout is NASNet-A Large: 6@4032 at 331, stem x3, 88,753,150 parameters by default', () => {
  const plan = planNetwork(NASNET_A, { layout: 'imagenet-large' });
  assert.deepEqual([plan.options.cells, plan.options.filters, plan.options.imageSize, plan.options.stemMultiplier], [6, 4032, 331, 3]);
  assert.equal(plan.options.skipReductionLayerInput, true);
  // Keras NASNetLarge (a port of the reference nasnet_large) reports 88,753,150 trainable parameters.
  assert.equal(plan.paramCount, 88_753_150);
  assert.equal(plan.layers.find((l) => l.name === 'stem_conv')?.outputShape[2], 96);
});

test('plan - skip_reduction_layer_input: a cell after a reduction reads the reduction cell\'s h_{i-1}', () => {
  const options = { layout: 'imagenet' as const, cells: 2, initialFilters: 8, imageSize: 64, numClasses: 3 };
  const plain = planNetwork(NASNET_A, options);
  const skip = planNetwork(NASNET_A, { ...options, skipReductionLayerInput: true });
  // Where a cell's h_{i-1} enters: the ReLU of its factorized reduction (h_{i-1} has twice h_i's size after a reduction).
  const h1Source = (plan: typeof plain, cell: number) => plan.layers.find((l) => l.name === `cell${cell}_in1_reduce_relu`)?.inputs[0];
  // Cells: 0, 1 stem; 2, 3 normal; 4 reduction; 5, 6 normal; 7 reduction; 8, 9 normal.
  assert.deepEqual(plain.cells.map((c) => c.type[0]).join(''), 'rrnnrnnrnn');
  // Without skip, cell 5 reads cell 3 (just before the reduction); with it, cell 2 (the reduction cell 4's own h_{i-1}).
  assert.equal(h1Source(plain, 5), plain.cells[3]?.outputLayer);
  assert.equal(h1Source(skip, 5), skip.cells[2]?.outputLayer);
  assert.equal(h1Source(plain, 8), plain.cells[6]?.outputLayer);
  assert.equal(h1Source(skip, 8), skip.cells[5]?.outputLayer);
  // Cells not right after a reduction read the same input either way.
  assert.equal(skip.layers.find((l) => l.name === 'cell6_b0_right_sep1_relu')?.inputs[0], plain.layers.find((l) => l.name === 'cell6_b0_right_sep1_relu')?.inputs[0]);
  // The reduction cell's own inputs do not change.
  assert.deepEqual(skip.cells[4]?.previous, plain.cells[4]?.previous);
  assert.deepEqual(skip.cells[5]?.previous, skip.cells[2]?.output);
  // Same channels on both sources, so the same counts (the Large model's 88.75M does not depend on it).
  assert.equal(skip.paramCount, plain.paramCount);
});

test('plan - layer counts follow the conv, separable, BN and dense formulas', () => {
  const plan = planNetwork(NASNET_A, { cells: 1, initialFilters: 4, imageSize: 8, numClasses: 3 });
  const byName = new Map(plan.layers.map((l) => [l.name, l]));
  // Stem: 3x3 conv 3 -> 12 at 8x8, no bias; BN has gamma and beta.
  assert.equal(byName.get('stem_conv')?.paramCount, 3 * 3 * 3 * 12);
  assert.equal(byName.get('stem_conv')?.multAdds, 8 * 8 * 3 * 3 * 3 * 12);
  assert.equal(byName.get('stem_bn')?.paramCount, 24);
  // First cell, block 0 left: sep 5x5 on h_i (4 channels after the 1x1).
  assert.equal(byName.get('cell0_b0_left_sep1_depthwise')?.paramCount, 25 * 4);
  assert.equal(byName.get('cell0_b0_left_sep1_depthwise')?.multAdds, 8 * 8 * 25 * 4);
  assert.equal(byName.get('cell0_b0_left_sep1_pointwise')?.paramCount, 4 * 4);
  // Block 0 right reads the first cell's unadjusted h_{i-1}: the 12-channel stem output.
  assert.equal(byName.get('cell0_b0_right_sep1_depthwise')?.paramCount, 9 * 12);
  assert.equal(byName.get('cell0_b0_right_sep1_pointwise')?.paramCount, 12 * 4);
  // Classifier: global pool of the last cell (4 x 4 x 6 = 96 channels) then FC with bias.
  assert.equal(byName.get('logits')?.paramCount, 96 * 3 + 3);
  assert.equal(plan.options.filters, 96);
  const sum = plan.layers.reduce((a, l) => a + l.paramCount, 0);
  assert.equal(plan.paramCount, sum);
  assert.equal(plan.cells.reduce((a, c) => a + c.paramCount, 0) + byName.get('stem_conv')!.paramCount + 24 + 96 * 3 + 3, plan.paramCount);
});

test('plan - auxiliary head is flagged and excluded from totals by default', () => {
  const without = planNetwork(NASNET_A, { cells: 6, filters: 768 });
  const withAux = planNetwork(NASNET_A, { cells: 6, filters: 768, auxHead: true });
  assert.equal(withAux.paramCount, without.paramCount);
  assert.equal(withAux.multAdds, without.multAdds);
  // At 16x16 x 384 (6 x 64): 5x5/3 pool -> 4x4, 1x1 conv -> 128, 4x4 conv -> 768, FC 768 -> 10.
  const auxLayers = withAux.layers.filter((l) => l.aux);
  assert.ok(auxLayers.length > 0 && withAux.auxLogits === 'aux_logits');
  const aux = new Map(auxLayers.map((l) => [l.name, l]));
  assert.deepEqual(aux.get('aux_pool')?.outputShape, [4, 4, 384]);
  assert.equal(aux.get('aux_proj_conv')?.paramCount, 384 * 128);
  assert.equal(aux.get('aux_conv')?.paramCount, 4 * 4 * 128 * 768);
  assert.equal(aux.get('aux_logits')?.paramCount, 768 * 10 + 10);
  assert.equal(withAux.auxParamCount, auxLayers.reduce((a, l) => a + l.paramCount, 0));
  const totals = planTotals(withAux, { includeAux: true });
  assert.equal(totals.paramCount, withAux.paramCount + withAux.auxParamCount);
  assert.equal(totals.multAdds, withAux.multAdds + withAux.auxMultAdds);
  assert.deepEqual(planTotals(withAux), { paramCount: withAux.paramCount, multAdds: withAux.multAdds });
  // The head reads the last normal cell before the second reduction (cell 12 of 20).
  const auxRelu = aux.get('aux_relu');
  assert.equal(auxRelu?.inputs[0], withAux.cells[12]?.outputLayer);
  assert.equal(withAux.cells[13]?.type, 'reduction');
});

test('plan - initialFiltersFor divides N@F by 4 x the normal cell output width', () => {
  assert.equal(cellOutputWidth(NASNET_A.normal), 6);
  assert.equal(cellOutputWidth(NASNET_A.reduction), 4);
  assert.equal(initialFiltersFor(NASNET_A, 768), 32);
  assert.equal(initialFiltersFor(NASNET_A, 1056), 44);
  assert.equal(initialFiltersFor(NASNET_A, 4032), 168);
  // A concat-combined block is two F wide.
  const wide: Genotype = {
    normal: { blocks: [{ inputs: [0, 1], ops: ['identity', 'conv3x3'], combine: 'concat' }], concat: [1, 2] },
    reduction: NASNET_A.reduction,
  };
  assert.equal(cellOutputWidth(wide.normal), 3);
  assert.equal(initialFiltersFor(wide, 96), 8);
  assert.throws(() => initialFiltersFor(NASNET_A, 770), (e: unknown) => e instanceof InvalidNetworkOptionError && e.field === 'filters');
  // Given initialFilters, filters is derived from it.
  assert.equal(planNetwork(NASNET_A, { cells: 1, initialFilters: 5, imageSize: 8 }).options.filters, 120);
});

test('plan - invalid options are rejected with the field named', () => {
  const field = (options: Parameters<typeof planNetwork>[1], name: string) =>
    assert.throws(() => planNetwork(NASNET_A, options), (e: unknown) => e instanceof InvalidNetworkOptionError && e.field === name);
  field({ cells: 0 }, 'cells');
  field({ imageSize: 31.5 }, 'imageSize');
  field({ numClasses: 0 }, 'numClasses');
  field({ denseDropout: 1 }, 'denseDropout');
  field({ initialFilters: 8, filters: 768 }, 'filters');
  // ImageNet stem cells use initialFilters / 4: at 4 that is one filter.
  field({ layout: 'imagenet', initialFilters: 4, imageSize: 64 }, 'initialFilters');
});

test('plan - a block reading a state that does not exist names the cell and block', () => {
  const bad: Genotype = {
    normal: { blocks: [{ inputs: [0, 1], ops: ['identity', 'identity'], combine: 'add' }, { inputs: [4, 1], ops: ['identity', 'identity'], combine: 'add' }], concat: [2, 3] },
    reduction: NASNET_A.reduction,
  };
  assert.throws(
    () => planNetwork(bad, { cells: 1, initialFilters: 4, imageSize: 8 }),
    (e: unknown) => e instanceof CellConstructionError && e.where === 'normal cell 0, block 1, input 0' && /reads state 4/.test(e.message),
  );
});

test('plan - an auxiliary head on a map smaller than its 5x5 pool is refused', () => {
  assert.throws(
    () => planNetwork(NASNET_A, { cells: 1, initialFilters: 4, imageSize: 8, auxHead: true }),
    (e: unknown) => e instanceof FeatureMapTooSmallError && e.layer === 'aux_pool',
  );
});

test('plan - reduction cells stride only ops reading the cell inputs and reduce concatenated inputs', () => {
  const g: Genotype = {
    normal: NASNET_A.normal,
    reduction: {
      blocks: [
        { inputs: [0, 1], ops: ['max_pool3x3', 'identity'], combine: 'add' },
        { inputs: [2, 0], ops: ['identity', 'avg_pool3x3'], combine: 'add' },
      ],
      concat: [1, 2, 3],
    },
  };
  const plan = planNetwork(g, { cells: 1, initialFilters: 4, imageSize: 16 });
  const byName = new Map(plan.layers.map((l) => [l.name, l]));
  const red = plan.cells[1]!;
  assert.equal(red.type, 'reduction');
  assert.deepEqual(red.output, [8, 8, 3 * 8]);
  const pool = byName.get('cell1_b0_left_max_pool')?.spec;
  assert.ok(pool?.kind === 'max_pool');
  assert.equal(pool.stride, 2);
  // identity on h_{i-1} with stride 2 becomes ReLU -> strided 1x1 conv -> BN.
  const idConv = byName.get('cell1_b0_right_id_conv')?.spec;
  assert.ok(idConv?.kind === 'conv');
  assert.deepEqual(idConv.strides, [2, 2]);
  // identity on block 0 (already reduced) is a pass-through: no layer.
  assert.equal(byName.has('cell1_b1_left_id_conv'), false);
  // h_{i-1} in the concat list is reduced by a factorized reduction without ReLU.
  assert.ok(byName.has('cell1_out1_reduce_path2_shift'));
  assert.equal(byName.has('cell1_out1_reduce_relu'), false);
  assert.deepEqual(byName.get('cell1_out1_reduce_bn')?.outputShape, [8, 8, 8]);
});
