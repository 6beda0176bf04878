import type {
  Block as DomainBlock,
  Cell as DomainCell,
  Combine as DomainCombine,
  Genotype as DomainGenotype,
  Operation as DomainOperation,
} from '@nasnet/search-space';
import {
  Combine,
  Operation,
  type Block,
  type Cell,
  type Genotype,
} from './gen/nas/v1/genotype.js';
import { MissingFieldError, UnknownEnumError, UnknownNameError, UnspecifiedEnumError } from './errors.js';

/**
 * Operation name (@nasnet/search-space) -> wire enum. Written out rather than
 * computed from positions so a reordering on either side cannot silently
 * remap operations; a test checks it follows OPERATIONS (the paper's order)
 * with enum number = index + 1.
 */
export const OPERATION_TO_PROTO: Readonly<Record<DomainOperation, Operation>> = Object.freeze({
  identity: Operation.OPERATION_IDENTITY,
  conv1x3_3x1: Operation.OPERATION_CONV_1X3_3X1,
  conv1x7_7x1: Operation.OPERATION_CONV_1X7_7X1,
  dil_conv3x3: Operation.OPERATION_DIL_CONV_3X3,
  avg_pool3x3: Operation.OPERATION_AVG_POOL_3X3,
  max_pool3x3: Operation.OPERATION_MAX_POOL_3X3,
  max_pool5x5: Operation.OPERATION_MAX_POOL_5X5,
  max_pool7x7: Operation.OPERATION_MAX_POOL_7X7,
  conv1x1: Operation.OPERATION_CONV_1X1,
  conv3x3: Operation.OPERATION_CONV_3X3,
  sep_conv3x3: Operation.OPERATION_SEP_CONV_3X3,
  sep_conv5x5: Operation.OPERATION_SEP_CONV_5X5,
  sep_conv7x7: Operation.OPERATION_SEP_CONV_7X7,
});

/** Combine name (@nasnet/search-space) -> wire enum. */
export const COMBINE_TO_PROTO: Readonly<Record<DomainCombine, Combine>> = Object.freeze({
  add: Combine.COMBINE_ADD,
  concat: Combine.COMBINE_CONCAT,
});

const OPERATION_FROM_PROTO: ReadonlyMap<number, DomainOperation> = new Map(
  Object.entries(OPERATION_TO_PROTO).map(([name, value]) => [value, name as DomainOperation]),
);
const COMBINE_FROM_PROTO: ReadonlyMap<number, DomainCombine> = new Map(
  Object.entries(COMBINE_TO_PROTO).map(([name, value]) => [value, name as DomainCombine]),
);

/** Extra, informational fields of the wire genotype (both computed by @nasnet/search-space). */
export interface GenotypeProtoExtras {
  /** Canonical hash (e.g. `genotypeHash(g)`). @default '' */
  readonly hash?: string;
  /** Human-readable form (e.g. `formatGenotype(g)`). @default '' */
  readonly text?: string;
}

/** Operation name -> wire enum; `field` names the place for the error message. */
export function operationToProto(op: DomainOperation, field = 'operation'): Operation {
  const value = Object.hasOwn(OPERATION_TO_PROTO, op) ? OPERATION_TO_PROTO[op] : undefined;
  if (value === undefined) throw new UnknownNameError(field, 'operation', op);
  return value;
}

/** Wire enum -> operation name; rejects OPERATION_UNSPECIFIED and numbers it does not know. */
export function operationFromProto(value: Operation, field = 'operation'): DomainOperation {
  if (value === Operation.OPERATION_UNSPECIFIED) {
    throw new UnspecifiedEnumError(field, 'operation', 'OPERATION_UNSPECIFIED');
  }
  const op = OPERATION_FROM_PROTO.get(value);
  if (op === undefined) throw new UnknownEnumError(field, 'operation', value);
  return op;
}

/** Combine name -> wire enum. */
export function combineToProto(combine: DomainCombine, field = 'combine'): Combine {
  const value = Object.hasOwn(COMBINE_TO_PROTO, combine) ? COMBINE_TO_PROTO[combine] : undefined;
  if (value === undefined) throw new UnknownNameError(field, 'combine', combine);
  return value;
}

/** Wire enum -> combine name; rejects COMBINE_UNSPECIFIED and numbers it does not know. */
export function combineFromProto(value: Combine, field = 'combine'): DomainCombine {
  if (value === Combine.COMBINE_UNSPECIFIED) {
    throw new UnspecifiedEnumError(field, 'combine', 'COMBINE_UNSPECIFIED');
  }
  const combine = COMBINE_FROM_PROTO.get(value);
  if (combine === undefined) throw new UnknownEnumError(field, 'combine', value);
  return combine;
}

function blockToProto(block: DomainBlock, path: string): Block {
  return {
    input1: block.inputs[0],
    input2: block.inputs[1],
    op1: operationToProto(block.ops[0], `${path}.ops[0]`),
    op2: operationToProto(block.ops[1], `${path}.ops[1]`),
    combine: combineToProto(block.combine, `${path}.combine`),
  };
}

function cellToProto(cell: DomainCell, path: string): Cell {
  return {
    blocks: cell.blocks.map((b, i) => blockToProto(b, `${path}.blocks[${i}]`)),
    concat: [...cell.concat],
  };
}

function blockFromProto(block: Block, path: string): DomainBlock {
  return {
    inputs: [block.input1, block.input2],
    ops: [operationFromProto(block.op1, `${path}.op1`), operationFromProto(block.op2, `${path}.op2`)],
    combine: combineFromProto(block.combine, `${path}.combine`),
  };
}

function cellFromProto(cell: Cell | undefined, path: string): DomainCell {
  if (cell === undefined || cell === null) throw new MissingFieldError(path, 'cell');
  return {
    blocks: cell.blocks.map((b, i) => blockFromProto(b, `${path}.blocks[${i}]`)),
    concat: [...cell.concat],
  };
}

/**
 * Domain genotype -> wire genotype. Maps names to enums only; it does not
 * validate the architecture (input indices, concat list). Error paths use
 * the domain names (`normal.blocks[1].ops[0]`).
 */
export function genotypeToProto(g: DomainGenotype, extras: GenotypeProtoExtras = {}): Genotype {
  return {
    normal: cellToProto(g.normal, 'normal'),
    reduction: cellToProto(g.reduction, 'reduction'),
    hash: extras.hash ?? '',
    text: extras.text ?? '',
  };
}

/**
 * Wire genotype -> domain genotype. Rejects missing cells and unspecified or
 * unknown enum values, naming the field (`normal.blocks[3].op2: unknown
 * operation enum 99`); it does not validate the architecture itself, and
 * ignores the informational `hash` and `text`.
 */
export function genotypeFromProto(p: Genotype): DomainGenotype {
  return {
    normal: cellFromProto(p.normal, 'normal'),
    reduction: cellFromProto(p.reduction, 'reduction'),
  };
}
