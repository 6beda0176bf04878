/**
 * Decoder for genotypes received as JSON (files, HTTP bodies, messages). The
 * JSON shape is the Genotype type itself:
 * `{ "normal": { "blocks": [{ "inputs": [0, 1], "ops": ["sep_conv5x5", ...],
 * "combine": "add" }, ...], "concat": [1, 2, ...] }, "reduction": {...} }`.
 */
import { GenotypeDecodeError, describeValue } from './errors.js';
import type { Block, Cell, CellType, Genotype } from './genotype.js';
import { copyGenotype } from './internal.js';
import type { Combine, Operation } from './operations.js';
import { validateGenotype } from './validate.js';
import type { ValidateOptions } from './validate.js';

const GENOTYPE_FIELDS = ['normal', 'reduction'] as const;
const CELL_FIELDS = ['blocks', 'concat'] as const;
const BLOCK_FIELDS = ['inputs', 'ops', 'combine'] as const;

type JsonObject = Record<string, unknown>;

function expectObject(value: unknown, path: string, what: string, fields: readonly string[]): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GenotypeDecodeError(path, `expected ${what} object, got ${describeValue(value)}`);
  }
  const obj = value as JsonObject;
  // Unknown fields are refused rather than dropped: a typo such as "concats"
  // must not silently fall back to something else.
  for (const key of Object.keys(obj)) {
    if (!fields.includes(key)) {
      const shown = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key);
      throw new GenotypeDecodeError(path, `unknown field ${shown} (${what} has ${fields.join(', ')})`);
    }
  }
  for (const key of fields) {
    if (!Object.hasOwn(obj, key)) throw new GenotypeDecodeError(path === '' ? key : `${path}.${key}`, 'missing field');
  }
  return obj;
}

function expectArray(value: unknown, path: string, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new GenotypeDecodeError(path, `expected ${what}, got ${describeValue(value)}`);
  return value;
}

function expectNumbers(value: unknown, path: string, what: string): number[] {
  const arr = expectArray(value, path, what);
  return arr.map((v, j) => {
    if (typeof v !== 'number') throw new GenotypeDecodeError(`${path}[${j}]`, `expected a number, got ${describeValue(v)}`);
    return v;
  });
}

function decodeBlock(value: unknown, path: string): Block {
  const obj = expectObject(value, path, 'a block', BLOCK_FIELDS);
  const inputs = expectNumbers(obj['inputs'], `${path}.inputs`, 'an array of two state indices');
  if (inputs.length !== 2) {
    throw new GenotypeDecodeError(`${path}.inputs`, `expected exactly 2 state indices, got ${inputs.length}`);
  }
  const opsRaw = expectArray(obj['ops'], `${path}.ops`, 'an array of two operation names');
  if (opsRaw.length !== 2) throw new GenotypeDecodeError(`${path}.ops`, `expected exactly 2 operation names, got ${opsRaw.length}`);
  const ops = opsRaw.map((v, j) => {
    if (typeof v !== 'string') throw new GenotypeDecodeError(`${path}.ops[${j}]`, `expected a string, got ${describeValue(v)}`);
    return v;
  });
  const combine = obj['combine'];
  if (typeof combine !== 'string') {
    throw new GenotypeDecodeError(`${path}.combine`, `expected a string, got ${describeValue(combine)}`);
  }
  // Names are checked against the operation list by validateGenotype, which
  // runs on the whole copy right after decoding.
  return {
    inputs: [inputs[0]!, inputs[1]!],
    ops: [ops[0] as Operation, ops[1] as Operation],
    combine: combine as Combine,
  };
}

function decodeCell(value: unknown, path: CellType): Cell {
  const obj = expectObject(value, path, 'a cell', CELL_FIELDS);
  const blocks = expectArray(obj['blocks'], `${path}.blocks`, 'an array of blocks');
  return {
    blocks: blocks.map((b, i) => decodeBlock(b, `${path}.blocks[${i}]`)),
    concat: expectNumbers(obj['concat'], `${path}.concat`, 'an array of state indices'),
  };
}

/**
 * Reads an untrusted JSON value (e.g. the result of JSON.parse) as a
 * genotype. Shape problems throw GenotypeDecodeError naming the field; rule
 * violations throw GenotypeValidationError. Returns a fresh, frozen copy that
 * shares nothing with `value`.
 */
export function genotypeFromJSON(value: unknown, opts: ValidateOptions = {}): Genotype {
  const obj = expectObject(value, '', 'a genotype', GENOTYPE_FIELDS);
  const decoded: Genotype = {
    normal: decodeCell(obj['normal'], 'normal'),
    reduction: decodeCell(obj['reduction'], 'reduction'),
  };
  validateGenotype(decoded, opts);
  return copyGenotype(decoded);
}
