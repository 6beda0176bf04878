/**
 * The controller's view of the search space (Zoph et al. 2017, section 3):
 * for the normal cell, then the reduction cell, for each block b = 0..B-1,
 * five softmax decisions in this order:
 *
 *   input1  (2 + b choices: the state index itself, 0 = h_i, 1 = h_{i-1},
 *            2 + k = block k)
 *   input2  (same)
 *   op1     (13 choices: index into OPERATIONS, the paper's order)
 *   op2     (same)
 *   combine (2 choices: index into COMBINES, 0 = add, 1 = concat)
 *
 * so 2 x 5 x B = 50 decisions for B = 5. The concat list is not a decision:
 * decisionsToGenotype fills it with defaultConcat (the paper's "all unused
 * hidden states"), and genotypeToDecisions drops it, so a genotype with a
 * hand-written concat (NASNet-A's normal cell also concatenates h_{i-1})
 * comes back with the default one.
 */
import { DecisionError } from './errors.js';
import { DEFAULT_NUM_BLOCKS, NUM_CELL_INPUTS } from './genotype.js';
import type { Block, Cell, CellType, Genotype } from './genotype.js';
import { copyGenotype, inferNumBlocks, resolveNumBlocks } from './internal.js';
import { COMBINES, NUM_OPERATIONS, OPERATIONS } from './operations.js';
import { validateGenotype } from './validate.js';

/** The two cells in the order the controller predicts them. */
export const CELL_TYPES: readonly CellType[] = Object.freeze(['normal', 'reduction'] as const);

/** The five decisions of a block, in the controller's order. */
export const DECISION_FIELDS = Object.freeze(['input1', 'input2', 'op1', 'op2', 'combine'] as const);
export type DecisionField = (typeof DECISION_FIELDS)[number];

/** Number of decisions per block (5 in the paper). */
export const DECISIONS_PER_BLOCK = DECISION_FIELDS.length;

/** One softmax decision of the controller. */
export interface DecisionSlot {
  /** Cell the decision belongs to. */
  readonly cell: CellType;
  /** Block index inside that cell (0-based). */
  readonly block: number;
  /** Which of the block's five decisions. */
  readonly field: DecisionField;
  /** Size of the softmax: 2 + block for inputs, 13 for ops, 2 for combine. */
  readonly numChoices: number;
}

/** `normal.blocks[2].op1`: the name used in error messages. */
export function decisionSlotName(slot: DecisionSlot): string {
  return `${slot.cell}.blocks[${slot.block}].${slot.field}`;
}

function choicesOf(field: DecisionField, block: number): number {
  switch (field) {
    case 'input1':
    case 'input2':
      return NUM_CELL_INPUTS + block;
    case 'op1':
    case 'op2':
      return NUM_OPERATIONS;
    case 'combine':
      return COMBINES.length;
  }
}

/**
 * Every decision slot in emission order: 2 cells x `numBlocks` blocks x 5
 * fields (50 for the default B = 5). A fresh array of frozen slots.
 */
export function decisionSpace(numBlocks: number = DEFAULT_NUM_BLOCKS): DecisionSlot[] {
  const b = resolveNumBlocks(numBlocks);
  const slots: DecisionSlot[] = [];
  for (const cell of CELL_TYPES) {
    for (let block = 0; block < b; block++) {
      for (const field of DECISION_FIELDS) {
        slots.push(Object.freeze({ cell, block, field, numChoices: choicesOf(field, block) }));
      }
    }
  }
  return slots;
}

/**
 * Output states of blocks that no block reads, ascending: the paper's rule
 * that "all unused hidden states" are concatenated into the cell output.
 * The last block is never read, so the list is never empty. Cell inputs
 * (0, 1) are never included; the reference NASNet-A normal cell's extra
 * h_{i-1} must be written explicitly.
 */
export function defaultConcat(blocks: readonly Block[]): number[] {
  const read = new Set<number>();
  for (const block of blocks) {
    read.add(block.inputs[0]);
    read.add(block.inputs[1]);
  }
  const concat: number[] = [];
  for (let k = 0; k < blocks.length; k++) {
    if (!read.has(NUM_CELL_INPUTS + k)) concat.push(NUM_CELL_INPUTS + k);
  }
  return concat;
}

/**
 * Builds the genotype the controller's decisions describe (see the module
 * doc for the order); concat lists come from defaultConcat. Throws
 * DecisionError naming the slot of a value that is not an integer in
 * 0..numChoices-1, or the expected length.
 */
export function decisionsToGenotype(decisions: ArrayLike<number>, numBlocks: number = DEFAULT_NUM_BLOCKS): Genotype {
  const slots = decisionSpace(numBlocks);
  if (decisions === null || typeof decisions !== 'object' || typeof decisions.length !== 'number') {
    throw new DecisionError(-1, '', `expected an array of ${slots.length} integers, got ${decisions === null ? 'null' : typeof decisions}`);
  }
  if (decisions.length !== slots.length) {
    throw new DecisionError(
      -1,
      '',
      `expected ${slots.length} values (2 cells x ${numBlocks} blocks x ${DECISIONS_PER_BLOCK}), got ${decisions.length}`,
    );
  }
  slots.forEach((slot, i) => {
    const v: unknown = decisions[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= slot.numChoices) {
      throw new DecisionError(
        i,
        decisionSlotName(slot),
        `value ${typeof v === 'number' ? v : String(v)} is not an integer in 0..${slot.numChoices - 1}`,
      );
    }
  });
  const cells = CELL_TYPES.map((_, c): Cell => {
    const blocks: Block[] = [];
    for (let b = 0; b < numBlocks; b++) {
      const at = (c * numBlocks + b) * DECISIONS_PER_BLOCK;
      const d = (j: number): number => decisions[at + j]!;
      blocks.push({
        inputs: [d(0), d(1)],
        ops: [OPERATIONS[d(2)]!, OPERATIONS[d(3)]!],
        combine: COMBINES[d(4)]!,
      });
    }
    return { blocks, concat: defaultConcat(blocks) };
  });
  return copyGenotype({ normal: cells[0]!, reduction: cells[1]! });
}

/**
 * The decisions that produce `g`'s blocks (its concat lists are not
 * encoded). Validated first; `numBlocks` defaults to the genotype's own
 * block count.
 */
export function genotypeToDecisions(g: Genotype, numBlocks?: number): number[] {
  validateGenotype(g, { numBlocks: inferNumBlocks(g, numBlocks, false) });
  const out: number[] = [];
  for (const cellType of CELL_TYPES) {
    for (const block of g[cellType].blocks) {
      out.push(
        block.inputs[0],
        block.inputs[1],
        OPERATIONS.indexOf(block.ops[0]),
        OPERATIONS.indexOf(block.ops[1]),
        COMBINES.indexOf(block.combine),
      );
    }
  }
  return out;
}
