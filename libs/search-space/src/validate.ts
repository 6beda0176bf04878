/**
 * Rules of the NASNet search space (Zoph et al. 2017, section 3), checked on
 * genotypes that may come from anywhere (a file, the wire, a hand edit).
 */
import { GenotypeValidationError, describeValue } from './errors.js';
import { NUM_CELL_INPUTS } from './genotype.js';
import type { Cell, CellType, Genotype } from './genotype.js';
import { resolveNumBlocks, numStates } from './internal.js';
import { COMBINES, OPERATIONS, isOperation } from './operations.js';

export interface ValidateOptions {
  /**
   * Blocks per cell.
   * @default 5 (B = 5 in the paper)
   */
  readonly numBlocks?: number;
}

const CELL_TYPES: readonly CellType[] = ['normal', 'reduction'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a whole genotype: both cells present, each valid for `numBlocks`.
 * Throws GenotypeValidationError naming the first broken field.
 */
export function validateGenotype(g: Genotype, opts: ValidateOptions = {}): void {
  const numBlocks = resolveNumBlocks(opts.numBlocks);
  const value: unknown = g;
  if (!isRecord(value)) {
    throw new GenotypeValidationError('', `expected an object with "normal" and "reduction" cells, got ${describeValue(value)}`);
  }
  for (const cellType of CELL_TYPES) {
    if (!(cellType in value) || value[cellType] === undefined) {
      throw new GenotypeValidationError(cellType, 'missing cell');
    }
    validateCellAt(value[cellType], cellType, numBlocks);
  }
}

/**
 * Checks one cell. `cellType` only names the cell in error paths
 * (`reduction.blocks[0].ops[1]`); both cell types obey the same rules.
 */
export function validateCell(cell: Cell, cellType: CellType, opts: ValidateOptions = {}): void {
  validateCellAt(cell, cellType, resolveNumBlocks(opts.numBlocks));
}

/** Core check; `prefix` starts every path. */
export function validateCellAt(cell: unknown, prefix: string, numBlocks: number): void {
  if (!isRecord(cell)) {
    throw new GenotypeValidationError(prefix, `expected a cell object with "blocks" and "concat", got ${describeValue(cell)}`);
  }
  const blocks = cell['blocks'];
  const blocksPath = `${prefix}.blocks`;
  if (!Array.isArray(blocks)) {
    throw new GenotypeValidationError(blocksPath, `expected an array of blocks, got ${describeValue(blocks)}`);
  }
  if (blocks.length !== numBlocks) {
    throw new GenotypeValidationError(blocksPath, `wrong number of blocks: expected ${numBlocks}, got ${blocks.length}`);
  }
  const states = numStates(numBlocks);
  for (let b = 0; b < numBlocks; b++) {
    validateBlock(blocks[b], `${blocksPath}[${b}]`, b, states);
  }
  validateConcat(cell['concat'], `${prefix}.concat`, states);
}

function validateBlock(block: unknown, path: string, b: number, states: number): void {
  if (!isRecord(block)) {
    throw new GenotypeValidationError(path, `expected a block object with "inputs", "ops" and "combine", got ${describeValue(block)}`);
  }
  const inputs = block['inputs'];
  if (!Array.isArray(inputs) || inputs.length !== 2) {
    throw new GenotypeValidationError(`${path}.inputs`, `expected a pair of state indices, got ${describeValue(inputs)}`);
  }
  // Block b may read the two cell inputs and blocks 0..b-1: states 0..b+1.
  const lastReadable = NUM_CELL_INPUTS + b - 1;
  const readable = `block ${b} may read states 0..${lastReadable}`;
  for (let j = 0; j < 2; j++) {
    const at = `${path}.inputs[${j}]`;
    const v: unknown = inputs[j];
    if (typeof v !== 'number') {
      throw new GenotypeValidationError(at, `expected an integer state index, got ${describeValue(v)}`);
    }
    if (!Number.isInteger(v)) throw new GenotypeValidationError(at, `input index ${v} is not an integer (${readable})`);
    if (v < 0) throw new GenotypeValidationError(at, `input index ${v} is negative (${readable})`);
    if (v >= states) {
      throw new GenotypeValidationError(
        at,
        `input index ${v} is out of range (the cell has states 0..${states - 1}; ${readable})`,
      );
    }
    if (v === lastReadable + 1) {
      throw new GenotypeValidationError(at, `input index ${v} refers to block ${b} itself (${readable})`);
    }
    if (v > lastReadable) {
      throw new GenotypeValidationError(at, `input index ${v} refers to a later block (${readable})`);
    }
  }
  const ops = block['ops'];
  if (!Array.isArray(ops) || ops.length !== 2) {
    throw new GenotypeValidationError(`${path}.ops`, `expected a pair of operations, got ${describeValue(ops)}`);
  }
  for (let j = 0; j < 2; j++) {
    const op: unknown = ops[j];
    if (typeof op !== 'string') {
      throw new GenotypeValidationError(`${path}.ops[${j}]`, `expected an operation name, got ${describeValue(op)}`);
    }
    if (!isOperation(op)) {
      throw new GenotypeValidationError(
        `${path}.ops[${j}]`,
        `unknown operation ${JSON.stringify(op.length > 40 ? `${op.slice(0, 40)}...` : op)} (known: ${OPERATIONS.join(', ')})`,
      );
    }
  }
  const combine = block['combine'];
  if (!(COMBINES as readonly unknown[]).includes(combine)) {
    throw new GenotypeValidationError(
      `${path}.combine`,
      `invalid combine ${typeof combine === 'string' ? JSON.stringify(combine) : describeValue(combine)} (expected "add" or "concat")`,
    );
  }
}

function validateConcat(concat: unknown, path: string, states: number): void {
  if (!Array.isArray(concat)) {
    throw new GenotypeValidationError(path, `expected an array of state indices, got ${describeValue(concat)}`);
  }
  if (concat.length === 0) throw new GenotypeValidationError(path, 'empty: the cell output must concatenate at least one state');
  const firstAt = new Map<number, number>();
  for (let j = 0; j < concat.length; j++) {
    const at = `${path}[${j}]`;
    const v: unknown = concat[j];
    if (typeof v !== 'number') throw new GenotypeValidationError(at, `expected an integer state index, got ${describeValue(v)}`);
    if (!Number.isInteger(v)) throw new GenotypeValidationError(at, `state index ${v} is not an integer`);
    if (v < 0) throw new GenotypeValidationError(at, `state index ${v} is negative`);
    if (v >= states) {
      throw new GenotypeValidationError(at, `state ${v} does not exist (the cell has states 0..${states - 1})`);
    }
    const first = firstAt.get(v);
    if (first !== undefined) {
      throw new GenotypeValidationError(at, `duplicate entry: state ${v} is already listed at concat[${first}]`);
    }
    firstAt.set(v, j);
  }
}
