import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import {
  GenotypeParseError,
  GenotypeValidationError,
  NASNET_A,
  OPERATIONS,
  OPERATION_TEXT_LABELS,
  formatCell,
  formatGenotype,
  operationInfo,
  parseCell,
  parseGenotype,
  sampleGenotype,
} from '../src/index.js';

const NASNET_A_TEXT =
  'normal: sep5x5(0) + sep3x3(1); sep5x5(1) + sep3x3(1); avg3x3(0) + id(1); avg3x3(1) + avg3x3(1); ' +
  'sep3x3(0) + id(0) => concat(1,2,3,4,5,6) | ' +
  'reduction: sep5x5(0) + sep7x7(1); max3x3(0) + sep7x7(1); avg3x3(0) + sep5x5(1); id(3) + avg3x3(2); ' +
  'sep3x3(2) + max3x3(0) => concat(3,4,5,6)';

/** Expects a GenotypeParseError at `column` whose message matches `detail`. */
function parseFails(text: string, column: number, detail: string | RegExp, expected?: string): GenotypeParseError {
  let caught: unknown;
  try {
    parseGenotype(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GenotypeParseError, `expected GenotypeParseError for ${JSON.stringify(text)}, got ${String(caught)}`);
  assert.equal(caught.column, column, caught.message);
  assert.equal(caught.offset, column - 1);
  if (typeof detail === 'string') assert.equal(caught.message, `column ${column} (offset ${column - 1}): ${detail}`);
  else assert.match(caught.message, detail);
  if (expected !== undefined) assert.equal(caught.expected, expected);
  return caught;
}

test('text - NASNet-A formats to one readable line', () => {
  assert.equal(formatGenotype(NASNET_A), NASNET_A_TEXT);
  assert.ok(!NASNET_A_TEXT.includes('\n'));
  assert.equal(formatCell(NASNET_A.reduction), NASNET_A_TEXT.split(' | reduction: ')[1]);
});

test('text - labels are short and unique, and match operationInfo except for "+"', () => {
  const labels = OPERATIONS.map((op) => OPERATION_TEXT_LABELS[op]);
  assert.equal(new Set(labels).size, OPERATIONS.length);
  for (const op of OPERATIONS) {
    assert.match(OPERATION_TEXT_LABELS[op], /^[A-Za-z0-9_]+$/);
    assert.equal(OPERATION_TEXT_LABELS[op], operationInfo(op).label.replace('+', '_'));
  }
});

test('text - parse(format(g)) deep-equals g for NASNet-A and 1,000 sampled genotypes', () => {
  assert.deepEqual(parseGenotype(NASNET_A_TEXT), NASNET_A);
  const rng = new Rng(2024);
  let concats = 0;
  for (let i = 0; i < 1000; i++) {
    const g = sampleGenotype(rng);
    const text = formatGenotype(g);
    assert.deepEqual(parseGenotype(text), g, text);
    if (text.includes('++')) concats++;
  }
  assert.ok(concats > 900, 'sampled genotypes exercise the concat combine');
  for (const numBlocks of [1, 3, 8]) {
    const g = sampleGenotype(rng, { numBlocks });
    assert.deepEqual(parseGenotype(formatGenotype(g), { numBlocks }), g);
  }
});

test('text - parse accepts free whitespace, newlines and full operation names', () => {
  const loose = NASNET_A_TEXT.replace(/ /g, '').replace('|', '\n|\n').replace(/;/g, ' ;\t').replace('sep5x5(0)', ' sep_conv5x5 ( 0 ) ');
  assert.deepEqual(parseGenotype(loose), NASNET_A);
  const cell = parseCell('identity(1) ++ conv3x3(0) => concat( 2 )', { numBlocks: 1 });
  assert.deepEqual(cell, { blocks: [{ inputs: [1, 0], ops: ['identity', 'conv3x3'], combine: 'concat' }], concat: [2] });
  assert.ok(Object.isFrozen(cell) && Object.isFrozen(cell.blocks[0]));
});

test('text - syntax errors name the column and what was expected', () => {
  parseFails('', 1, 'expected "normal", found end of text', '"normal"');
  parseFails('reduction: id(0) + id(1)', 1, 'expected "normal", found "reduction"');
  parseFails('normal sep5x5(0)', 8, 'expected ":" after "normal", found "sep5x5"');
  parseFails('normal: sepx(0) + id(1)', 9, /unknown operation "sepx": expected one of id, 1x3_3x1, .*sep7x7$/, 'an operation label');
  parseFails('normal: sep5x5 0) + id(1)', 16, 'expected "(" after the operation label, found "0"');
  parseFails('normal: sep5x5(x) + id(1)', 16, 'expected a state index (digits), found "x"');
  parseFails('normal: sep5x5(-1) + id(1)', 16, 'expected a state index (digits), found "-"');
  parseFails('normal: sep5x5(1] + id(1)', 17, 'expected ")" after the state index, found "]"');
  parseFails('normal: sep5x5(1) * id(1)', 19, 'expected "+" (add) or "++" (concat) between the two branches, found "*"');
  parseFails('normal: sep5x5(1) + id(1) concat(2)', 27, 'expected ";" before the next block or "=>" before the concat list, found "concat"');
  parseFails('normal: id(1) + id(1) => cat(2)', 26, 'expected "concat", found "cat"');
  parseFails('normal: id(1) + id(1) => concat(2 3)', 35, 'expected "," or ")" in the concat list, found "3"');
  parseFails('normal: id(1) + id(1) => concat(2', 34, 'expected "," or ")" in the concat list, found end of text');
  parseFails('normal: id(1) + id(1) => concat(1234567)', 33, 'expected a state index of at most 6 digits, found "1234567"');
  parseFails(`${NASNET_A_TEXT} reduction`, NASNET_A_TEXT.length + 2, 'expected end of text, found "reduction"');
  parseFails(NASNET_A_TEXT.replace(' | ', ' / '), NASNET_A_TEXT.indexOf('|') + 1, 'expected "|" between the normal and the reduction cell, found "/"');
});

test('text - rule violations point at the offending token and keep the validation error as cause', () => {
  const bad = NASNET_A_TEXT.replace('avg3x3(0) + id(1)', 'avg3x3(0) + id(5)');
  const err = parseFails(
    bad,
    bad.indexOf('id(5)') + 4,
    'normal.blocks[2].inputs[1]: input index 5 refers to a later block (block 2 may read states 0..3)',
    'a valid genotype',
  );
  assert.equal(err.path, 'normal.blocks[2].inputs[1]');
  assert.ok(err.cause instanceof GenotypeValidationError);

  const dup = NASNET_A_TEXT.replace('concat(3,4,5,6)', 'concat(3,4,5,4)');
  parseFails(dup, dup.lastIndexOf('4') + 1, 'reduction.concat[3]: duplicate entry: state 4 is already listed at concat[1]');

  const short = NASNET_A_TEXT.replace('; sep3x3(2) + max3x3(0) => concat(3,4,5,6)', ' => concat(3,4,5)');
  parseFails(short, short.indexOf('reduction: ') + 12, 'reduction.blocks: wrong number of blocks: expected 5, got 4');

  const empty = NASNET_A_TEXT.replace('concat(1,2,3,4,5,6)', 'concat()');
  parseFails(empty, empty.indexOf('concat()') + 8, 'normal.concat: empty: the cell output must concatenate at least one state');
});

test('text - errors on later lines report line and column', () => {
  const text = NASNET_A_TEXT.replace(' | ', '\n| ').replace('max3x3(0) + sep7x7(1)', 'max3x3(0) + sep7x7(9)');
  assert.throws(() => parseGenotype(text), (err: unknown) => {
    assert.ok(err instanceof GenotypeParseError);
    assert.equal(err.line, 2);
    const lineStart = text.indexOf('\n') + 1;
    assert.equal(err.column, text.indexOf('sep7x7(9)') + 8 - lineStart);
    assert.match(err.message, /^line 2, column \d+ \(offset \d+\): reduction\.blocks\[1\]\.inputs\[1\]: input index 9 is out of range/);
    return true;
  });
});

test('text - format refuses invalid genotypes instead of printing them', () => {
  const bad = JSON.parse(JSON.stringify(NASNET_A));
  bad.normal.blocks[0].ops[0] = 'nope';
  assert.throws(() => formatGenotype(bad), GenotypeValidationError);
  assert.throws(() => parseGenotype(42 as unknown as string), { name: 'GenotypeParseError', message: 'column 1 (offset 0): expected a string, got number' });
});
