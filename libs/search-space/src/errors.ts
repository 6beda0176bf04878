/**
 * Error classes of the search-space lib, one per failure. Each carries the
 * place it refers to (a field path such as `normal.blocks[2].inputs[1]`, a
 * text offset, a decision index) as a property as well as in its message.
 */

/** Path of the whole genotype in messages (paths are relative to it). */
const ROOT_NAME = 'genotype';

function withPath(path: string, reason: string): string {
  return `${path === '' ? ROOT_NAME : path}: ${reason}`;
}

/**
 * A genotype or cell breaks a rule of the search space (an input that reads
 * a later block, an unknown operation, a bad concat list, a wrong count...).
 */
export class GenotypeValidationError extends Error {
  /** Field path, e.g. `normal.blocks[2].inputs[1]`; '' for the whole genotype. */
  readonly path: string;
  /** What is wrong there, without the path. */
  readonly reason: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(withPath(path, reason), options);
    this.name = 'GenotypeValidationError';
    this.path = path;
    this.reason = reason;
  }
}

/**
 * An untrusted JSON value does not have the shape of a genotype (a missing or
 * unknown field, a field of the wrong JSON type).
 */
export class GenotypeDecodeError extends Error {
  /** Field path, e.g. `reduction.blocks[0].ops`; '' for the whole value. */
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(withPath(path, reason), options);
    this.name = 'GenotypeDecodeError';
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The text form of a genotype or cell could not be read. `offset` is the
 * 0-based UTF-16 index into the text, `line`/`column` are 1-based.
 */
export class GenotypeParseError extends Error {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** What the parser wanted at that place, e.g. `"(" after an operation label`. */
  readonly expected: string;
  /** Field path when the text parsed but broke a rule (then `cause` is the validation error). */
  readonly path: string | undefined;

  constructor(
    text: string,
    offset: number,
    expected: string,
    detail: string,
    options?: ErrorOptions & { path?: string },
  ) {
    const { line, column } = lineAndColumn(text, offset);
    const where = line === 1 ? `column ${column}` : `line ${line}, column ${column}`;
    super(`${where} (offset ${offset}): ${detail}`, options);
    this.name = 'GenotypeParseError';
    this.offset = offset;
    this.line = line;
    this.column = column;
    this.expected = expected;
    this.path = options?.path;
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** `getNamedGenotype` was asked for a name it does not know. */
export class UnknownGenotypeNameError extends Error {
  readonly genotypeName: string;
  readonly known: readonly string[];

  constructor(name: string, known: readonly string[], options?: ErrorOptions) {
    super(`unknown genotype ${JSON.stringify(name)} (known: ${known.join(', ')})`, options);
    this.name = 'UnknownGenotypeNameError';
    this.genotypeName = name;
    this.known = known;
  }
}

/**
 * A controller decision list is not valid: wrong length, or a value outside
 * its slot's range. `index` is the position in the list (-1 for the length).
 */
export class DecisionError extends Error {
  readonly index: number;
  /** Slot name such as `reduction.blocks[1].op1`, or '' for the length. */
  readonly slot: string;

  constructor(index: number, slot: string, reason: string, options?: ErrorOptions) {
    super(index < 0 ? `decisions: ${reason}` : `decision ${index} (${slot}): ${reason}`, options);
    this.name = 'DecisionError';
    this.index = index;
    this.slot = slot;
  }
}

/** Short description of an untrusted value for messages (never huge, never throws). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
      return `string ${JSON.stringify(shown)}`;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
