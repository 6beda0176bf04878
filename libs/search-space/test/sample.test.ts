import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import {
  COMBINES,
  NASNET_A,
  OPERATIONS,
  defaultConcat,
  genotypeHash,
  getNamedGenotype,
  mutateGenotype,
  NAMED_GENOTYPES,
  namedGenotypeNames,
  sampleGenotype,
  UnknownGenotypeNameError,
  validateGenotype,
  type Block,
  type Cell,
  type Genotype,
} from '../src/index.js';

test('sample - same seed gives the same genotypes, other seeds differ', () => {
  const run = (seed: number): Genotype[] => {
    const rng = new Rng(seed);
    return Array.from({ length: 20 }, () => sampleGenotype(rng));
  };
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
  // Resuming from a saved state continues the same sequence.
  const rng = new Rng(9);
  sampleGenotype(rng);
  const saved = rng.state();
  assert.deepEqual(sampleGenotype(rng), sampleGenotype(new Rng(saved)));
});

test('sample - valid, frozen, defaultConcat, and uniform over each decision', () => {
  const rng = new Rng(12);
  const n = 3000;
  const opCounts = new Map<string, number>();
  const lastInput = new Array<number>(6).fill(0);
  let concat = 0;
  for (let i = 0; i < n; i++) {
    const g = sampleGenotype(rng);
    validateGenotype(g);
    assert.ok(Object.isFrozen(g) && Object.isFrozen(g.reduction.blocks[4]!.ops));
    for (const cell of [g.normal, g.reduction]) {
      assert.deepEqual(cell.concat, defaultConcat(cell.blocks));
      for (const b of cell.blocks) {
        for (const op of b.ops) opCounts.set(op, (opCounts.get(op) ?? 0) + 1);
        if (b.combine === 'concat') concat++;
      }
      lastInput[cell.blocks[4]!.inputs[0]]!++;
    }
  }
  // 2 cells x 5 blocks x 2 branches = 20 ops per genotype, 13 ops.
  const perOp = (n * 20) / OPERATIONS.length;
  for (const op of OPERATIONS) {
    const c = opCounts.get(op) ?? 0;
    assert.ok(Math.abs(c - perOp) < 0.06 * perOp, `${op}: ${c} vs ${perOp.toFixed(0)}`);
  }
  assert.ok(Math.abs(concat / (n * 10) - 1 / COMBINES.length) < 0.02, `concat share ${concat / (n * 10)}`);
  // Block 4 reads states 0..5 uniformly.
  for (const c of lastInput) assert.ok(Math.abs(c - (2 * n) / 6) < 0.1 * ((2 * n) / 6), `input counts ${lastInput}`);
});

test('sample - defaultConcat is the block outputs no block reads', () => {
  assert.deepEqual(defaultConcat(NASNET_A.normal.blocks), [2, 3, 4, 5, 6]);
  assert.deepEqual(defaultConcat(NASNET_A.reduction.blocks), [4, 5, 6]);
  const chain: Block[] = [0, 1, 2].map((k) => ({ inputs: [k + 1, 0], ops: ['identity', 'conv1x1'], combine: 'add' }));
  assert.deepEqual(defaultConcat(chain), [4]);
});

/** Where two cells differ, as a list of "blocks[k].inputs[j]" / "blocks[k].ops[j]". */
function differences(a: Cell, b: Cell): string[] {
  const out: string[] = [];
  a.blocks.forEach((x, k) => {
    const y = b.blocks[k]!;
    for (const j of [0, 1]) {
      if (x.inputs[j] !== y.inputs[j]) out.push(`blocks[${k}].inputs[${j}]`);
      if (x.ops[j] !== y.ops[j]) out.push(`blocks[${k}].ops[${j}]`);
    }
    if (x.combine !== y.combine) out.push(`blocks[${k}].combine`);
  });
  return out;
}

