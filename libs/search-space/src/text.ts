/**
 * A compact, one-line text form of genotypes for people: logs, CLI flags,
 * reports. NASNet-A reads
 *
 *   normal: sep5x5(0) + sep3x3(1); sep5x5(1) + sep3x3(1); avg3x3(0) + id(1);
 *   avg3x3(1) + avg3x3(1); sep3x3(0) + id(0) => concat(1,2,3,4,5,6) |
 *   reduction: sep5x5(0) + sep7x7(1); max3x3(0) + sep7x7(1); ...
 *
 * (on one line). Grammar (whitespace allowed between all tokens):
 *
 *   genotype := "normal" ":" cell "|" "reduction" ":" cell
 *   cell     := [ block { ";" block } ] "=>" "concat" "(" [ int { "," int } ] ")"
 *   block    := branch ("+" | "++") branch        "+" = add, "++" = channel concat
 *   branch   := label "(" int ")"                  op applied to hidden state int
 *
 * Blocks are listed in order, so block k is hidden state 2 + k; states 0 and
 * 1 are h_i and h_{i-1} (see genotype.ts). Labels are OPERATION_TEXT_LABELS;
 * the full operation names (`sep_conv3x3`) are accepted too.
 */
import { GenotypeParseError, GenotypeValidationError } from './errors.js';
import type { Block, Cell, CellType, Genotype } from './genotype.js';
import { copyCell, copyGenotype, inferNumBlocks, resolveNumBlocks } from './internal.js';
import { OPERATIONS, isOperation } from './operations.js';
import type { Combine, Operation } from './operations.js';
import { validateCellAt, validateGenotype } from './validate.js';
import type { ValidateOptions } from './validate.js';

/**
 * Short labels of the text form. They equal operationInfo(op).label except
 * for the two factorised convs, whose drawing labels contain "+", the add
 * sign of this grammar.
 */
export const OPERATION_TEXT_LABELS: Readonly<Record<Operation, string>> = Object.freeze({
  identity: 'id',
  conv1x3_3x1: '1x3_3x1',
  conv1x7_7x1: '1x7_7x1',
  dil_conv3x3: 'dil3x3',
  avg_pool3x3: 'avg3x3',
  max_pool3x3: 'max3x3',
  max_pool5x5: 'max5x5',
  max_pool7x7: 'max7x7',
  conv1x1: 'conv1x1',
  conv3x3: 'conv3x3',
  sep_conv3x3: 'sep3x3',
  sep_conv5x5: 'sep5x5',
  sep_conv7x7: 'sep7x7',
});

const LABEL_TO_OP: ReadonlyMap<string, Operation> = new Map(
  OPERATIONS.map((op) => [OPERATION_TEXT_LABELS[op], op] as const),
);

const COMBINE_SIGN: Readonly<Record<Combine, string>> = { add: '+', concat: '++' };

/** Options of the single-cell functions. */
export interface CellTextOptions extends ValidateOptions {
  /**
   * Names the cell in error paths (`reduction.blocks[1].ops[0]`).
   * @default 'cell'
   */
  readonly cellType?: CellType;
}

function formatBlock(block: Block): string {
  const [a, b] = block.inputs;
  const [opA, opB] = block.ops;
  return `${OPERATION_TEXT_LABELS[opA]}(${a}) ${COMBINE_SIGN[block.combine]} ${OPERATION_TEXT_LABELS[opB]}(${b})`;
}

function formatCellUnchecked(cell: Cell): string {
  const body = cell.blocks.map(formatBlock).join('; ');
  return `${body}${body === '' ? '' : ' '}=> concat(${cell.concat.join(',')})`;
}

/**
 * Text form of one cell (validated first; `numBlocks` defaults to the cell's
 * own block count).
 */
export function formatCell(cell: Cell, opts: CellTextOptions = {}): string {
  validateCellAt(cell, opts.cellType ?? 'cell', inferNumBlocks(cell, opts.numBlocks, true));
  return formatCellUnchecked(cell);
}

