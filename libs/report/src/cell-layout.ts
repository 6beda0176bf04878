/**
 * Geometry of one cell drawing, computed apart from any output format so
 * that tests can check it (nothing overlaps, every arrow ends on its box).
 *
 * Layout is a small Sugiyama-style layered drawing:
 * - levels: inputs are level 0, a block sits at 1 + the deepest level among
 *   its inputs, the output concat one level above the deepest block;
 * - an edge that skips levels is routed through one "dummy" slot per level
 *   it crosses, shared by all edges leaving the same state, so long edges
 *   run as straight vertical lanes beside the blocks instead of across them;
 * - rows are ordered by the barycentre of their neighbours, then placed by
 *   alternating up/down sweeps, each solved exactly with the pool-adjacent-
 *   violators algorithm (least-squares fit under minimum separations);
 * - between rows, edges are cubic curves with vertical tangents, so they stay
 *   in the gap between rows and meet boxes head-on.
 * Because every row holds nodes only and every gap holds edges only, no
 * edge can cross a box.
 */
import { operationInfo } from '@nasnet/search-space';
import type { Cell, CellType, Combine, Operation, OperationKind } from '@nasnet/search-space';
import { UndrawableCellError } from './errors.js';
import { branchLabel, stateName } from './palette.js';
import type { PathSegment, Point } from './svg.js';

/** An axis-aligned box; (x, y) is its top-left corner. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One of the cell's two inputs, h_i (state 0) or h_{i-1} (state 1). */
export interface InputNodeLayout extends Box {
  readonly state: number;
  /** Plain-text name, `h[i]` or `h[i-1]`. */
  readonly name: string;
}

/** One branch's operation box. */
export interface OpNodeLayout extends Box {
  readonly block: number;
  readonly branch: 0 | 1;
  readonly op: Operation;
  readonly kind: OperationKind;
  /** Hidden state the branch reads. */
  readonly input: number;
  /** Short label (`sep5x5`, `max3x3/2` in a reduction cell). */
  readonly label: string;
}

/** A block's combine node ("add" / "concat"), with the block's name beside it. */
export interface CombineNodeLayout extends Box {
  readonly block: number;
  readonly combine: Combine;
  /** Where the block name (`b0`) starts: left end, vertical centre. */
  readonly nameAt: Point;
}

/** The cell's output concat and the `h[i+1]` label above it. */
export interface OutputNodeLayout extends Box {
  /** States concatenated, in the cell's order, duplicates removed. */
  readonly states: readonly number[];
  /** Centre of the `h[i+1]` label. */
  readonly labelAt: Point;
}

/** What an edge points at. */
export type EdgeTarget =
  | { readonly kind: 'op'; readonly block: number; readonly branch: 0 | 1 }
  | { readonly kind: 'combine'; readonly block: number; readonly branch: 0 | 1 }
  | { readonly kind: 'output' }
  | { readonly kind: 'next-cell' };

/** One arrow: a path from `start` through `segments`; the arrow head is at the end. */
export interface EdgeLayout {
  /** Hidden state the edge carries (for op -> combine edges: the block's input). */
  readonly state: number;
  readonly target: EdgeTarget;
  readonly start: Point;
  readonly segments: readonly PathSegment[];
}

/** The full geometry of one cell drawing, in its own coordinates from (0, 0). */
export interface CellLayout {
  readonly cellType: CellType;
  readonly width: number;
  readonly height: number;
  readonly inputs: readonly InputNodeLayout[];
  readonly ops: readonly OpNodeLayout[];
  readonly combines: readonly CombineNodeLayout[];
  readonly output: OutputNodeLayout;
  readonly edges: readonly EdgeLayout[];
  /** Level of every hidden state (0 for the inputs). */
  readonly levels: readonly number[];
  /** Number of pass-through lanes used by edges that skip levels. */
  readonly lanes: number;
}

