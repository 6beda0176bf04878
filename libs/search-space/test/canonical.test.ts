import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Rng } from '@nasnet/random';
import {
  NASNET_A,
  OPERATIONS,
  canonicalCell,
  canonicalGenotype,
  defaultConcat,
  cellHash,
  formatGenotype,
  genotypeHash,
  sampleGenotype,
  validateGenotype,
  type Block,
  type Cell,
  type Genotype,
  type Operation,
} from '../src/index.js';
import { cellsIsomorphic, genotypesIsomorphic, mutableCopy, relabelCell, relabelGenotype } from './helpers.js';

test('hash - sha256 hex of the tagged canonical text', () => {
  const h = genotypeHash(NASNET_A);
  assert.match(h, /^[0-9a-f]{64}$/);
  const expected = createHash('sha256').update(`nasnet-genotype/v1\n${formatGenotype(canonicalGenotype(NASNET_A))}`).digest('hex');
  assert.equal(h, expected);
  assert.equal(genotypeHash(NASNET_A), h, 'deterministic');
});

test('canonical - equivalent, valid and idempotent', () => {
  const rng = new Rng(5);
  for (let i = 0; i < 200; i++) {
    const g = i === 0 ? NASNET_A : sampleGenotype(rng);
    const c = canonicalGenotype(g);
    validateGenotype(c);
    assert.ok(genotypesIsomorphic(g, c), 'canonical form is the same architecture');
    assert.deepEqual(canonicalGenotype(c), c);
    assert.equal(genotypeHash(c), genotypeHash(g));
  }
});

test('hash - swapped branches collide, for add and for concat', () => {
  for (const combine of ['add', 'concat'] as const) {
    const g = mutableCopy(NASNET_A);
    g.normal.blocks[0].combine = combine;
    const swapped = mutableCopy(g);
    swapped.normal.blocks[0].inputs = [1, 0];
    swapped.normal.blocks[0].ops = ['sep_conv3x3', 'sep_conv5x5'];
    assert.notDeepEqual(swapped, g);
    assert.equal(genotypeHash(swapped), genotypeHash(g));
    assert.deepEqual(canonicalGenotype(swapped), canonicalGenotype(g));
  }
});

test('hash - independent blocks listed in another order collide', () => {
  // NASNet-A reduction: blocks 0, 1 and 2 only read the cell inputs; list
  // block 1 first and renumber its readers (state 3 <-> state 2).
  const g = mutableCopy(NASNET_A);
  const r = g.reduction;
  [r.blocks[0], r.blocks[1]] = [r.blocks[1], r.blocks[0]];
  r.blocks[3].inputs = [2, 3];
  r.blocks[4].inputs = [3, 0];
  r.concat = [2, 4, 5, 6];
  validateGenotype(g);
  assert.equal(genotypeHash(g), genotypeHash(NASNET_A));
  // Wiring block 3 to the wrong state after the reorder is a different cell.
  const wrong = mutableCopy(g);
  wrong.reduction.blocks[3].inputs = [3, 2];
  assert.notEqual(genotypeHash(wrong), genotypeHash(NASNET_A));
});

test('hash - concat order does not matter, concat content does', () => {
  const g = mutableCopy(NASNET_A);
  g.normal.concat = [6, 1, 4, 2, 5, 3];
  assert.equal(genotypeHash(g), genotypeHash(NASNET_A));
  g.normal.concat = [2, 3, 4, 5, 6];
  assert.notEqual(genotypeHash(g), genotypeHash(NASNET_A));
});

test('hash - random relabelings of random genotypes collide', () => {
  const rng = new Rng(77);
  for (let i = 0; i < 300; i++) {
    const g = sampleGenotype(rng);
    const h = relabelGenotype(rng, g);
    validateGenotype(h);
    assert.equal(genotypeHash(h), genotypeHash(g), formatGenotype(g));
    assert.deepEqual(canonicalGenotype(h), canonicalGenotype(g));
  }
});

test('hash - NASNet-A differs from every one-op mutation and from its swapped cells', () => {
  const base = genotypeHash(NASNET_A);
  let count = 0;
  for (const cellType of ['normal', 'reduction'] as const) {
    for (let b = 0; b < 5; b++) {
      for (const j of [0, 1]) {
        for (const op of OPERATIONS) {
          if (op === NASNET_A[cellType].blocks[b]!.ops[j]) continue;
          const g = mutableCopy(NASNET_A);
          g[cellType].blocks[b].ops[j] = op;
          assert.notEqual(genotypeHash(g), base, `${cellType}.blocks[${b}].ops[${j}] = ${op}`);
          count++;
        }
      }
    }
  }
  assert.equal(count, 2 * 5 * 2 * 12);
  const swapped = { normal: NASNET_A.reduction, reduction: NASNET_A.normal };
  assert.notEqual(genotypeHash(swapped), base);
  const combine = mutableCopy(NASNET_A);
  combine.normal.blocks[3].combine = 'concat';
  assert.notEqual(genotypeHash(combine), base);
});