test('mutate - one input or one op of one block of one cell changes, result valid and new', () => {
  const rng = new Rng(21);
  let inputMutations = 0;
  let opMutations = 0;
  for (let i = 0; i < 500; i++) {
    const parent = i % 5 === 0 ? NASNET_A : sampleGenotype(rng);
    const child = mutateGenotype(rng, parent);
    validateGenotype(child);
    assert.ok(Object.isFrozen(child));
    assert.notEqual(genotypeHash(child), genotypeHash(parent));
    const diffs = [...differences(parent.normal, child.normal).map((d) => `normal.${d}`), ...differences(parent.reduction, child.reduction).map((d) => `reduction.${d}`)];
    assert.equal(diffs.length, 1, diffs.join(', '));
    if (diffs[0]!.includes('inputs')) inputMutations++;
    else opMutations++;
    for (const cellType of ['normal', 'reduction'] as const) {
      const p = parent[cellType];
      const c = child[cellType];
      if (p.concat.join() === defaultConcat(p.blocks).join()) {
        // A cell that followed the paper's rule still does.
        assert.deepEqual(c.concat, defaultConcat(c.blocks));
      }
    }
  }
  assert.ok(inputMutations > 150 && opMutations > 150, `${inputMutations} input and ${opMutations} op mutations`);
});

test('mutate - deterministic per seed and keeps hand-written concat entries', () => {
  assert.deepEqual(mutateGenotype(new Rng(5), NASNET_A), mutateGenotype(new Rng(5), NASNET_A));
  const rng = new Rng(6);
  for (let i = 0; i < 200; i++) {
    const child = mutateGenotype(rng, NASNET_A);
    // NASNet-A's normal cell concatenates h_{i-1} (state 1); mutations keep it.
    assert.ok(child.normal.concat.includes(1), JSON.stringify(child.normal.concat));
  }
});

test('mutate - an input rewired from one twin block to the other is redrawn', () => {
  // Blocks 0 and 1 are identical; block 2 reads block 0. Rewiring it to
  // block 1 gives the same architecture, so mutate must never return that.
  const twin: Block = { inputs: [0, 1], ops: ['sep_conv3x3', 'identity'], combine: 'add' };
  const cell: Cell = {
    blocks: [twin, twin, { inputs: [2, 0], ops: ['max_pool3x3', 'conv1x1'], combine: 'add' }],
    concat: [3, 4],
  };
  const g: Genotype = { normal: cell, reduction: cell };
  const rng = new Rng(31);
  for (let i = 0; i < 300; i++) {
    const child = mutateGenotype(rng, g);
    validateGenotype(child, { numBlocks: 3 });
    assert.notEqual(genotypeHash(child), genotypeHash(g));
  }
});

test('mutate - numBlocks follows the genotype', () => {
  const rng = new Rng(40);
  const g = sampleGenotype(rng, { numBlocks: 2 });
  const child = mutateGenotype(rng, g);
  assert.equal(child.normal.blocks.length, 2);
  assert.throws(() => mutateGenotype(rng, g, { numBlocks: 5 }), { name: 'GenotypeValidationError', path: 'normal.blocks' });
});

test('named - nasnet-a is known; unknown names list the known ones', () => {
  assert.deepEqual(getNamedGenotype('nasnet-a'), NASNET_A);
  assert.deepEqual(namedGenotypeNames(), ['nasnet-a']);
  assert.ok(Object.isFrozen(NAMED_GENOTYPES) && Object.isFrozen(NAMED_GENOTYPES['nasnet-a']!.normal.blocks));
  assert.throws(() => getNamedGenotype('nasnet-b'), (err: unknown) => {
    assert.ok(err instanceof UnknownGenotypeNameError);
    assert.equal(err.message, 'unknown genotype "nasnet-b" (known: nasnet-a)');
    assert.deepEqual(err.known, ['nasnet-a']);
    return true;
  });
  // Inherited object names are not genotypes.
  assert.equal(NAMED_GENOTYPES['constructor'], undefined);
  assert.throws(() => getNamedGenotype('constructor'), UnknownGenotypeNameError);
  assert.throws(() => getNamedGenotype('__proto__'), UnknownGenotypeNameError);
});