// Sizes in px. Op boxes fit the longest label ("1x3+3x1/2", 9 characters
// at 12 px is about 65 px) with padding.
const OP_W = 84;
const OP_H = 28;
const OP_GAP = 12;
const BLOCK_W = 2 * OP_W + OP_GAP;
const BRANCH_OFFSET = (OP_W + OP_GAP) / 2;
const COMBINE_H = 22;
const COMBINE_W: Readonly<Record<Combine, number>> = { add: 44, concat: 60 };
/** Where the op -> combine curves land, left and right of the pill's centre. */
const COMBINE_ENTRY = 8;
const INNER_GAP = 26;
const BAND_H = COMBINE_H + INNER_GAP + OP_H;
const INPUT_H = 30;
const INPUT_MIN_W = 84;
const OUTPUT_H = 28;
const OUTPUT_MIN_W = 96;
/** Distance between neighbouring arrow ends on an input's or the output's box. */
const PORT_SPACING = 16;
const PORT_PAD = 12;
const NODE_GAP = 28;
const LANE_GAP = 14;
const OUT_LABEL_H = 18;
const OUT_ARROW = 16;
const MARGIN_X = 16;
/** Gap between levels grows with the widest horizontal run of its edges
 *  so that long curves do not flatten into near-horizontal lines. */
const LEVEL_GAP_MIN = 56;
const LEVEL_GAP_MAX = 120;
const LEVEL_GAP_SLOPE = 0.15;
const SWEEPS = 4;

type SlotKind = 'input' | 'block' | 'lane' | 'output';

interface Slot {
  readonly kind: SlotKind;
  readonly level: number;
  /** Inputs grow with their number of outgoing arrows, set before placement. */
  width: number;
  /** Block slots only. */
  readonly combine?: Combine;
  /** Input state, block state (2 + k), or the state a lane carries; breaks ordering ties. */
  readonly state: number;
  x: number;
  /** Blocks with an add combine may draw branch 0 on the right to avoid a crossing. */
  flipped: boolean;
  readonly lowers: Hop[];
  readonly uppers: Hop[];
}

/** A connection between slots on adjacent levels. */
interface Hop {
  readonly lower: Slot;
  readonly upper: Slot;
  /** Which branch of the upper block it feeds (upper.kind === 'block'). */
  readonly branch: 0 | 1;
}

interface Route {
  readonly state: number;
  readonly target: EdgeTarget;
  readonly hops: readonly Hop[];
}

function checkCell(cell: Cell, cellType: CellType): void {
  const numStates = 2 + cell.blocks.length;
  cell.blocks.forEach((block, k) => {
    const at = `${cellType}.blocks[${k}]`;
    for (const j of [0, 1] as const) {
      const input = block.inputs[j];
      if (!Number.isInteger(input) || input < 0 || input >= 2 + k) {
        throw new UndrawableCellError(`${at}.inputs[${j}]`, `= ${String(input)}: block ${k} can read states 0..${1 + k}`);
      }
      const op = block.ops[j];
      if (typeof operationInfo(op)?.label !== 'string') {
        throw new UndrawableCellError(`${at}.ops[${j}]`, `= ${JSON.stringify(op)} is not an operation`);
      }
    }
    if (block.combine !== 'add' && block.combine !== 'concat') {
      throw new UndrawableCellError(`${at}.combine`, `= ${JSON.stringify(block.combine)}: expected "add" or "concat"`);
    }
  });
  cell.concat.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s >= numStates) {
      throw new UndrawableCellError(`${cellType}.concat[${i}]`, `= ${String(s)}: the cell has states 0..${numStates - 1}`);
    }
  });
}

/** Level of every state: 0 for the inputs, 1 + max(input levels) for a block. */
function stateLevels(cell: Cell): number[] {
  const levels = [0, 0];
  for (const block of cell.blocks) levels.push(1 + Math.max(levels[block.inputs[0]]!, levels[block.inputs[1]]!));
  return levels;
}

function branchOffset(slot: Slot, branch: 0 | 1): number {
  return (branch === 0) !== slot.flipped ? -BRANCH_OFFSET : BRANCH_OFFSET;
}

/** Horizontal offset of a hop's end on its upper slot (op boxes sit off-centre). */
function upperPort(hop: Hop): number {
  return hop.upper.kind === 'block' ? branchOffset(hop.upper, hop.branch) : 0;
}

function separation(a: Slot, b: Slot): number {
  const gap = a.kind === 'lane' || b.kind === 'lane' ? LANE_GAP : NODE_GAP;
  return a.width / 2 + b.width / 2 + gap;
}