/**
 * One-line text form of a genotype (validated first; `numBlocks` defaults to
 * the normal cell's block count, so both cells must have that many).
 */
export function formatGenotype(g: Genotype, opts: ValidateOptions = {}): string {
  validateGenotype(g, { numBlocks: inferNumBlocks(g, opts.numBlocks, false) });
  return formatGenotypeUnchecked(g);
}

/** For callers that validated already (canonical hashing). */
export function formatGenotypeUnchecked(g: Genotype): string {
  return `normal: ${formatCellUnchecked(g.normal)} | reduction: ${formatCellUnchecked(g.reduction)}`;
}

export { formatCellUnchecked };

const LABEL_LIST = OPERATIONS.map((op) => OPERATION_TEXT_LABELS[op]).join(', ');
/** At most this many digits in a state index: keeps numbers exact and errors short. */
const MAX_INDEX_DIGITS = 6;

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Recursive-descent reader; remembers where each field came from. */
class Reader {
  pos = 0;
  /** Field path -> offset of its text, to place validation errors. */
  readonly offsets = new Map<string, number>();

  constructor(readonly text: string) {}

  fail(expected: string, at = this.pos): never {
    throw new GenotypeParseError(this.text, at, expected, `expected ${expected}, found ${this.found(at)}`);
  }

  found(at: number): string {
    if (at >= this.text.length) return 'end of text';
    const c = this.text.charCodeAt(at);
    if (isWordChar(c)) {
      let end = at;
      while (end < this.text.length && end - at < 24 && isWordChar(this.text.charCodeAt(end))) end++;
      return JSON.stringify(this.text.slice(at, end));
    }
    return JSON.stringify(this.text.slice(at, at + 1));
  }

