/**
 * SVG drawings of cells and genotypes in the style of the NASNet paper's
 * Figure 4 (Zoph et al. 2017): inputs at the bottom, each block's two
 * operation boxes feeding a combine node, the output concat on top.
 */
import type { Cell, CellType, Combine, Genotype } from '@nasnet/search-space';
import { layoutCell } from './cell-layout.js';
import type { CellLayout } from './cell-layout.js';
import { blockFormula, outputFormula } from './cell-text.js';
import {
  COMBINE_COLORS,
  EDGE_COLOR,
  INPUT_COLORS,
  MUTED_TEXT_COLOR,
  OPERATION_KIND_COLORS,
  OPERATION_KIND_NAMES,
  OUTPUT_COLORS,
  stateName,
} from './palette.js';
import type { NodeColors } from './palette.js';
import { el, pathData, svgDocument, text, textWidth } from './svg.js';

/** Options of `cellToSvg`. */
export interface CellSvgOptions {
  /**
   * Heading above the drawing; '' for none.
   * @default 'Normal cell' or 'Reduction cell'
   */
  readonly title?: string;
  /**
   * Which cell this is: in a reduction cell the ops reading the inputs are
   * labelled with their stride (`sep5x5/2`).
   * @default 'normal'
   */
  readonly cellType?: CellType;
}

/** Options of `genotypeToSvg`. */
export interface GenotypeSvgOptions {
  /** Heading above both cells. @default none */
  readonly title?: string;
  /** Smaller line under the title (a hash, a reward). @default none */
  readonly subtitle?: string;
}

const ARROW_ID = 'nasnet-arrow';
const MARGIN = 16;
const TITLE_SIZE = 16;
const SUBTITLE_SIZE = 12;
const CELL_TITLE_SIZE = 14;
const OP_FONT = 12;
const COMBINE_FONT = 11;
const INPUT_FONT = 15;
const SUB_FONT = 10;
const LEGEND_FONT = 11;
const LEGEND_ROW = 20;
const CELL_GAP = 48;

/** Baseline that centres text of `size` px on `cy` (cap height ~0.7 em). */
function baseline(cy: number, size: number): number {
  return cy + size * 0.35;
}

function arrowDefs(): string {
  return el('defs', {}, [
    el(
      'marker',
      {
        id: ARROW_ID,
        viewBox: '0 0 10 10',
        refX: 10,
        refY: 5,
        markerWidth: 8,
        markerHeight: 8,
        markerUnits: 'userSpaceOnUse',
        orient: 'auto',
      },
      [el('path', { d: 'M0 1 L10 5 L0 9 z', fill: EDGE_COLOR })],
    ),
  ]);
}

function box(
  cls: string,
  x: number,
  y: number,
  width: number,
  height: number,
  colors: NodeColors,
  rx: number,
  tooltip: string,
  label: string,
): string {
  return el('g', { class: cls }, [
    el('title', {}, [text(tooltip)]),
    el('rect', { x, y, width, height, rx, fill: colors.fill, stroke: colors.stroke, 'stroke-width': 1.2 }),
    label,
  ]);
}

/** `h` with a subscript, e.g. h_{i-1}, centred on (cx, cy). */
function hLabel(cx: number, cy: number, subscript: string, color: string): string {
  return el('text', { x: cx, y: baseline(cy, INPUT_FONT) - 2, 'text-anchor': 'middle', 'font-size': INPUT_FONT, 'font-style': 'italic', fill: color }, [
    'h',
    el('tspan', { dy: 4, 'font-size': SUB_FONT }, [text(subscript)]),
  ]);
}

/** The subscript of an input state's label: i for h_i, i−1 for h_{i-1}. */
function inputSubscript(state: number): string {
  return state === 0 ? 'i' : 'i\u22121';
}

