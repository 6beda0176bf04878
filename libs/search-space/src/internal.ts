/** Helpers shared by the lib's modules; not exported from index.ts. */
import { DEFAULT_NUM_BLOCKS, NUM_CELL_INPUTS } from './genotype.js';
import type { Block, Cell, Genotype } from './genotype.js';

/**
 * Largest block count accepted. The paper uses B = 5; the bound keeps the
 * canonical-form search (worst case about (B/2)! placements of twin blocks,
 * see canonical.ts) well under a second.
 */
export const MAX_NUM_BLOCKS = 16;

/** Normalises the shared `numBlocks` option (default B = 5, the paper's value). */
export function resolveNumBlocks(numBlocks: number | undefined): number {
  const b = numBlocks ?? DEFAULT_NUM_BLOCKS;
  if (!Number.isInteger(b) || b < 1 || b > MAX_NUM_BLOCKS) {
    throw new RangeError(`numBlocks must be an integer in 1..${MAX_NUM_BLOCKS}, got ${String(b)}`);
  }
  return b;
}

/** Number of hidden states of a cell with `numBlocks` blocks (2 inputs + blocks). */
export function numStates(numBlocks: number): number {
  return NUM_CELL_INPUTS + numBlocks;
}

/** -0 (which JSON can carry and validation accepts as 0) becomes 0. */
function index(v: number): number {
  return v === 0 ? 0 : v;
}

/** A fresh, deeply frozen copy of a block (inputs/ops copied as pairs). */
export function copyBlock(block: Block): Block {
  return Object.freeze({
    inputs: Object.freeze([index(block.inputs[0]), index(block.inputs[1])] as const),
    ops: Object.freeze([block.ops[0], block.ops[1]] as const),
    combine: block.combine,
  });
}

export function copyCell(cell: Cell): Cell {
  return Object.freeze({
    blocks: Object.freeze(cell.blocks.map(copyBlock)),
    concat: Object.freeze(cell.concat.map(index)),
  });
}

export function copyGenotype(g: Genotype): Genotype {
  return Object.freeze({ normal: copyCell(g.normal), reduction: copyCell(g.reduction) });
}

/**
 * `numBlocks` for functions handed an existing genotype or cell: the option
 * when given, else the block count the value itself has (so B != 5 searches
 * need no extra argument), else the paper's default when that count is not
 * usable (validation then reports the mismatch).
 */
export function inferNumBlocks(value: unknown, numBlocks: number | undefined, isCell: boolean): number {
  if (numBlocks !== undefined) return resolveNumBlocks(numBlocks);
  let cell: unknown = value;
  if (!isCell) cell = typeof value === 'object' && value !== null ? (value as { normal?: unknown }).normal : undefined;
  const blocks = typeof cell === 'object' && cell !== null ? (cell as { blocks?: unknown }).blocks : undefined;
  if (Array.isArray(blocks) && blocks.length >= 1 && blocks.length <= MAX_NUM_BLOCKS) return blocks.length;
  return DEFAULT_NUM_BLOCKS;
}