  skipWs(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  peek(s: string): boolean {
    this.skipWs();
    return this.text.startsWith(s, this.pos);
  }

  expect(s: string, expected: string): void {
    this.skipWs();
    if (!this.text.startsWith(s, this.pos)) this.fail(expected);
    this.pos += s.length;
  }

  word(expected: string): { value: string; at: number } {
    this.skipWs();
    const at = this.pos;
    while (this.pos < this.text.length && isWordChar(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === at) this.fail(expected);
    return { value: this.text.slice(at, this.pos), at };
  }

  keyword(kw: string): void {
    const { value, at } = this.word(`"${kw}"`);
    if (value !== kw) this.fail(`"${kw}"`, at);
  }

  index(path: string): number {
    this.skipWs();
    const at = this.pos;
    while (this.pos < this.text.length && isDigit(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === at) this.fail('a state index (digits)');
    if (this.pos - at > MAX_INDEX_DIGITS) this.fail(`a state index of at most ${MAX_INDEX_DIGITS} digits`, at);
    this.offsets.set(path, at);
    return Number(this.text.slice(at, this.pos));
  }

  operation(path: string): Operation {
    const { value, at } = this.word(`an operation label (${LABEL_LIST})`);
    const op = LABEL_TO_OP.get(value) ?? (isOperation(value) ? value : undefined);
    if (op === undefined) {
      throw new GenotypeParseError(
        this.text,
        at,
        'an operation label',
        `unknown operation ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}: expected one of ${LABEL_LIST}`,
      );
    }
    this.offsets.set(path, at);
    return op;
  }

  branch(path: string, j: number): { input: number; op: Operation } {
    const op = this.operation(`${path}.ops[${j}]`);
    this.expect('(', '"(" after the operation label');
    const input = this.index(`${path}.inputs[${j}]`);
    this.expect(')', '")" after the state index');
    return { input, op };
  }

  block(path: string): Block {
    this.skipWs();
    this.offsets.set(path, this.pos);
    const first = this.branch(path, 0);
    this.skipWs();
    this.offsets.set(`${path}.combine`, this.pos);
    let combine: Combine;
    if (this.text.startsWith('++', this.pos)) {
      combine = 'concat';
      this.pos += 2;
    } else if (this.text.startsWith('+', this.pos)) {
      combine = 'add';
      this.pos += 1;
    } else {
      this.fail('"+" (add) or "++" (concat) between the two branches');
    }
    const second = this.branch(path, 1);
    return { inputs: [first.input, second.input], ops: [first.op, second.op], combine };
  }

  cell(prefix: string): Cell {
    this.skipWs();
    this.offsets.set(prefix, this.pos);
    this.offsets.set(`${prefix}.blocks`, this.pos);
    const blocks: Block[] = [];
    if (!this.peek('=>')) {
      for (;;) {
        blocks.push(this.block(`${prefix}.blocks[${blocks.length}]`));
        if (this.peek(';')) {
          this.pos++;
          continue;
        }
        if (this.peek('=>')) break;
        this.fail('";" before the next block or "=>" before the concat list');
      }
    }
    this.expect('=>', '"=>" before the concat list');
    this.keyword('concat');
    this.expect('(', '"(" after "concat"');
    this.offsets.set(`${prefix}.concat`, this.pos);
    const concat: number[] = [];
    if (!this.peek(')')) {
      for (;;) {
        concat.push(this.index(`${prefix}.concat[${concat.length}]`));
        if (this.peek(',')) {
          this.pos++;
          continue;
        }
        break;
      }
    }
    this.expect(')', '"," or ")" in the concat list');
    return { blocks, concat };
  }

  end(): void {
    this.skipWs();
    if (this.pos < this.text.length) this.fail('end of text');
  }

  /** Re-throws a validation error of the parsed value at the place it came from. */
  placed(err: GenotypeValidationError): GenotypeParseError {
    let path = err.path;
    let at = this.offsets.get(path);
    while (at === undefined && path !== '') {
      const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
      path = cut <= 0 ? '' : path.slice(0, cut);
      at = this.offsets.get(path);
    }
    return new GenotypeParseError(this.text, at ?? 0, 'a valid genotype', err.message, { cause: err, path: err.path });
  }
}

function parseWith<T>(text: string, read: (r: Reader) => T, check: (value: T) => void): T {
  if (typeof text !== 'string') {
    throw new GenotypeParseError('', 0, 'a string', `expected a string, got ${typeof text}`);
  }
  const reader = new Reader(text);
  const value = read(reader);
  reader.end();
  try {
    check(value);
  } catch (err) {
    if (err instanceof GenotypeValidationError) throw reader.placed(err);
    throw err;
  }
  return value;
}

/**
 * Reads the text form of a genotype. Syntax errors and rule violations both
 * throw GenotypeParseError with the line/column where the problem is and
 * what was expected there (for rule violations `cause` is the
 * GenotypeValidationError). Returns a fresh, frozen genotype.
 */
export function parseGenotype(text: string, opts: ValidateOptions = {}): Genotype {
  const g = parseWith(
    text,
    (r) => {
      r.keyword('normal');
      r.expect(':', '":" after "normal"');
      const normal = r.cell('normal');
      r.expect('|', '"|" between the normal and the reduction cell');
      r.keyword('reduction');
      r.expect(':', '":" after "reduction"');
      const reduction = r.cell('reduction');
      return { normal, reduction };
    },
    (value) => validateGenotype(value, opts),
  );
  return copyGenotype(g);
}

/** Reads the text form of one cell (`... => concat(...)`), see parseGenotype. */
export function parseCell(text: string, opts: CellTextOptions = {}): Cell {
  const prefix = opts.cellType ?? 'cell';
  const numBlocks = resolveNumBlocks(opts.numBlocks);
  const cell = parseWith(
    text,
    (r) => r.cell(prefix),
    (value) => validateCellAt(value, prefix, numBlocks),
  );
  return copyCell(cell);
}
