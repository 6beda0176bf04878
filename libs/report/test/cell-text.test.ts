import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import type { Cell } from '@nasnet/search-space';
import { InvalidDrawingOptionError, UndrawableCellError, blockFormula, cellToText, sparkline } from '../src/index.js';
import { randomCells } from './helpers.js';

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

test('cellToText - NASNet-A normal cell reads as the paper defines it', () => {
  // DESIGN.md section 4, from the reference implementation.
  assert.deepEqual(cellToText(NASNET_A.normal), [
    'normal cell, 5 blocks, inputs h[i] h[i-1]',
    '  b0 = sep5x5(h[i]) + sep3x3(h[i-1])',
    '  b1 = sep5x5(h[i-1]) + sep3x3(h[i-1])',
    '  b2 = avg3x3(h[i]) + id(h[i-1])',
    '  b3 = avg3x3(h[i-1]) + avg3x3(h[i-1])',
    '  b4 = sep3x3(h[i]) + id(h[i])',
    '  out = concat(h[i-1], b0, b1, b2, b3, b4)',
  ]);
});

test('cellToText - NASNet-A reduction cell marks stride 2 on ops that read the inputs', () => {
  assert.deepEqual(cellToText(NASNET_A.reduction, 'reduction'), [
    'reduction cell, 5 blocks, inputs h[i] h[i-1]',
    '  b0 = sep5x5/2(h[i]) + sep7x7/2(h[i-1])',
    '  b1 = max3x3/2(h[i]) + sep7x7/2(h[i-1])',
    '  b2 = avg3x3/2(h[i]) + sep5x5/2(h[i-1])',
    '  b3 = id(b1) + avg3x3(b0)',
    '  b4 = sep3x3(b0) + max3x3/2(h[i])',
    '  out = concat(b1, b2, b3, b4)',
  ]);
});

test('cellToText - the DAG view lists blocks by level, deepest first', () => {
  const lines = cellToText(NASNET_A.reduction, 'reduction', { dag: true });
  assert.deepEqual(lines.slice(7), [
    '  out │ b1 b2 b3 b4',
    '  L2  │ b3 ← b1,b0   b4 ← b0,h[i]',
    '  L1  │ b0 ← h[i],h[i-1]   b1 ← h[i],h[i-1]   b2 ← h[i],h[i-1]',
    '  in  │ h[i] h[i-1]',
  ]);
});

test('cellToText - colour adds ANSI codes and nothing else', () => {
  for (const cell of [NASNET_A.normal, NASNET_A.reduction, ...randomCells(5, 10)]) {
    const plain = cellToText(cell, 'reduction', { dag: true });
    const colored = cellToText(cell, 'reduction', { dag: true, color: true });
    assert.ok(plain.every((l) => !l.includes('\u001b')));
    assert.ok(colored.some((l) => l.includes('\u001b[')));
    assert.deepEqual(colored.map(stripAnsi), plain);
  }
  // Separable convs are yellow (33), like their yellow boxes in the SVG.
  assert.ok(cellToText(NASNET_A.normal, 'normal', { color: true })[1]!.includes('\u001b[33msep5x5\u001b[0m'));
});

test('cellToText - concat combines and every block of random cells appear', () => {
  const cell: Cell = { blocks: [{ inputs: [1, 0], ops: ['conv1x7_7x1', 'max_pool5x5'], combine: 'concat' }], concat: [2] };
  assert.equal(blockFormula(cell.blocks[0]!, 0), 'b0 = concat(1x7+7x1(h[i-1]), max5x5(h[i]))');
  assert.equal(cellToText(cell)[0], 'normal cell, 1 block, inputs h[i] h[i-1]');
  for (const c of randomCells(31, 20)) {
    const lines = cellToText(c);
    c.blocks.forEach((_, k) => assert.equal(lines.filter((l) => l.startsWith(`  b${k} = `)).length, 1));
  }
  assert.throws(() => cellToText({ blocks: [], concat: [4] }), UndrawableCellError);
});

test('sparkline - maps the range onto eight bar heights', () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([0.5, 0.9, 0.1]), '▅█▁');
  assert.equal(sparkline([]), '');
  // A flat series sits mid-height instead of dividing by zero.
  assert.equal(sparkline([0.7, 0.7, 0.7]), '▄▄▄');
  // Non-finite values leave gaps.
  assert.equal(sparkline([0, NaN, 1]), '▁ █');
  // A fixed range: accuracies against 0..1.
  assert.equal(sparkline([0.5, 1], undefined, { min: 0, max: 1 }), '▅█');
});

test('sparkline - averages into buckets when wider than the terminal', () => {
  const values = Array.from({ length: 100 }, (_, i) => i);
  const line = sparkline(values, 10);
  assert.equal([...line].length, 10);
  assert.equal(line[0], '▁');
  assert.equal(line[9], '█');
  // Bars never go down on a rising series.
  const heights = [...line].map((c) => '▁▂▃▄▅▆▇█'.indexOf(c));
  for (let i = 1; i < heights.length; i++) assert.ok(heights[i]! >= heights[i - 1]!);
  // Fewer values than columns: one character each, no stretching.
  assert.equal([...sparkline([1, 2, 3], 40)].length, 3);
  assert.throws(() => sparkline(values, 0), InvalidDrawingOptionError);
});
