import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenotypeValidationError,
  NASNET_A,
  validateCell,
  validateGenotype,
  type Genotype,
} from '../src/index.js';
import { mutableCopy } from './helpers.js';

/** Applies `edit` to a mutable copy of NASNet-A and expects exactly this error. */
function rejects(edit: (g: any) => void, path: string, reason: string, numBlocks?: number): void {
  const g = mutableCopy(NASNET_A);
  edit(g);
  assert.throws(
    () => validateGenotype(g as Genotype, numBlocks === undefined ? {} : { numBlocks }),
    (err: unknown) => {
      assert.ok(err instanceof GenotypeValidationError, `expected GenotypeValidationError, got ${String(err)}`);
      assert.equal(err.name, 'GenotypeValidationError');
      assert.equal(err.path, path);
      assert.equal(err.reason, reason);
      assert.equal(err.message, `${path === '' ? 'genotype' : path}: ${reason}`);
      return true;
    },
  );
}

test('validate - NASNet-A is valid', () => {
  validateGenotype(NASNET_A);
  validateCell(NASNET_A.normal, 'normal');
  validateCell(NASNET_A.reduction, 'reduction', { numBlocks: 5 });
});

test('validate - input index that refers to a later block', () => {
  rejects(
    (g) => { g.normal.blocks[2].inputs[1] = 5; },
    'normal.blocks[2].inputs[1]',
    'input index 5 refers to a later block (block 2 may read states 0..3)',
  );
  rejects(
    (g) => { g.reduction.blocks[0].inputs[0] = 6; },
    'reduction.blocks[0].inputs[0]',
    'input index 6 refers to a later block (block 0 may read states 0..1)',
  );
});

test('validate - input index that refers to the block itself', () => {
  rejects(
    (g) => { g.normal.blocks[2].inputs[0] = 4; },
    'normal.blocks[2].inputs[0]',
    'input index 4 refers to block 2 itself (block 2 may read states 0..3)',
  );
});

test('validate - input index out of range, negative, not an integer', () => {
  rejects(
    (g) => { g.normal.blocks[2].inputs[1] = 7; },
    'normal.blocks[2].inputs[1]',
    'input index 7 is out of range (the cell has states 0..6; block 2 may read states 0..3)',
  );
  rejects(
    (g) => { g.reduction.blocks[4].inputs[0] = -1; },
    'reduction.blocks[4].inputs[0]',
    'input index -1 is negative (block 4 may read states 0..5)',
  );
  rejects(
    (g) => { g.normal.blocks[1].inputs[1] = 0.5; },
    'normal.blocks[1].inputs[1]',
    'input index 0.5 is not an integer (block 1 may read states 0..2)',
  );
  rejects(
    (g) => { g.normal.blocks[1].inputs[1] = Number.NaN; },
    'normal.blocks[1].inputs[1]',
    'input index NaN is not an integer (block 1 may read states 0..2)',
  );
  rejects(
    (g) => { g.normal.blocks[1].inputs[0] = '1'; },
    'normal.blocks[1].inputs[0]',
    'expected an integer state index, got string "1"',
  );
});

test('validate - unknown operation is named', () => {
  rejects(
    (g) => { g.reduction.blocks[3].ops[1] = 'sep_conv9x9'; },
    'reduction.blocks[3].ops[1]',
    'unknown operation "sep_conv9x9" (known: identity, conv1x3_3x1, conv1x7_7x1, dil_conv3x3, avg_pool3x3, ' +
      'max_pool3x3, max_pool5x5, max_pool7x7, conv1x1, conv3x3, sep_conv3x3, sep_conv5x5, sep_conv7x7)',
  );
  rejects((g) => { g.normal.blocks[0].ops[0] = 3; }, 'normal.blocks[0].ops[0]', 'expected an operation name, got number 3');
});

test('validate - invalid combine', () => {
  rejects(
    (g) => { g.normal.blocks[4].combine = 'mul'; },
    'normal.blocks[4].combine',
    'invalid combine "mul" (expected "add" or "concat")',
  );
  rejects(
    (g) => { delete g.normal.blocks[4].combine; },
    'normal.blocks[4].combine',
    'invalid combine undefined (expected "add" or "concat")',
  );
});