/**
 * Places a row at the positions closest (least squares) to `desired` that
 * keep its order and minimum separations: subtracting the cumulative
 * separation turns it into an isotonic regression, solved by pooling
 * adjacent violators.
 */
function placeRow(row: readonly Slot[], desired: readonly number[]): void {
  const offsets: number[] = [];
  let acc = 0;
  row.forEach((slot, i) => {
    if (i > 0) acc += separation(row[i - 1]!, slot);
    offsets.push(acc);
  });
  const pools: Array<{ sum: number; count: number }> = [];
  row.forEach((_, i) => {
    pools.push({ sum: desired[i]! - offsets[i]!, count: 1 });
    while (pools.length > 1) {
      const top = pools[pools.length - 1]!;
      const below = pools[pools.length - 2]!;
      if (below.sum / below.count <= top.sum / top.count) break;
      below.sum += top.sum;
      below.count += top.count;
      pools.pop();
    }
  });
  let i = 0;
  for (const pool of pools) {
    const value = pool.sum / pool.count;
    for (let n = 0; n < pool.count; n++, i++) row[i]!.x = value + offsets[i]!;
  }
}

function mean(values: readonly number[], fallback: number): number {
  return values.length === 0 ? fallback : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Where a slot would like to be, judged from the level below. */
function desiredFromBelow(slot: Slot): number {
  return mean(slot.lowers.map((h) => h.lower.x - upperPort(h)), slot.x);
}

/** Where a slot would like to be, judged from the level above. */
function desiredFromAbove(slot: Slot): number {
  return mean(slot.uppers.map((h) => h.upper.x + upperPort(h)), slot.x);
}

const KIND_ORDER: Readonly<Record<SlotKind, number>> = { input: 0, block: 1, lane: 2, output: 3 };

/** Reorders each row above the inputs by barycentre, then places it. */
function sweepUp(rows: Slot[][]): void {
  for (let level = 1; level < rows.length; level++) {
    const row = rows[level]!;
    for (const slot of row) {
      // Draw the branch whose source lies further left on the left, so the
      // two arrows into a block do not cross. Only for add: a concat's
      // channel order is part of the architecture and shown as given.
      if (slot.kind === 'block' && slot.lowers.length === 2) {
        const [a, b] = [...slot.lowers].sort((h1, h2) => h1.branch - h2.branch);
        slot.flipped = slot.combine === 'add' && a!.lower.x > b!.lower.x;
      }
    }
    const desired = new Map(row.map((slot) => [slot, desiredFromBelow(slot)] as const));
    row.sort((s, t) => desired.get(s)! - desired.get(t)! || KIND_ORDER[s.kind] - KIND_ORDER[t.kind] || s.state - t.state);
    placeRow(
      row,
      row.map((slot) => desired.get(slot)!),
    );
  }
}

function sweepDown(rows: Slot[][]): void {
  for (let level = rows.length - 2; level >= 0; level--) {
    const row = rows[level]!;
    placeRow(
      row,
      row.map((slot) => desiredFromAbove(slot)),
    );
  }
}

/** Arrow ends spread along a wide box's edge, ordered by where the other end lies. */
function spreadPorts(slot: Slot, hops: readonly Hop[], otherX: (h: Hop) => number): Map<Hop, number> {
  const sorted = [...hops].sort((a, b) => otherX(a) - otherX(b));
  const ports = new Map<Hop, number>();
  const inner = slot.width - 2 * PORT_PAD;
  sorted.forEach((hop, i) => {
    ports.set(hop, sorted.length === 1 ? slot.x : slot.x - inner / 2 + (inner * (i + 0.5)) / sorted.length);
  });
  return ports;
}

/** A curve from `from` up to `to` with vertical tangents at both ends. */
function riser(from: Point, to: Point): PathSegment {
  if (Math.abs(from.x - to.x) < 0.5) return { type: 'line', to };
  const k = (from.y - to.y) / 2;
  return { type: 'cubic', c1: { x: from.x, y: from.y - k }, c2: { x: to.x, y: to.y + k }, to };
}

/**
 * Computes the drawing of one cell. Throws UndrawableCellError when a block
 * reads a state that does not exist yet or the concat list names one.
 */
export function layoutCell(cell: Cell, cellType: CellType = 'normal'): CellLayout {
  checkCell(cell, cellType);
  const levels = stateLevels(cell);
  const top = cell.blocks.length === 0 ? 1 : Math.max(...levels) + 1;
  const rows: Slot[][] = Array.from({ length: top + 1 }, () => []);
  const newSlot = (kind: SlotKind, level: number, width: number, state: number, combine?: Combine): Slot => {
    const slot: Slot = { kind, level, width, combine, state, x: 0, flipped: false, lowers: [], uppers: [] };
    rows[level]!.push(slot);
    return slot;
  };
  const connect = (lower: Slot, upper: Slot, branch: 0 | 1): Hop => {
    const hop: Hop = { lower, upper, branch };
    lower.uppers.push(hop);
    upper.lowers.push(hop);
    return hop;
  };

  // The output's width depends on how many arrows meet it.
  const outputStates = [...new Set(cell.concat)];
  const stateSlots: Slot[] = [0, 1].map((s) => newSlot('input', 0, INPUT_MIN_W, s));
  cell.blocks.forEach((block, k) => {
    stateSlots.push(newSlot('block', levels[2 + k]!, BLOCK_W, 2 + k, block.combine));
  });
  const output = newSlot('output', top, Math.max(OUTPUT_MIN_W, outputStates.length * PORT_SPACING + 2 * PORT_PAD), -1);

  // Lanes: one per (state, level crossed), shared by every edge leaving that state.
  const lanes = new Map<string, { slot: Slot; hop: Hop }>();
  const chain = (state: number, targetLevel: number): { last: Slot; hops: Hop[] } => {
    let last = stateSlots[state]!;
    const hops: Hop[] = [];
    for (let level = levels[state]! + 1; level < targetLevel; level++) {
      const key = `${state}@${level}`;
      let lane = lanes.get(key);
      if (lane === undefined) {
        const slot = newSlot('lane', level, 0, state);
        lane = { slot, hop: connect(last, slot, 0) };
        lanes.set(key, lane);
      }
      hops.push(lane.hop);
      last = lane.slot;
    }
    return { last, hops };
  };

  const routes: Route[] = [];
  cell.blocks.forEach((block, k) => {
    for (const branch of [0, 1] as const) {
      const state = block.inputs[branch];
      const { last, hops } = chain(state, levels[2 + k]!);
      routes.push({ state, target: { kind: 'op', block: k, branch }, hops: [...hops, connect(last, stateSlots[2 + k]!, branch)] });
    }
  });
  for (const state of outputStates) {
    const { last, hops } = chain(state, top);
    routes.push({ state, target: { kind: 'output' }, hops: [...hops, connect(last, output, 0)] });
  }
  for (const slot of rows[0]!) slot.width = Math.max(INPUT_MIN_W, slot.uppers.length * PORT_SPACING + 2 * PORT_PAD);

  // Placement: initial packing, then barycentre sweeps.
  placeRow(rows[0]!, rows[0]!.map(() => 0));
  sweepUp(rows);
  for (let i = 0; i < SWEEPS; i++) {
    sweepDown(rows);
    sweepUp(rows);
  }

  const all = rows.flat();
  const minLeft = Math.min(...all.map((s) => s.x - s.width / 2));
  const maxRight = Math.max(...all.map((s) => s.x + s.width / 2));
  for (const slot of all) slot.x += MARGIN_X - minLeft;
  const width = maxRight - minLeft + 2 * MARGIN_X;

  // Arrow ends on the inputs and the output box.
  const exitX = new Map<Hop, number>();
  for (const slot of rows[0]!) {
    for (const [hop, x] of spreadPorts(slot, slot.uppers, (h) => h.upper.x + upperPort(h))) exitX.set(hop, x);
  }
  const entryX = spreadPorts(output, output.lowers, (h) => h.lower.x);
  const hopExitX = (hop: Hop) => exitX.get(hop) ?? hop.lower.x;
  const hopEntryX = (hop: Hop) => entryX.get(hop) ?? hop.upper.x + upperPort(hop);

  // Vertical positions, top down: output label, output, levels, inputs.
  const gapAbove: number[] = [];
  for (let level = 0; level < top; level++) {
    const runs = rows[level]!.flatMap((s) => s.uppers.map((h) => Math.abs(hopEntryX(h) - hopExitX(h))));
    const want = LEVEL_GAP_MIN + LEVEL_GAP_SLOPE * Math.max(0, ...runs);
    gapAbove.push(Math.round(Math.min(LEVEL_GAP_MAX, Math.max(LEVEL_GAP_MIN, want))));
  }
  const bandTop: number[] = new Array<number>(top + 1).fill(0);
  const bandBottom: number[] = new Array<number>(top + 1).fill(0);
  bandTop[top] = OUT_LABEL_H + OUT_ARROW;
  bandBottom[top] = bandTop[top]! + OUTPUT_H;
  for (let level = top - 1; level >= 0; level--) {
    bandTop[level] = bandBottom[level + 1]! + gapAbove[level]!;
    bandBottom[level] = bandTop[level]! + (level === 0 ? INPUT_H : BAND_H);
  }
  const height = bandBottom[0]!;

  const exitPoint = (hop: Hop): Point => ({ x: hopExitX(hop), y: bandTop[hop.lower.level]! });
  const entryPoint = (hop: Hop): Point => ({ x: hopEntryX(hop), y: bandBottom[hop.upper.level]! });

  const edges: EdgeLayout[] = [];
  for (const route of routes) {
    const segments: PathSegment[] = [];
    let at = exitPoint(route.hops[0]!);
    const start = at;
    for (const hop of route.hops) {
      const end = entryPoint(hop);
      segments.push(riser(at, end));
      at = end;
      if (hop.upper.kind === 'lane') {
        at = { x: hop.upper.x, y: bandTop[hop.upper.level]! };
        segments.push({ type: 'line', to: at });
      }
    }
    edges.push({ state: route.state, target: route.target, start, segments });
  }

  const inputs: InputNodeLayout[] = stateSlots.slice(0, 2).map((slot) => ({
    state: slot.state,
    name: stateName(slot.state),
    x: slot.x - slot.width / 2,
    y: bandTop[0]!,
    width: slot.width,
    height: INPUT_H,
  }));

  const ops: OpNodeLayout[] = [];
  const combines: CombineNodeLayout[] = [];
  cell.blocks.forEach((block, k) => {
    const slot = stateSlots[2 + k]!;
    const yTop = bandTop[slot.level]!;
    const opTop = bandBottom[slot.level]! - OP_H;
    const combineW = COMBINE_W[block.combine];
    for (const branch of [0, 1] as const) {
      const op = block.ops[branch];
      const cx = slot.x + branchOffset(slot, branch);
      ops.push({
        block: k,
        branch,
        op,
        kind: operationInfo(op).kind,
        input: block.inputs[branch],
        label: branchLabel(op, block.inputs[branch], cellType),
        x: cx - OP_W / 2,
        y: opTop,
        width: OP_W,
        height: OP_H,
      });
      const side = Math.sign(cx - slot.x);
      edges.push({
        state: block.inputs[branch],
        target: { kind: 'combine', block: k, branch },
        start: { x: cx, y: opTop },
        segments: [riser({ x: cx, y: opTop }, { x: slot.x + side * COMBINE_ENTRY, y: yTop + COMBINE_H })],
      });
    }
    combines.push({
      block: k,
      combine: block.combine,
      x: slot.x - combineW / 2,
      y: yTop,
      width: combineW,
      height: COMBINE_H,
      nameAt: { x: slot.x + combineW / 2 + 6, y: yTop + COMBINE_H / 2 },
    });
  });

  const outTop = bandTop[top]!;
  edges.push({
    state: -1,
    target: { kind: 'next-cell' },
    start: { x: output.x, y: outTop },
    segments: [{ type: 'line', to: { x: output.x, y: OUT_LABEL_H } }],
  });

  return {
    cellType,
    width,
    height,
    inputs,
    ops,
    combines,
    output: {
      states: outputStates,
      x: output.x - output.width / 2,
      y: outTop,
      width: output.width,
      height: OUTPUT_H,
      labelAt: { x: output.x, y: OUT_LABEL_H / 2 },
    },
    edges,
    levels,
    lanes: lanes.size,
  };
}