/** Markup of one cell's drawing, shifted by (dx, dy). */
function cellBody(layout: CellLayout, dx: number, dy: number): string[] {
  const X = (x: number) => x + dx;
  const Y = (y: number) => y + dy;
  const edges = layout.edges.map((e) =>
    el('path', {
      class: `edge to-${e.target.kind}`,
      d: pathData({ x: X(e.start.x), y: Y(e.start.y) }, e.segments.map((s) => shiftSegment(s, dx, dy))),
      fill: 'none',
      stroke: EDGE_COLOR,
      'stroke-width': 1.3,
      'marker-end': `url(#${ARROW_ID})`,
    }),
  );

  const nodes: string[] = [];
  for (const input of layout.inputs) {
    const cx = X(input.x + input.width / 2);
    const cy = Y(input.y + input.height / 2);
    nodes.push(
      box(
        'node input',
        X(input.x),
        Y(input.y),
        input.width,
        input.height,
        INPUT_COLORS,
        4,
        `${input.name}: ${input.state === 0 ? "this cell's input (previous cell's output)" : "the previous cell's input"}`,
        hLabel(cx, cy, inputSubscript(input.state), INPUT_COLORS.text),
      ),
    );
  }
  for (const op of layout.ops) {
    const colors = OPERATION_KIND_COLORS[op.kind];
    nodes.push(
      box(
        `node op ${op.kind}`,
        X(op.x),
        Y(op.y),
        op.width,
        op.height,
        colors,
        5,
        `b${op.block} branch ${op.branch}: ${op.op} on ${stateName(op.input)}`,
        el('text', { x: X(op.x + op.width / 2), y: Y(baseline(op.y + op.height / 2, OP_FONT)), 'text-anchor': 'middle', 'font-size': OP_FONT, fill: colors.text }, [text(op.label)]),
      ),
    );
  }
  for (const c of layout.combines) {
    const colors = COMBINE_COLORS[c.combine];
    nodes.push(
      box(
        `node combine ${c.combine}`,
        X(c.x),
        Y(c.y),
        c.width,
        c.height,
        colors,
        c.height / 2,
        `b${c.block} = ${c.combine} of its two branches`,
        el('text', { x: X(c.x + c.width / 2), y: Y(baseline(c.y + c.height / 2, COMBINE_FONT)), 'text-anchor': 'middle', 'font-size': COMBINE_FONT, fill: colors.text }, [text(c.combine)]),
      ),
      el('text', { class: 'block-name', x: X(c.nameAt.x), y: Y(baseline(c.nameAt.y, COMBINE_FONT)), 'font-size': COMBINE_FONT, fill: MUTED_TEXT_COLOR }, [text(`b${c.block}`)]),
    );
  }
  const out = layout.output;
  nodes.push(
    box(
      'node output',
      X(out.x),
      Y(out.y),
      out.width,
      out.height,
      OUTPUT_COLORS,
      4,
      `output: concat of ${out.states.map(stateName).join(', ') || 'nothing'}`,
      el('text', { x: X(out.x + out.width / 2), y: Y(baseline(out.y + out.height / 2, OP_FONT)), 'text-anchor': 'middle', 'font-size': OP_FONT, 'font-weight': 'bold', fill: OUTPUT_COLORS.text }, [text('concat')]),
    ),
    hLabel(X(out.labelAt.x), Y(out.labelAt.y), 'i+1', OUTPUT_COLORS.text),
  );
  return [el('g', { class: `cell ${layout.cellType}` }, [el('g', { class: 'edges' }, edges), el('g', { class: 'nodes' }, nodes)])];
}

function shiftSegment(s: CellLayout['edges'][number]['segments'][number], dx: number, dy: number) {
  const p = (pt: { x: number; y: number }) => ({ x: pt.x + dx, y: pt.y + dy });
  return s.type === 'line' ? { type: 'line' as const, to: p(s.to) } : { type: 'cubic' as const, c1: p(s.c1), c2: p(s.c2), to: p(s.to) };
}

interface LegendItem {
  readonly label: string;
  readonly colors: NodeColors;
  readonly pill: boolean;
}

function legendItems(combines: ReadonlySet<Combine>): LegendItem[] {
  const items: LegendItem[] = OPERATION_KIND_NAMES.map(([kind, label]) => ({ label, colors: OPERATION_KIND_COLORS[kind], pill: false }));
  if (combines.has('add')) items.push({ label: 'add', colors: COMBINE_COLORS.add, pill: true });
  if (combines.has('concat')) items.push({ label: 'concat (block)', colors: COMBINE_COLORS.concat, pill: true });
  return items;
}

const SWATCH_W = 18;
const SWATCH_H = 12;
const ITEM_GAP = 18;

function legendItemWidth(item: LegendItem): number {
  return SWATCH_W + 6 + textWidth(item.label, LEGEND_FONT);
}

/** Legend rows wrapped to `maxWidth`, centred in [x, x + maxWidth]. */
function legend(items: readonly LegendItem[], x: number, y: number, maxWidth: number): { markup: string; height: number } {
  const rows: LegendItem[][] = [[]];
  let used = 0;
  for (const item of items) {
    const w = legendItemWidth(item);
    const row = rows[rows.length - 1]!;
    if (row.length > 0 && used + ITEM_GAP + w > maxWidth) {
      rows.push([item]);
      used = w;
    } else {
      used += (row.length > 0 ? ITEM_GAP : 0) + w;
      row.push(item);
    }
  }
  const parts: string[] = [];
  rows.forEach((row, r) => {
    const rowWidth = row.reduce((a, item, i) => a + legendItemWidth(item) + (i > 0 ? ITEM_GAP : 0), 0);
    let cx = x + (maxWidth - rowWidth) / 2;
    const cy = y + r * LEGEND_ROW + LEGEND_ROW / 2;
    for (const item of row) {
      parts.push(
        el('rect', { x: cx, y: cy - SWATCH_H / 2, width: SWATCH_W, height: SWATCH_H, rx: item.pill ? SWATCH_H / 2 : 3, fill: item.colors.fill, stroke: item.colors.stroke, 'stroke-width': 1 }),
        el('text', { x: cx + SWATCH_W + 6, y: baseline(cy, LEGEND_FONT), 'font-size': LEGEND_FONT, fill: '#1f2937' }, [text(item.label)]),
      );
      cx += legendItemWidth(item) + ITEM_GAP;
    }
  });
  return { markup: el('g', { class: 'legend' }, parts), height: rows.length * LEGEND_ROW };
}

