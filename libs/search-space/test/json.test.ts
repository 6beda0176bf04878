import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenotypeDecodeError,
  GenotypeValidationError,
  NASNET_A,
  genotypeFromJSON,
} from '../src/index.js';
import { mutableCopy } from './helpers.js';

function decodeFails(edit: (v: any) => any, path: string, message: string, kind: Function = GenotypeDecodeError): void {
  const v = mutableCopy(NASNET_A);
  const replaced = edit(v);
  const value = replaced === undefined ? v : replaced;
  assert.throws(
    () => genotypeFromJSON(value),
    (err: unknown) => {
      assert.ok(err instanceof kind, `expected ${kind.name}, got ${String(err)}`);
      assert.equal((err as GenotypeDecodeError).path, path);
      assert.equal((err as Error).message, message);
      return true;
    },
  );
}

test('json - decodes NASNet-A from its JSON text into a fresh frozen copy', () => {
  const value = JSON.parse(JSON.stringify(NASNET_A));
  const g = genotypeFromJSON(value);
  assert.deepEqual(g, NASNET_A);
  assert.ok(Object.isFrozen(g) && Object.isFrozen(g.normal) && Object.isFrozen(g.normal.blocks));
  assert.ok(Object.isFrozen(g.normal.blocks[0]) && Object.isFrozen(g.normal.blocks[0]!.inputs) && Object.isFrozen(g.reduction.concat));
  // Nothing is shared with the input: editing it afterwards changes nothing.
  value.normal.blocks[0].inputs[0] = 1;
  value.normal.concat.push(0);
  assert.deepEqual(g, NASNET_A);
});

test('json - shape errors name the field', () => {
  decodeFails(() => null, '', 'genotype: expected a genotype object, got null');
  decodeFails(() => [1, 2], '', 'genotype: expected a genotype object, got an array of length 2');
  decodeFails((v) => { delete v.reduction; }, 'reduction', 'reduction: missing field');
  decodeFails((v) => { v.extra = 1; }, '', 'genotype: unknown field "extra" (a genotype has normal, reduction)');
  decodeFails((v) => { v.normal.concats = []; }, 'normal', 'normal: unknown field "concats" (a cell has blocks, concat)');
  decodeFails((v) => { delete v.normal.concat; }, 'normal.concat', 'normal.concat: missing field');
  decodeFails((v) => { v.normal.blocks = 'x'; }, 'normal.blocks', 'normal.blocks: expected an array of blocks, got string "x"');
  decodeFails((v) => { v.normal.blocks[1] = 7; }, 'normal.blocks[1]', 'normal.blocks[1]: expected a block object, got number 7');
  decodeFails((v) => { delete v.normal.blocks[1].ops; }, 'normal.blocks[1].ops', 'normal.blocks[1].ops: missing field');
  decodeFails((v) => { v.reduction.blocks[2].inputs = [0, '1']; }, 'reduction.blocks[2].inputs[1]', 'reduction.blocks[2].inputs[1]: expected a number, got string "1"');
  decodeFails((v) => { v.reduction.blocks[2].inputs = [0, 1, 1]; }, 'reduction.blocks[2].inputs', 'reduction.blocks[2].inputs: expected exactly 2 state indices, got 3');
  decodeFails((v) => { v.reduction.blocks[2].ops = ['identity']; }, 'reduction.blocks[2].ops', 'reduction.blocks[2].ops: expected exactly 2 operation names, got 1');
  decodeFails((v) => { v.reduction.blocks[2].ops[0] = null; }, 'reduction.blocks[2].ops[0]', 'reduction.blocks[2].ops[0]: expected a string, got null');
  decodeFails((v) => { v.reduction.blocks[2].combine = true; }, 'reduction.blocks[2].combine', 'reduction.blocks[2].combine: expected a string, got boolean true');
  decodeFails((v) => { v.reduction.concat = [3, {}]; }, 'reduction.concat[1]', 'reduction.concat[1]: expected a number, got an object');
});

test('json - __proto__ and other inherited names are refused as unknown fields', () => {
  const value = JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(NASNET_A).slice(1)}`);
  assert.throws(() => genotypeFromJSON(value), { name: 'GenotypeDecodeError', message: 'genotype: unknown field "__proto__" (a genotype has normal, reduction)' });
  // A field only present on the prototype counts as missing.
  const inherited = Object.create({ reduction: NASNET_A.reduction });
  inherited.normal = NASNET_A.normal;
  assert.throws(() => genotypeFromJSON(inherited), { message: 'reduction: missing field' });
});

test('json - rule violations are validation errors', () => {
  decodeFails(
    (v) => { v.normal.blocks[2].inputs[1] = 5; },
    'normal.blocks[2].inputs[1]',
    'normal.blocks[2].inputs[1]: input index 5 refers to a later block (block 2 may read states 0..3)',
    GenotypeValidationError,
  );
  decodeFails(
    (v) => { v.normal.blocks[0].ops[1] = 'conv9x9'; },
    'normal.blocks[0].ops[1]',
    /* message checked by prefix below */ 'normal.blocks[0].ops[1]: unknown operation "conv9x9" (known: identity, conv1x3_3x1, conv1x7_7x1, dil_conv3x3, avg_pool3x3, max_pool3x3, max_pool5x5, max_pool7x7, conv1x1, conv3x3, sep_conv3x3, sep_conv5x5, sep_conv7x7)',
    GenotypeValidationError,
  );
  decodeFails((v) => { v.reduction.blocks.pop(); }, 'reduction.blocks', 'reduction.blocks: wrong number of blocks: expected 5, got 4', GenotypeValidationError);
  decodeFails((v) => { v.reduction.concat = [3, 3]; }, 'reduction.concat[1]', 'reduction.concat[1]: duplicate entry: state 3 is already listed at concat[0]', GenotypeValidationError);
});

test('json - numBlocks option decodes other block counts', () => {
  const small = {
    normal: { blocks: [{ inputs: [0, 1], ops: ['identity', 'conv3x3'], combine: 'concat' }], concat: [2] },
    reduction: { blocks: [{ inputs: [1, 1], ops: ['max_pool3x3', 'max_pool5x5'], combine: 'add' }], concat: [0, 2] },
  };
  assert.deepEqual(genotypeFromJSON(small, { numBlocks: 1 }), small);
  assert.throws(() => genotypeFromJSON(small), { message: 'normal.blocks: wrong number of blocks: expected 5, got 1' });
});

test('json - -0 is read as state 0', () => {
  const value = JSON.parse(JSON.stringify(NASNET_A).replace('"inputs":[0,1]', '"inputs":[-0,1]').replace('"concat":[3,4,5,6]', '"concat":[3,4,5,6,-0]'));
  const g = genotypeFromJSON(value);
  assert.ok(Object.is(g.normal.blocks[0]!.inputs[0], 0));
  assert.ok(Object.is(g.reduction.concat[4], 0));
});