test('validate - wrong number of blocks says expected vs got', () => {
  rejects((g) => { g.normal.blocks.pop(); }, 'normal.blocks', 'wrong number of blocks: expected 5, got 4');
  rejects((g) => { g.reduction.blocks.push(g.reduction.blocks[0]); }, 'reduction.blocks', 'wrong number of blocks: expected 5, got 6');
  rejects(() => {}, 'normal.blocks', 'wrong number of blocks: expected 4, got 5', 4);
});

test('validate - concat naming a missing state, empty, duplicate', () => {
  rejects(
    (g) => { g.normal.concat = [1, 2, 9]; },
    'normal.concat[2]',
    'state 9 does not exist (the cell has states 0..6)',
  );
  rejects((g) => { g.normal.concat = [-2]; }, 'normal.concat[0]', 'state index -2 is negative');
  rejects((g) => { g.normal.concat = [2.5]; }, 'normal.concat[0]', 'state index 2.5 is not an integer');
  rejects((g) => { g.reduction.concat = []; }, 'reduction.concat', 'empty: the cell output must concatenate at least one state');
  rejects(
    (g) => { g.reduction.concat = [3, 4, 5, 4]; },
    'reduction.concat[3]',
    'duplicate entry: state 4 is already listed at concat[1]',
  );
  rejects((g) => { g.normal.concat = '1,2'; }, 'normal.concat', 'expected an array of state indices, got string "1,2"');
});

test('validate - missing cell and wrong types', () => {
  rejects((g) => { delete g.reduction; }, 'reduction', 'missing cell');
  rejects((g) => { g.normal = 5; }, 'normal', 'expected a cell object with "blocks" and "concat", got number 5');
  rejects((g) => { g.normal = []; }, 'normal', 'expected a cell object with "blocks" and "concat", got an array of length 0');
  rejects((g) => { g.normal.blocks = {}; }, 'normal.blocks', 'expected an array of blocks, got an object');
  rejects((g) => { g.normal.blocks[3] = null; }, 'normal.blocks[3]', 'expected a block object with "inputs", "ops" and "combine", got null');
  rejects((g) => { g.normal.blocks[3].inputs = [0]; }, 'normal.blocks[3].inputs', 'expected a pair of state indices, got an array of length 1');
  rejects((g) => { g.normal.blocks[3].ops = 'identity'; }, 'normal.blocks[3].ops', 'expected a pair of operations, got string "identity"');
  assert.throws(() => validateGenotype(null as unknown as Genotype), {
    name: 'GenotypeValidationError',
    path: '',
    message: 'genotype: expected an object with "normal" and "reduction" cells, got null',
  });
});

test('validate - validateCell names the cell type and checks numBlocks', () => {
  const cell = mutableCopy(NASNET_A).reduction;
  cell.blocks[1].inputs[0] = 3;
  assert.throws(() => validateCell(cell, 'reduction'), {
    path: 'reduction.blocks[1].inputs[0]',
    message: 'reduction.blocks[1].inputs[0]: input index 3 refers to block 1 itself (block 1 may read states 0..2)',
  });
  assert.throws(() => validateCell(NASNET_A.normal, 'normal', { numBlocks: 3 }), { message: 'normal.blocks: wrong number of blocks: expected 3, got 5' });
  assert.throws(() => validateGenotype(NASNET_A, { numBlocks: 0 }), RangeError);
  assert.throws(() => validateGenotype(NASNET_A, { numBlocks: 17 }), /numBlocks must be an integer in 1\.\.16, got 17/);
});

test('validate - a cell may concatenate cell inputs and read any earlier state', () => {
  const g = mutableCopy(NASNET_A);
  g.normal.concat = [0, 1, 6];
  g.normal.blocks[4].inputs = [5, 2];
  g.normal.blocks[4].combine = 'concat';
  validateGenotype(g);
});
