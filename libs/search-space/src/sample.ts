/**
 * Seeded random genotypes (random search, initial populations) and
 * single-step mutations (regularized evolution, Real et al. 2019).
 */
import type { Rng } from '@nasnet/random';
import { genotypeHash } from './canonical.js';
import { decisionSpace, decisionsToGenotype } from './decisions.js';
import type { Block, Cell, CellType, Genotype } from './genotype.js';
import { NUM_CELL_INPUTS } from './genotype.js';
import { copyGenotype, inferNumBlocks, resolveNumBlocks } from './internal.js';
import { NUM_OPERATIONS, OPERATIONS } from './operations.js';
import { validateGenotype } from './validate.js';
import type { ValidateOptions } from './validate.js';

/**
 * One uniform draw per controller decision, in decisionSpace order. This is
 * the random-search baseline of the paper: every input uniform over the
 * states the block may read, every op uniform over the 13, combine uniform
 * over add/concat.
 */
export function sampleDecisions(rng: Rng, numBlocks?: number): number[] {
  return decisionSpace(resolveNumBlocks(numBlocks)).map((slot) => rng.int(slot.numChoices));
}

/**
 * A uniformly random genotype: sampleDecisions then decisionsToGenotype, so
 * concat lists are defaultConcat (all block outputs no block reads).
 * Deterministic for a given Rng state; consumes 10 x numBlocks draws.
 */
export function sampleGenotype(rng: Rng, opts: ValidateOptions = {}): Genotype {
  const numBlocks = resolveNumBlocks(opts.numBlocks);
  return decisionsToGenotype(sampleDecisions(rng, numBlocks), numBlocks);
}

/** Attempts before falling back to an op mutation (see mutateGenotype). */
const MUTATION_ATTEMPTS = 32;

/** The states (>= 2) some block reads. */
function readBlockOutputs(blocks: readonly Block[]): Set<number> {
  const read = new Set<number>();
  for (const b of blocks) {
    for (const s of b.inputs) if (s >= NUM_CELL_INPUTS) read.add(s);
  }
  return read;
}

/**
 * Concat list after an input mutation. Only block outputs whose "read by a
 * later block" status flipped change: one that stops being read joins the
 * concat (otherwise its block would be dead), one that starts being read
 * leaves it (the paper concatenates unused states only). Every other entry
 * stays, so a cell whose concat was defaultConcat gets defaultConcat of the
 * new blocks, and NASNet-A's extra h_{i-1} in the normal cell survives.
 */
function updatedConcat(before: Cell, blocks: readonly Block[]): number[] {
  const readBefore = readBlockOutputs(before.blocks);
  const readAfter = readBlockOutputs(blocks);
  const concat = new Set(before.concat);
  for (const s of readAfter) if (!readBefore.has(s)) concat.delete(s);
  for (const s of readBefore) if (!readAfter.has(s)) concat.add(s);
  if (concat.size === 0) {
    // Only possible for a hand-written concat that named nothing but the
    // state that became read; fall back to the paper's rule.
    for (let k = 0; k < blocks.length; k++) if (!readAfter.has(NUM_CELL_INPUTS + k)) concat.add(NUM_CELL_INPUTS + k);
  }
  return [...concat].sort((a, b) => a - b);
}

/** Replaces one input or one op of block `b` of `cell` with a different value. */
function mutateCell(rng: Rng, cell: Cell, b: number, kind: 'input' | 'op', branch: 0 | 1): Cell {
  const old = cell.blocks[b]!;
  let block: Block;
  if (kind === 'input') {
    // Block b reads states 0..b+1: 2 + b choices, at least 2, so another one exists.
    const current = old.inputs[branch];
    let v = rng.int(NUM_CELL_INPUTS + b - 1);
    if (v >= current) v++;
    const inputs: [number, number] = [old.inputs[0], old.inputs[1]];
    inputs[branch] = v;
    block = { ...old, inputs };
  } else {
    const current = OPERATIONS.indexOf(old.ops[branch]);
    let v = rng.int(NUM_OPERATIONS - 1);
    if (v >= current) v++;
    const ops: [Block['ops'][0], Block['ops'][1]] = [old.ops[0], old.ops[1]];
    ops[branch] = OPERATIONS[v]!;
    block = { ...old, ops };
  }
  const blocks = cell.blocks.map((x, i) => (i === b ? block : x));
  return { blocks, concat: kind === 'input' ? updatedConcat(cell, blocks) : [...cell.concat] };
}

/**
 * One regularized-evolution mutation (Real et al. 2019, "hidden state" or
 * "op" mutation): pick a cell, a block and a branch uniformly, then with
 * probability 1/2 rewire that branch to another state the block may read,
 * else give it another of the 13 ops (uniform over the alternatives). The
 * combine is left alone, as in that paper. The concat list changes only as
 * described at updatedConcat (input mutations only).
 *
 * The result is valid and never isomorphic to `g` (different genotypeHash):
 * rewiring to a twin block can give the same architecture, so such draws are
 * redrawn; after 32 tries an op mutation (always a real change, since it
 * alters the cell's op multiset) is forced. `numBlocks` defaults to the
 * genotype's own block count. Returns a fresh frozen genotype.
 */
export function mutateGenotype(rng: Rng, g: Genotype, opts: ValidateOptions = {}): Genotype {
  const numBlocks = inferNumBlocks(g, opts.numBlocks, false);
  validateGenotype(g, { numBlocks });
  const before = genotypeHash(g, { numBlocks });
  const cellTypes: readonly CellType[] = ['normal', 'reduction'];
  for (let attempt = 0; ; attempt++) {
    const cellType = cellTypes[rng.int(2)]!;
    const b = rng.int(numBlocks);
    const forceOp = attempt >= MUTATION_ATTEMPTS;
    const kind = forceOp || rng.int(2) === 1 ? 'op' : 'input';
    const branch = rng.int(2) as 0 | 1;
    const mutated: Genotype = { ...g, [cellType]: mutateCell(rng, g[cellType], b, kind, branch) };
    if (forceOp || genotypeHash(mutated, { numBlocks }) !== before) return copyGenotype(mutated);
  }
}
