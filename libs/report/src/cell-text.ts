/**
 * Terminal drawings for `nasctl top` and logs: a cell as one formula line
 * per block, and sparklines for reward trends.
 */
import { operationInfo } from '@nasnet/search-space';
import type { Block, Cell, CellType, OperationKind } from '@nasnet/search-space';
import { InvalidDrawingOptionError } from './errors.js';
import { layoutCell } from './cell-layout.js';
import { branchLabel, stateName } from './palette.js';

/** Options of `cellToText`. */
export interface CellTextDrawingOptions {
  /**
   * Colour operations by kind (as in the SVG legend), combines and block
   * names with ANSI escape codes.
   * @default false
   */
  readonly color?: boolean;
  /**
   * Append a levels view of the DAG: which blocks run at each depth and
   * what they read.
   * @default false
   */
  readonly dag?: boolean;
}

// ANSI SGR codes; cyan rather than blue for pools, which is unreadable on
// dark terminals.
const ANSI_KIND: Readonly<Record<OperationKind, string>> = {
  separable: '33',
  conv: '31',
  pool: '36',
  identity: '90',
};
const ANSI_ADD = '32';
const ANSI_CONCAT = '35';
const ANSI_BOLD = '1';

function paint(on: boolean, code: string, s: string): string {
  return on ? `\u001b[${code}m${s}\u001b[0m` : s;
}

function branchText(block: Block, branch: 0 | 1, cellType: CellType, color: boolean): string {
  const op = block.ops[branch];
  const input = block.inputs[branch];
  return `${paint(color, ANSI_KIND[operationInfo(op).kind], branchLabel(op, input, cellType))}(${stateName(input)})`;
}

/**
 * One block as a formula: `b2 = avg3x3(h[i]) + id(h[i-1])`, or
 * `b2 = concat(avg3x3(h[i]), id(h[i-1]))` for a channel-concat combine.
 */
export function blockFormula(block: Block, index: number, cellType: CellType = 'normal', color = false): string {
  const name = paint(color, ANSI_BOLD, `b${index}`);
  const a = branchText(block, 0, cellType, color);
  const b = branchText(block, 1, cellType, color);
  return block.combine === 'add'
    ? `${name} = ${a} ${paint(color, ANSI_ADD, '+')} ${b}`
    : `${name} = ${paint(color, ANSI_CONCAT, 'concat')}(${a}, ${b})`;
}

/** The cell output as a formula: `out = concat(h[i-1], b0, b1)`. */
export function outputFormula(cell: Cell, color = false): string {
  return `${paint(color, ANSI_BOLD, 'out')} = concat(${cell.concat.map(stateName).join(', ')})`;
}

/**
 * A compact drawing of a cell for terminals, one string per line:
 *
 *   normal cell, 5 blocks, inputs h[i] h[i-1]
 *     b0 = sep5x5(h[i]) + sep3x3(h[i-1])
 *     ...
 *     out = concat(h[i-1], b0, b1, b2, b3, b4)
 *
 * With `dag`, a levels view follows (deepest first), e.g. for NASNet-A's
 * reduction cell `  L2 │ b3 ← b1,b0   b4 ← b0,h[i]`. Throws
 * UndrawableCellError for a cell whose blocks read states that do not exist.
 */
export function cellToText(cell: Cell, cellType: CellType = 'normal', opts: CellTextDrawingOptions = {}): string[] {
  const color = opts.color ?? false;
  // layoutCell validates the cell and gives the levels the DAG view needs.
  const layout = layoutCell(cell, cellType);
  const n = cell.blocks.length;
  const lines = [`${cellType} cell, ${n} block${n === 1 ? '' : 's'}, inputs h[i] h[i-1]`];
  cell.blocks.forEach((block, k) => lines.push(`  ${blockFormula(block, k, cellType, color)}`));
  lines.push(`  ${outputFormula(cell, color)}`);
  if (opts.dag === true) {
    const depth = Math.max(0, ...layout.levels);
    lines.push(`  out │ ${cell.concat.map(stateName).join(' ')}`);
    for (let level = depth; level >= 1; level--) {
      const items: string[] = [];
      cell.blocks.forEach((block, k) => {
        if (layout.levels[2 + k] !== level) return;
        items.push(`${paint(color, ANSI_BOLD, `b${k}`)} ← ${block.inputs.map(stateName).join(',')}`);
      });
      lines.push(`  ${`L${level}`.padEnd(3)} │ ${items.join('   ')}`);
    }
    lines.push('  in  │ h[i] h[i-1]');
  }
  return lines;
}

/** Unicode eighth blocks, lowest to highest. */
const SPARK_BARS = '▁▂▃▄▅▆▇█';

/** Fixed value range of a sparkline (default: the data's own min and max). */
export interface SparklineRange {
  readonly min?: number;
  readonly max?: number;
}

/**
 * A one-line chart of `values` in unicode block characters. With `width`
 * smaller than the number of values, consecutive values are averaged into
 * `width` buckets; otherwise one character per value. Non-finite values
 * (and empty buckets) print as spaces; a flat series prints mid-height bars.
 */
export function sparkline(values: readonly number[], width?: number, range: SparklineRange = {}): string {
  if (width !== undefined && (!Number.isInteger(width) || width < 1)) {
    throw new InvalidDrawingOptionError('sparkline width', width, 'an integer >= 1');
  }
  const columns = width === undefined || values.length <= width ? values.length : width;
  const buckets: number[] = [];
  for (let c = 0; c < columns; c++) {
    const from = Math.floor((c * values.length) / columns);
    const to = Math.floor(((c + 1) * values.length) / columns);
    const finite = values.slice(from, to).filter(Number.isFinite);
    buckets.push(finite.length === 0 ? NaN : finite.reduce((a, b) => a + b, 0) / finite.length);
  }
  const finite = buckets.filter(Number.isFinite);
  if (finite.length === 0) return ' '.repeat(columns);
  // Loops, not Math.min(...xs): a long reward history would overflow the call stack.
  const lo = range.min ?? finite.reduce((a, b) => Math.min(a, b));
  const hi = range.max ?? finite.reduce((a, b) => Math.max(a, b));
  return buckets
    .map((v) => {
      if (!Number.isFinite(v)) return ' ';
      if (!(hi > lo)) return SPARK_BARS[3];
      const step = Math.round(((v - lo) / (hi - lo)) * (SPARK_BARS.length - 1));
      return SPARK_BARS[Math.min(SPARK_BARS.length - 1, Math.max(0, step))];
    })
    .join('');
}
