import type { Combine, Operation } from './operations.js';

/**
 * Hidden-state indexing inside a cell, as in the reference implementation
 * (tensorflow/models research/slim nets/nasnet/nasnet_utils.py):
 *   0      = h_i, this cell's input (the previous cell's output)
 *   1      = h_{i-1}, the input of the previous cell (two cells back)
 *   2 + k  = the output of block k of this cell
 * A block may read any state with index < 2 + its own position.
 */
export const INPUT_CURRENT = 0;
export const INPUT_PREVIOUS = 1;
export const NUM_CELL_INPUTS = 2;

/** Blocks per cell in the paper's search (B = 5). */
export const DEFAULT_NUM_BLOCKS = 5;

export interface Block {
  /** Hidden-state indices read by the two branches. */
  readonly inputs: readonly [number, number];
  /** Operation applied to each branch. */
  readonly ops: readonly [Operation, Operation];
  /** How the two branches are merged. */
  readonly combine: Combine;
}

export interface Cell {
  readonly blocks: readonly Block[];
  /**
   * Hidden states concatenated (channel axis) into the cell output, stored
   * explicitly: the paper says "unused states", but the reference NASNet-A
   * normal cell also concatenates h_{i-1} (index 1).
   */
  readonly concat: readonly number[];
}

export type CellType = 'normal' | 'reduction';

export interface Genotype {
  readonly normal: Cell;
  readonly reduction: Cell;
}
