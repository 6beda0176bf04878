import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A, operationInfo } from '@nasnet/search-space';
import type { Cell } from '@nasnet/search-space';
import { OPERATION_KIND_COLORS, UndrawableCellError, cellToSvg, genotypeToSvg } from '../src/index.js';
import { byClass, childElements, elements, hasClass, textContent } from './xml.js';
import type { XmlElement } from './xml.js';
import { checkSvg, pathNumbers, randomCells } from './helpers.js';

function rectOf(group: XmlElement): { x: number; y: number; width: number; height: number } {
  const r = childElements(group, 'rect')[0]!;
  return { x: Number(r.attrs['x']), y: Number(r.attrs['y']), width: Number(r.attrs['width']), height: Number(r.attrs['height']) };
}

function visibleText(group: XmlElement): string {
  return childElements(group, 'text').map(textContent).join('');
}

test('cellToSvg - NASNet-A normal cell is a well-formed standalone SVG', () => {
  const svg = cellToSvg(NASNET_A.normal);
  assert.ok(svg.startsWith('<svg '));
  const root = checkSvg(svg);
  assert.equal(childElements(root, 'title').map(textContent)[0], 'Normal cell');
  assert.match(root.attrs['font-family']!, /sans-serif/);
  // The description spells the cell out for screen readers and search.
  assert.match(textContent(childElements(root, 'desc')[0]!), /b2 = avg3x3\(h\[i\]\) \+ id\(h\[i-1\]\)/);
});

test('cellToSvg - NASNet-A normal cell draws 10 op boxes, 5 adds, both inputs and the concat', () => {
  const root = checkSvg(cellToSvg(NASNET_A.normal));
  const ops = byClass(root, 'node', 'op');
  assert.equal(ops.length, 10);
  const expected = NASNET_A.normal.blocks.flatMap((b) => b.ops.map((op) => operationInfo(op).label)).sort();
  assert.deepEqual(ops.map(visibleText).sort(), expected);
  // Colour by kind: every op box is filled with its kind's colour.
  for (const g of ops) {
    const kind = (['separable', 'conv', 'pool', 'identity'] as const).find((k) => hasClass(g, k))!;
    assert.equal(childElements(g, 'rect')[0]!.attrs['fill'], OPERATION_KIND_COLORS[kind].fill);
  }
  const combines = byClass(root, 'node', 'combine');
  assert.equal(combines.length, 5);
  assert.deepEqual(combines.map(visibleText), ['add', 'add', 'add', 'add', 'add']);
  assert.deepEqual(byClass(root, 'block-name').map(textContent).sort(), ['b0', 'b1', 'b2', 'b3', 'b4']);
  const inputs = byClass(root, 'node', 'input');
  // h with subscript i / i−1, and the plain names in the tooltip.
  assert.deepEqual(inputs.map(visibleText), ['hi', 'hi\u22121']);
  assert.deepEqual(inputs.map((g) => textContent(childElements(g, 'title')[0]!).split(':')[0]), ['h[i]', 'h[i-1]']);
  const output = byClass(root, 'node', 'output');
  assert.equal(output.length, 1);
  assert.equal(visibleText(output[0]!), 'concat');
  // Arrows: 10 into ops, 10 into combines, 6 into the concat, 1 out of it.
  assert.equal(byClass(root, 'edge', 'to-op').length, 10);
  assert.equal(byClass(root, 'edge', 'to-combine').length, 10);
  assert.equal(byClass(root, 'edge', 'to-output').length, 6);
  assert.equal(byClass(root, 'edge', 'to-next-cell').length, 1);
  // A legend names the four op kinds and the add combine.
  const legend = textContent(byClass(root, 'legend')[0]!);
  for (const word of ['separable conv', 'conv', 'pool', 'identity', 'add']) assert.ok(legend.includes(word), word);
});

test('cellToSvg - every arrow ends on the bottom edge of a box', () => {
  for (const cell of [NASNET_A.normal, NASNET_A.reduction, ...randomCells(7, 10)]) {
    const root = checkSvg(cellToSvg(cell));
    const boxes = [...byClass(root, 'node', 'op'), ...byClass(root, 'node', 'combine'), ...byClass(root, 'node', 'output')].map(rectOf);
    const edges = elements(root).filter((e) => e.name === 'path' && hasClass(e, 'edge') && !hasClass(e, 'to-next-cell'));
    assert.ok(edges.length > 0);
    for (const e of edges) {
      const n = pathNumbers(e.attrs['d']!);
      const [x, y] = n.slice(-2) as [number, number];
      const hit = boxes.find((b) => Math.abs(b.y + b.height - y) < 0.02 && x >= b.x - 0.02 && x <= b.x + b.width + 0.02);
      assert.ok(hit !== undefined, `arrow ending at (${x}, ${y}) lands on no box`);
      assert.equal(e.attrs['marker-end'], 'url(#nasnet-arrow)');
    }
  }
});