function legendWidth(items: readonly LegendItem[]): number {
  return items.reduce((a, item, i) => a + legendItemWidth(item) + (i > 0 ? ITEM_GAP : 0), 0);
}

function cellDescription(cell: Cell, cellType: CellType): string {
  return [`${cellType} cell`, ...cell.blocks.map((b, k) => blockFormula(b, k, cellType)), outputFormula(cell)].join('; ');
}

function combinesOf(...cells: Cell[]): Set<Combine> {
  return new Set(cells.flatMap((c) => c.blocks.map((b) => b.combine)));
}

function heading(x: number, y: number, size: number, content: string, weight: string, color: string): string {
  return el('text', { x, y: y + size, 'text-anchor': 'middle', 'font-size': size, 'font-weight': weight, fill: color }, [text(content)]);
}

/**
 * A standalone SVG drawing of one cell (see the module doc). Deterministic:
 * the same cell and options give the same bytes. Throws UndrawableCellError
 * for a cell whose blocks read states that do not exist.
 */
export function cellToSvg(cell: Cell, opts: CellSvgOptions = {}): string {
  const cellType = opts.cellType ?? 'normal';
  const title = opts.title ?? (cellType === 'normal' ? 'Normal cell' : 'Reduction cell');
  const layout = layoutCell(cell, cellType);
  const items = legendItems(combinesOf(cell));
  const width = Math.max(layout.width, legendWidth(items) + 2 * MARGIN, textWidth(title, TITLE_SIZE) + 2 * MARGIN);
  const parts: string[] = [arrowDefs()];
  let y = MARGIN;
  if (title !== '') {
    parts.push(heading(width / 2, y, TITLE_SIZE, title, 'bold', '#111827'));
    y += TITLE_SIZE + 12;
  }
  parts.push(...cellBody(layout, (width - layout.width) / 2, y));
  y += layout.height + 18;
  const leg = legend(items, MARGIN, y, width - 2 * MARGIN);
  parts.push(leg.markup);
  y += leg.height + MARGIN;
  const label = title !== '' ? title : `${cellType} cell`;
  return svgDocument(width, y, label, cellDescription(cell, cellType), parts);
}

/**
 * Both cells of a genotype side by side (normal left, reduction right),
 * each under its own heading, with one shared legend.
 */
export function genotypeToSvg(g: Genotype, opts: GenotypeSvgOptions = {}): string {
  const normal = layoutCell(g.normal, 'normal');
  const reduction = layoutCell(g.reduction, 'reduction');
  const items = legendItems(combinesOf(g.normal, g.reduction));
  const bodies = normal.width + CELL_GAP + reduction.width;
  const title = opts.title ?? '';
  const subtitle = opts.subtitle ?? '';
  const width = Math.max(
    bodies + 2 * MARGIN,
    legendWidth(items) + 2 * MARGIN,
    textWidth(title, TITLE_SIZE + 2) + 2 * MARGIN,
    textWidth(subtitle, SUBTITLE_SIZE) + 2 * MARGIN,
  );
  const parts: string[] = [arrowDefs()];
  let y = MARGIN;
  if (title !== '') {
    parts.push(heading(width / 2, y, TITLE_SIZE + 2, title, 'bold', '#111827'));
    y += TITLE_SIZE + 2 + 8;
  }
  if (subtitle !== '') {
    parts.push(heading(width / 2, y, SUBTITLE_SIZE, subtitle, 'normal', MUTED_TEXT_COLOR));
    y += SUBTITLE_SIZE + 8;
  }
  if (title !== '' || subtitle !== '') y += 8;
  const left = (width - bodies) / 2;
  const right = left + normal.width + CELL_GAP;
  parts.push(
    heading(left + normal.width / 2, y, CELL_TITLE_SIZE, 'Normal cell', 'bold', '#1f2937'),
    heading(right + reduction.width / 2, y, CELL_TITLE_SIZE, 'Reduction cell', 'bold', '#1f2937'),
  );
  y += CELL_TITLE_SIZE + 10;
  // Bottom-align the cells so their inputs share a baseline.
  const tallest = Math.max(normal.height, reduction.height);
  parts.push(
    el('line', { x1: right - CELL_GAP / 2, y1: y, x2: right - CELL_GAP / 2, y2: y + tallest, stroke: '#e2e8f0', 'stroke-width': 1, 'stroke-dasharray': '4 4' }),
    ...cellBody(normal, left, y + tallest - normal.height),
    ...cellBody(reduction, right, y + tallest - reduction.height),
  );
  y += tallest + 18;
  const leg = legend(items, MARGIN, y, width - 2 * MARGIN);
  parts.push(leg.markup);
  y += leg.height + MARGIN;
  const label = title !== '' ? title : 'NASNet genotype: normal and reduction cells';
  const desc = `${cellDescription(g.normal, 'normal')} | ${cellDescription(g.reduction, 'reduction')}`;
  return svgDocument(width, y, label, desc, parts);
}
