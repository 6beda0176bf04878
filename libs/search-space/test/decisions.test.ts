import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import {
  COMBINES,
  DecisionError,
  NASNET_A,
  OPERATIONS,
  decisionSlotName,
  decisionSpace,
  decisionsToGenotype,
  defaultConcat,
  genotypeToDecisions,
  sampleDecisions,
  sampleGenotype,
  validateGenotype,
} from '../src/index.js';

test('decisions - 50 slots for B = 5 in the controller order', () => {
  const slots = decisionSpace();
  assert.equal(slots.length, 50);
  assert.deepEqual(slots.slice(0, 6), [
    { cell: 'normal', block: 0, field: 'input1', numChoices: 2 },
    { cell: 'normal', block: 0, field: 'input2', numChoices: 2 },
    { cell: 'normal', block: 0, field: 'op1', numChoices: 13 },
    { cell: 'normal', block: 0, field: 'op2', numChoices: 13 },
    { cell: 'normal', block: 0, field: 'combine', numChoices: 2 },
    { cell: 'normal', block: 1, field: 'input1', numChoices: 3 },
  ]);
  slots.forEach((slot, i) => {
    assert.equal(slot.cell, i < 25 ? 'normal' : 'reduction');
    assert.equal(slot.block, Math.floor((i % 25) / 5));
    const expected = { input1: 2 + slot.block, input2: 2 + slot.block, op1: OPERATIONS.length, op2: OPERATIONS.length, combine: COMBINES.length }[slot.field];
    assert.equal(slot.numChoices, expected);
  });
  assert.equal(decisionSlotName(slots[44]!), 'reduction.blocks[3].combine');
  assert.equal(decisionSpace(3).length, 30);
  assert.equal(decisionSpace(1).length, 10);
});

test('decisions - decisions -> genotype -> decisions round-trips exactly', () => {
  const rng = new Rng(11);
  for (const numBlocks of [5, 5, 5, 2, 7]) {
    for (let i = 0; i < 100; i++) {
      const decisions = sampleDecisions(rng, numBlocks);
      const g = decisionsToGenotype(decisions, numBlocks);
      validateGenotype(g, { numBlocks });
      assert.deepEqual(g.normal.concat, defaultConcat(g.normal.blocks));
      assert.deepEqual(g.reduction.concat, defaultConcat(g.reduction.blocks));
      assert.deepEqual(genotypeToDecisions(g), decisions);
      assert.deepEqual(decisionsToGenotype(genotypeToDecisions(g), numBlocks), g);
    }
  }
});

test('decisions - maps values onto the genotype fields', () => {
  const decisions = new Array<number>(50).fill(0);
  // reduction block 2: input1 = 3 (block 1), input2 = 1, op1 = 12, op2 = 4, combine = concat
  decisions.splice(35, 5, 3, 1, 12, 4, 1);
  const g = decisionsToGenotype(decisions);
  assert.deepEqual(g.reduction.blocks[2], { inputs: [3, 1], ops: ['sep_conv7x7', 'avg_pool3x3'], combine: 'concat' });
  assert.deepEqual(g.normal.blocks[0], { inputs: [0, 0], ops: ['identity', 'identity'], combine: 'add' });
  // Block 1 of the reduction cell is read by block 2, so it is not concatenated.
  assert.deepEqual(g.reduction.concat, [2, 4, 5, 6]);
});

test('decisions - NASNet-A encodes its blocks; its hand-written concat is not a decision', () => {
  const d = genotypeToDecisions(NASNET_A);
  assert.deepEqual(d.slice(0, 5), [0, 1, 11, 10, 0]);
  const back = decisionsToGenotype(d);
  assert.deepEqual(back.normal.blocks, NASNET_A.normal.blocks);
  assert.deepEqual(back.reduction.blocks, NASNET_A.reduction.blocks);
  assert.deepEqual(back.normal.concat, [2, 3, 4, 5, 6]); // NASNet-A also has h_{i-1}
  assert.deepEqual(back.reduction.concat, [4, 5, 6]); // and keeps block 1, read by block 3
});

test('decisions - errors name the slot and the range', () => {
  const ok = genotypeToDecisions(NASNET_A);
  const bad = (i: number, v: number): number[] => ok.map((x, j) => (j === i ? v : x));
  assert.throws(() => decisionsToGenotype(bad(17, 13)), (err: unknown) => {
    assert.ok(err instanceof DecisionError);
    assert.equal(err.index, 17);
    assert.equal(err.slot, 'normal.blocks[3].op1');
    assert.equal(err.message, 'decision 17 (normal.blocks[3].op1): value 13 is not an integer in 0..12');
    return true;
  });
  assert.throws(() => decisionsToGenotype(bad(35, 4)), { message: 'decision 35 (reduction.blocks[2].input1): value 4 is not an integer in 0..3' });
  assert.throws(() => decisionsToGenotype(bad(49, -1)), { message: 'decision 49 (reduction.blocks[4].combine): value -1 is not an integer in 0..1' });
  assert.throws(() => decisionsToGenotype(bad(2, 1.5)), { message: 'decision 2 (normal.blocks[0].op1): value 1.5 is not an integer in 0..12' });
  assert.throws(() => decisionsToGenotype(ok.slice(1)), { name: 'DecisionError', index: -1, message: 'decisions: expected 50 values (2 cells x 5 blocks x 5), got 49' });
  assert.throws(() => decisionsToGenotype(ok, 4), { message: 'decisions: expected 40 values (2 cells x 4 blocks x 5), got 50' });
  assert.throws(() => genotypeToDecisions({ ...NASNET_A, normal: { ...NASNET_A.normal, concat: [] } }), { name: 'GenotypeValidationError' });
});

test('decisions - typed arrays are accepted', () => {
  const d = genotypeToDecisions(NASNET_A);
  assert.deepEqual(decisionsToGenotype(Int32Array.from(d)), decisionsToGenotype(d));
});

test('sample - sampleGenotype equals decisionsToGenotype(sampleDecisions) for the same stream', () => {
  const a = sampleGenotype(new Rng(4));
  const b = decisionsToGenotype(sampleDecisions(new Rng(4), 5));
  assert.deepEqual(a, b);
});