test('cellToSvg - reduction cell marks stride-2 ops on the inputs', () => {
  const root = checkSvg(cellToSvg(NASNET_A.reduction, { cellType: 'reduction' }));
  assert.equal(childElements(root, 'title').map(textContent)[0], 'Reduction cell');
  // b0..b2 read only h[i], h[i-1]; b3 = id(b1) + avg3x3(b0); b4 = sep3x3(b0) + max3x3/2(h[i]).
  assert.deepEqual(byClass(root, 'node', 'op').map(visibleText).sort(), [
    'avg3x3',
    'avg3x3/2',
    'id',
    'max3x3/2',
    'max3x3/2',
    'sep3x3',
    'sep5x5/2',
    'sep5x5/2',
    'sep7x7/2',
    'sep7x7/2',
  ]);
});

test('cellToSvg - concat combines are drawn and named in the legend', () => {
  const cell: Cell = {
    blocks: [
      { inputs: [0, 1], ops: ['conv1x3_3x1', 'dil_conv3x3'], combine: 'concat' },
      { inputs: [2, 0], ops: ['max_pool7x7', 'conv1x1'], combine: 'add' },
    ],
    concat: [3],
  };
  const root = checkSvg(cellToSvg(cell));
  assert.deepEqual(byClass(root, 'node', 'combine').map(visibleText), ['concat', 'add']);
  assert.equal(byClass(root, 'node', 'combine', 'concat').length, 1);
  assert.ok(textContent(byClass(root, 'legend')[0]!).includes('concat (block)'));
  assert.ok(byClass(root, 'node', 'op').map(visibleText).includes('1x3+3x1'));
});

test('cellToSvg - same input gives identical bytes, a different cell different ones', () => {
  assert.equal(cellToSvg(NASNET_A.normal), cellToSvg(structuredClone(NASNET_A.normal)));
  assert.equal(genotypeToSvg(NASNET_A, { title: 'x' }), genotypeToSvg(structuredClone(NASNET_A), { title: 'x' }));
  const swapped: Cell = { ...NASNET_A.normal, blocks: [{ ...NASNET_A.normal.blocks[0]!, ops: ['sep_conv7x7', 'sep_conv3x3'] }, ...NASNET_A.normal.blocks.slice(1)] };
  assert.notEqual(cellToSvg(swapped), cellToSvg(NASNET_A.normal));
});

test('cellToSvg - escapes titles and drops characters XML forbids', () => {
  const title = `<b> & "quotes" 'too' \u0001 done`;
  const svg = cellToSvg(NASNET_A.normal, { title });
  const root = checkSvg(svg);
  assert.ok(!svg.includes('<b>'));
  assert.ok(!svg.includes('\u0001'));
  const heading = elements(root).find((e) => e.name === 'text' && textContent(e).startsWith('<b>'));
  assert.equal(textContent(heading!), `<b> & "quotes" 'too'  done`);
  // An empty title leaves the heading out.
  const bare = checkSvg(cellToSvg(NASNET_A.normal, { title: '' }));
  assert.equal(elements(bare).filter((e) => e.name === 'text' && e.attrs['font-size'] === '16').length, 0);
});

test('cellToSvg - random cells are well-formed with every op label present', () => {
  for (const cell of randomCells(99, 25)) {
    const root = checkSvg(cellToSvg(cell, { cellType: 'reduction' }));
    assert.equal(byClass(root, 'node', 'op').length, 2 * cell.blocks.length);
    const labels = byClass(root, 'node', 'op').map(visibleText);
    cell.blocks.forEach((b, k) =>
      b.ops.forEach((op, j) => assert.ok(labels.some((l) => l.startsWith(operationInfo(op).label)), `b${k}.${j} ${op}`)),
    );
    assert.equal(byClass(root, 'node', 'combine').length, cell.blocks.length);
  }
});

test('cellToSvg - rejects a cell whose block reads a later state', () => {
  const cell: Cell = { blocks: [{ inputs: [3, 0], ops: ['identity', 'identity'], combine: 'add' }], concat: [2] };
  assert.throws(() => cellToSvg(cell), UndrawableCellError);
});

test('genotypeToSvg - normal and reduction side by side under their headings with one legend', () => {
  const svg = genotypeToSvg(NASNET_A, { title: 'NASNet-A', subtitle: 'Zoph et al. 2017 <CIFAR-10>' });
  const root = checkSvg(svg);
  const texts = elements(root).filter((e) => e.name === 'text').map(textContent);
  for (const t of ['NASNet-A', 'Zoph et al. 2017 <CIFAR-10>', 'Normal cell', 'Reduction cell']) assert.ok(texts.includes(t), t);
  assert.equal(byClass(root, 'node', 'op').length, 20);
  assert.equal(byClass(root, 'node', 'combine').length, 10);
  assert.equal(byClass(root, 'node', 'output').length, 2);
  assert.equal(byClass(root, 'legend').length, 1);
  assert.equal(elements(root).filter((e) => e.name === 'marker').length, 1);
  // Side by side: every normal-cell box lies left of every reduction-cell box.
  const [normal, reduction] = byClass(root, 'cell');
  assert.ok(hasClass(normal!, 'normal') && hasClass(reduction!, 'reduction'));
  const right = Math.max(...byClass(normal!, 'node').map((g) => rectOf(g).x + rectOf(g).width));
  const left = Math.min(...byClass(reduction!, 'node').map((g) => rectOf(g).x));
  assert.ok(right < left, `${right} < ${left}`);
  // Bottom-aligned: both cells' inputs share a row.
  const inputY = byClass(root, 'node', 'input').map((g) => rectOf(g).y);
  assert.equal(new Set(inputY).size, 1);
});