test('hash - a few hundred random genotypes: equal hash exactly when isomorphic', () => {
  const rng = new Rng(91);
  const byHash = new Map<string, Genotype>();
  for (let i = 0; i < 400; i++) {
    const g = sampleGenotype(rng);
    const h = genotypeHash(g);
    const earlier = byHash.get(h);
    if (earlier !== undefined) assert.ok(genotypesIsomorphic(earlier, g), `hash collision of non-isomorphic genotypes: ${formatGenotype(g)}`);
    byHash.set(h, g);
  }
  // In the full space two random genotypes are practically never isomorphic.
  assert.equal(byHash.size, 400);
});

/** Cells of a tiny space (few blocks and ops) so that isomorphic pairs occur by chance. */
function tinyCell(rng: Rng, numBlocks: number, ops: readonly Operation[], combines: readonly ('add' | 'concat')[]): Cell {
  const blocks: Block[] = [];
  for (let b = 0; b < numBlocks; b++) {
    blocks.push({
      inputs: [rng.int(2 + b), rng.int(2 + b)],
      ops: [rng.pick(ops), rng.pick(ops)],
      combine: rng.pick(combines),
    });
  }
  // The default concat, sometimes with h_{i-1} too (as NASNet-A's normal
  // cell), listed in random order.
  const concat = defaultConcat(blocks);
  if (rng.int(2) === 1) concat.push(1);
  return { blocks, concat: rng.shuffle(concat) };
}

test('hash - tiny space: cellHash equal exactly when brute-force isomorphic', (t) => {
  const rng = new Rng(3);
  for (const [numBlocks, ops, combines] of [
    [3, ['sep_conv3x3'], ['add']],
    [4, ['sep_conv3x3'], ['concat']],
    [2, ['identity', 'max_pool3x3'], ['add', 'concat']],
  ] as const) {
    const cells = Array.from({ length: 300 }, () => tinyCell(rng, numBlocks, ops, combines));
    const hashes = cells.map((c) => cellHash(c, { numBlocks }));
    let isoPairs = 0;
    for (let i = 0; i < cells.length; i++) {
      for (let j = i + 1; j < cells.length; j++) {
        const iso = cellsIsomorphic(cells[i]!, cells[j]!);
        assert.equal(hashes[i] === hashes[j], iso, `cells ${i} and ${j}`);
        if (iso) isoPairs++;
      }
    }
    t.diagnostic(`tiny space B=${numBlocks} ${ops.join('/')}: ${isoPairs} isomorphic pairs of ${(cells.length * (cells.length - 1)) / 2}`);
    assert.ok(isoPairs > 20, `the tiny space produced ${isoPairs} isomorphic pairs`);
  }
});

test('canonical - twin blocks (identical definitions) are numbered canonically', () => {
  // Blocks 0 and 1 are twins; only one of them is read. Reading either one
  // is the same architecture.
  const twins = (readA: number): Cell => ({
    blocks: [
      { inputs: [0, 1], ops: ['sep_conv3x3', 'identity'], combine: 'add' },
      { inputs: [1, 0], ops: ['identity', 'sep_conv3x3'], combine: 'add' },
      { inputs: [readA, 0], ops: ['max_pool3x3', 'conv1x1'], combine: 'add' },
    ],
    concat: readA === 2 ? [3, 4] : [2, 4],
  });
  assert.equal(cellHash(twins(2)), cellHash(twins(3)));
  assert.deepEqual(canonicalCell(twins(2)), canonicalCell(twins(3)));
  // Reading a twin and not concatenating the other is a different cell.
  assert.notEqual(cellHash({ ...twins(2), concat: [4] }), cellHash(twins(2)));
});

test('canonical - many twins stay fast (B = 16)', () => {
  // Eight identical blocks on the cell inputs, each read by its own reader:
  // the worst case of the twin search (8! placements before pruning).
  const blocks: Block[] = [];
  for (let k = 0; k < 8; k++) blocks.push({ inputs: [0, 1], ops: ['sep_conv3x3', 'sep_conv3x3'], combine: 'add' });
  for (let k = 0; k < 8; k++) blocks.push({ inputs: [2 + k, 0], ops: ['conv1x1', 'identity'], combine: 'add' });
  const cell: Cell = { blocks, concat: blocks.map((_, k) => 2 + k).slice(8) };
  const start = performance.now();
  const h = cellHash(cell);
  const elapsedMs = performance.now() - start;
  assert.ok(elapsedMs < 1000, `cellHash took ${elapsedMs.toFixed(0)} ms`);
  const rng = new Rng(8);
  for (let i = 0; i < 3; i++) assert.equal(cellHash(relabelCell(rng, cell)), h);
});

test('canonical - cell functions default numBlocks to the cell', () => {
  const cell: Cell = { blocks: [{ inputs: [1, 0], ops: ['identity', 'conv3x3'], combine: 'add' }], concat: [2] };
  assert.deepEqual(canonicalCell(cell), { blocks: [{ inputs: [0, 1], ops: ['conv3x3', 'identity'], combine: 'add' }], concat: [2] });
  assert.throws(() => cellHash(cell, { numBlocks: 5 }), { name: 'GenotypeValidationError', path: 'cell.blocks' });
});
