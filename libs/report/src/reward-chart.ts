/**
 * Reward-per-child chart of a search: every child as a dot, a trailing
 * moving average, and the best-so-far as a step line, one colour per
 * search strategy (e.g. PPO and random search on one chart, as in the
 * paper's Figure 6 comparison).
 */
import { InvalidDrawingOptionError, InvalidRewardPointError } from './errors.js';
import { MUTED_TEXT_COLOR } from './palette.js';
import { el, fmt, svgDocument, text, textWidth } from './svg.js';

/** One trained child: its index in the search and its reward. */
export interface RewardPoint {
  readonly child: number;
  /** Validation accuracy (the paper's reward). */
  readonly reward: number;
  /** Series it belongs to (`ppo`, `random`); points without one form one series. */
  readonly strategy?: string;
}

/** How one series is named and coloured. */
export interface RewardSeriesStyle {
  /** The `strategy` value of the points it styles ('' for points without one). */
  readonly strategy: string;
  /** Legend text. @default the strategy, or 'children' for '' */
  readonly label?: string;
  /** Any SVG colour. @default the next colour of SERIES_COLORS */
  readonly color?: string;
}

/** Options of `rewardCurveSvg`. */
export interface RewardChartOptions {
  /** Heading; '' for none. @default 'Reward per child' */
  readonly title?: string;
  /** Children averaged by the moving-average line. @default DEFAULT_MOVING_AVERAGE_WINDOW */
  readonly movingAverageWindow?: number;
  /** Labels, colours and legend order of the series; others follow in order of first appearance. @default [] */
  readonly series?: readonly RewardSeriesStyle[];
  /** Size of the whole drawing in px. @default 760 x 440 */
  readonly width?: number;
  readonly height?: number;
  /** Axis titles. @default 'child index', 'validation accuracy' */
  readonly xLabel?: string;
  readonly yLabel?: string;
}

/** The paper updates the controller once per 20 children; the same window smooths the curve. */
export const DEFAULT_MOVING_AVERAGE_WINDOW = 20;

/** Distinct, colour-blind-friendly series colours (Okabe-Ito order). */
export const SERIES_COLORS: readonly string[] = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'];

const MARGIN = 16;
const TITLE_SIZE = 16;
const FONT = 11;
const LEGEND_ROW = 18;
const PLOT_LEFT = 64;
const PLOT_RIGHT = 20;
const PLOT_BOTTOM = 48;
const DOT_R = 2.4;
const MIN_WIDTH = 240;
const MIN_HEIGHT = 200;

interface Series {
  readonly strategy: string;
  readonly label: string;
  readonly color: string;
  /** Sorted by child index (stable). */
  readonly points: readonly RewardPoint[];
}

interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly decimals: number;
}

/** A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks. */
function niceStep(span: number, count: number, integer: boolean): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  return integer ? Math.max(1, step) : step;
}

function axis(min: number, max: number, count: number, integer: boolean): Axis {
  const step = niceStep(max - min, count, integer);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: number[] = [];
  const n = Math.round((hi - lo) / step);
  for (let i = 0; i <= n; i++) ticks.push(Number((lo + i * step).toFixed(decimals)));
  return { lo, hi: hi > lo ? hi : lo + step, ticks, decimals };
}

/** Integer ticks strictly inside [lo, hi] (the frame need not end on one). */
function innerTicks(lo: number, hi: number, count: number, nonNegative: boolean): Axis {
  const step = niceStep(hi - lo, count, true);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) if (!nonNegative || t >= 0) ticks.push(t);
  return { lo, hi, ticks, decimals: 0 };
}

/** Domain of the data, widened when it is a single value. */
function extent(values: readonly number[], emptyLo: number, emptyHi: number, flatPad: number): [number, number] {
  if (values.length === 0) return [emptyLo, emptyHi];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi > lo) return [lo, hi];
  const pad = flatPad * Math.max(1, Math.abs(lo));
  return [lo - pad, hi + pad];
}

function groupSeries(points: readonly RewardPoint[], styles: readonly RewardSeriesStyle[]): Series[] {
  const groups = new Map<string, RewardPoint[]>();
  for (const style of styles) groups.set(style.strategy, []);
  points.forEach((p, i) => {
    if (!Number.isFinite(p.child)) throw new InvalidRewardPointError(i, 'child', p.child);
    if (!Number.isFinite(p.reward)) throw new InvalidRewardPointError(i, 'reward', p.reward);
    const key = p.strategy ?? '';
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = []));
    group.push(p);
  });
  const styleOf = new Map(styles.map((s) => [s.strategy, s] as const));
  const out: Series[] = [];
  let colorIndex = 0;
  for (const [strategy, group] of groups) {
    const style = styleOf.get(strategy);
    const color = style?.color ?? SERIES_COLORS[colorIndex % SERIES_COLORS.length]!;
    colorIndex++;
    if (group.length === 0) continue;
    const label = style?.label ?? (strategy === '' ? 'children' : strategy);
    // Array.prototype.sort is stable, so children with equal index keep input order.
    out.push({ strategy, label, color, points: [...group].sort((a, b) => a.child - b.child) });
  }
  return out;
}

/** Trailing mean over the last `window` rewards of a series. */
function movingAverage(points: readonly RewardPoint[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  points.forEach((p, i) => {
    sum += p.reward;
    if (i >= window) sum -= points[i - window]!.reward;
    out.push(sum / Math.min(window, i + 1));
  });
  return out;
}

/**
 * An SVG chart of rewards per child. Empty input draws the axes and "no
 * data"; a single point draws its dot without lines. Throws
 * InvalidRewardPointError for a non-finite child or reward and
 * InvalidDrawingOptionError for a bad window or size.
 */
export function rewardCurveSvg(points: readonly RewardPoint[], opts: RewardChartOptions = {}): string {
  const window = opts.movingAverageWindow ?? DEFAULT_MOVING_AVERAGE_WINDOW;
  if (!Number.isInteger(window) || window < 1) {
    throw new InvalidDrawingOptionError('movingAverageWindow', window, 'an integer >= 1');
  }
  const width = opts.width ?? 760;
  const height = opts.height ?? 440;
  if (!Number.isFinite(width) || width < MIN_WIDTH) throw new InvalidDrawingOptionError('width', width, `a number >= ${MIN_WIDTH}`);
  if (!Number.isFinite(height) || height < MIN_HEIGHT) throw new InvalidDrawingOptionError('height', height, `a number >= ${MIN_HEIGHT}`);
  const title = opts.title ?? 'Reward per child';
  const series = groupSeries(points, opts.series ?? []);

  const parts: string[] = [];
  let y = MARGIN;
  if (title !== '') {
    parts.push(el('text', { x: width / 2, y: y + TITLE_SIZE, 'text-anchor': 'middle', 'font-size': TITLE_SIZE, 'font-weight': 'bold', fill: '#111827' }, [text(title)]));
    y += TITLE_SIZE + 10;
  }

  // Legend: one entry per series, then what the marks mean.
  const entries: Array<{ width: number; markup: (x: number, cy: number) => string[] }> = series.map((s) => {
    const best = s.points.reduce((a, p) => Math.max(a, p.reward), -Infinity);
    const label = `${s.label}  n=${s.points.length}  best ${best.toFixed(3)}`;
    return {
      width: 22 + textWidth(label, FONT),
      markup: (x, cy) => [
        el('line', { x1: x, y1: cy, x2: x + 16, y2: cy, stroke: s.color, 'stroke-width': 2 }),
        el('circle', { cx: x + 8, cy, r: 3, fill: s.color }),
        el('text', { x: x + 22, y: cy + FONT * 0.35, 'font-size': FONT, fill: '#1f2937' }, [text(label)]),
      ],
    };
  });
  const keyColor = MUTED_TEXT_COLOR;
  const keys: typeof entries = [
    {
      width: 14 + textWidth('child', FONT),
      markup: (x, cy) => [el('circle', { cx: x + 4, cy, r: DOT_R, fill: keyColor, 'fill-opacity': 0.5 }), el('text', { x: x + 14, y: cy + FONT * 0.35, 'font-size': FONT, fill: keyColor }, [text('child')])],
    },
    {
      width: 24 + textWidth(`moving average (${window})`, FONT),
      markup: (x, cy) => [
        el('line', { x1: x, y1: cy, x2: x + 18, y2: cy, stroke: keyColor, 'stroke-width': 2 }),
        el('text', { x: x + 24, y: cy + FONT * 0.35, 'font-size': FONT, fill: keyColor }, [text(`moving average (${window})`)]),
      ],
    },
    {
      width: 28 + textWidth('best so far', FONT),
      markup: (x, cy) => [
        el('path', { d: `M${fmt(x)} ${fmt(cy + 4)} H${fmt(x + 10)} V${fmt(cy - 4)} H${fmt(x + 22)}`, fill: 'none', stroke: keyColor, 'stroke-width': 1.5, 'stroke-dasharray': '5 3' }),
        el('text', { x: x + 28, y: cy + FONT * 0.35, 'font-size': FONT, fill: keyColor }, [text('best so far')]),
      ],
    },
  ];
  const legendRows: Array<typeof entries> = [];
  for (const group of [entries, keys]) {
    let row: typeof entries = [];
    let used = 0;
    for (const e of group) {
      if (row.length > 0 && used + 20 + e.width > width - 2 * MARGIN) {
        legendRows.push(row);
        row = [];
        used = 0;
      }
      used += (row.length > 0 ? 20 : 0) + e.width;
      row.push(e);
    }
    if (row.length > 0) legendRows.push(row);
  }
  const legendParts: string[] = [];
  for (const row of legendRows) {
    const rowWidth = row.reduce((a, e, i) => a + e.width + (i > 0 ? 20 : 0), 0);
    let x = (width - rowWidth) / 2;
    for (const e of row) {
      legendParts.push(...e.markup(x, y + LEGEND_ROW / 2));
      x += e.width + 20;
    }
    y += LEGEND_ROW;
  }
  parts.push(el('g', { class: 'legend' }, legendParts));
  y += 8;

  // Plot area and axes.
  const plotTop = y;
  const plotBottom = height - PLOT_BOTTOM;
  const plotLeft = PLOT_LEFT;
  const plotRight = width - PLOT_RIGHT;
  const plotH = Math.max(40, plotBottom - plotTop);
  const all = series.flatMap((s) => s.points);
  const [cMin, cMax] = extent(all.map((p) => p.child), 0, 10, 1);
  const [rMin, rMax] = extent(all.map((p) => p.reward), 0, 1, 0.05);
  // Half a child (or 2% of the span) either side keeps the first and last
  // dots off the frame; ticks are the round numbers inside.
  const cPad = all.length === 0 ? 0 : Math.max(0.5, (cMax - cMin) * 0.02);
  const xAxis = innerTicks(cMin - cPad, cMax + cPad, Math.max(2, Math.floor((plotRight - plotLeft) / 90)), all.every((p) => p.child >= 0));
  // Pad the reward range by 3% for the same reason, without crossing zero
  // when every reward is non-negative (accuracies).
  const rPad = all.length === 0 ? 0 : (rMax - rMin) * 0.03;
  const yAxis = axis(rMin >= 0 ? Math.max(0, rMin - rPad) : rMin - rPad, rMax + rPad, Math.max(2, Math.floor(plotH / 50)), false);
  const px = (child: number) => plotLeft + ((child - xAxis.lo) / (xAxis.hi - xAxis.lo)) * (plotRight - plotLeft);
  const py = (reward: number) => plotTop + plotH - ((reward - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;

  const frame: string[] = [];
  for (const t of yAxis.ticks) {
    frame.push(
      el('line', { class: 'grid', x1: plotLeft, y1: py(t), x2: plotRight, y2: py(t), stroke: '#e5e7eb', 'stroke-width': 1 }),
      el('text', { class: 'y-tick', x: plotLeft - 6, y: py(t) + FONT * 0.35, 'text-anchor': 'end', 'font-size': FONT, fill: '#374151' }, [text(t.toFixed(yAxis.decimals))]),
    );
  }
  for (const t of xAxis.ticks) {
    frame.push(
      el('line', { x1: px(t), y1: plotTop + plotH, x2: px(t), y2: plotTop + plotH + 5, stroke: '#374151', 'stroke-width': 1 }),
      el('text', { class: 'x-tick', x: px(t), y: plotTop + plotH + 8 + FONT, 'text-anchor': 'middle', 'font-size': FONT, fill: '#374151' }, [text(t.toFixed(xAxis.decimals))]),
    );
  }
  frame.push(
    el('rect', { x: plotLeft, y: plotTop, width: plotRight - plotLeft, height: plotH, fill: 'none', stroke: '#9ca3af', 'stroke-width': 1 }),
    el('text', { x: (plotLeft + plotRight) / 2, y: plotTop + plotH + 36, 'text-anchor': 'middle', 'font-size': FONT + 1, fill: '#111827' }, [text(opts.xLabel ?? 'child index')]),
    el(
      'text',
      { x: 0, y: 0, transform: `translate(${fmt(MARGIN + FONT)} ${fmt(plotTop + plotH / 2)}) rotate(-90)`, 'text-anchor': 'middle', 'font-size': FONT + 1, fill: '#111827' },
      [text(opts.yLabel ?? 'validation accuracy')],
    ),
  );
  parts.push(el('g', { class: 'axes' }, frame));

  if (all.length === 0) {
    parts.push(el('text', { class: 'no-data', x: (plotLeft + plotRight) / 2, y: plotTop + plotH / 2, 'text-anchor': 'middle', 'font-size': FONT + 3, fill: MUTED_TEXT_COLOR }, [text('no data')]));
  }

  // Dots of every series first, then the lines on top so they stay visible.
  const dots: string[] = [];
  const lines: string[] = [];
  for (const s of series) {
    dots.push(
      el(
        'g',
        { class: 'dots', fill: s.color, 'fill-opacity': 0.45 },
        s.points.map((p) => el('circle', { cx: px(p.child), cy: py(p.reward), r: DOT_R })),
      ),
    );
    if (s.points.length >= 2) {
      const avg = movingAverage(s.points, window);
      const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${fmt(px(p.child))} ${fmt(py(avg[i]!))}`).join(' ');
      lines.push(el('path', { class: 'moving-average', d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
      let best = s.points[0]!.reward;
      let step = `M${fmt(px(s.points[0]!.child))} ${fmt(py(best))}`;
      for (const p of s.points.slice(1)) {
        step += ` H${fmt(px(p.child))}`;
        if (p.reward > best) {
          best = p.reward;
          step += ` V${fmt(py(best))}`;
        }
      }
      lines.push(el('path', { class: 'best-so-far', d: step, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'stroke-dasharray': '5 3' }));
    }
    // Ring the best child of the series.
    const top = s.points.reduce((a, p) => (p.reward > a.reward ? p : a));
    lines.push(el('circle', { class: 'best', cx: px(top.child), cy: py(top.reward), r: 5, fill: 'none', stroke: s.color, 'stroke-width': 1.5 }));
  }
  parts.push(el('g', { class: 'series' }, [...dots, ...lines]));

  const label = title !== '' ? title : 'Reward per child';
  const desc = series.map((s) => `${s.label}: ${s.points.length} children`).join('; ') || 'no data';
  return svgDocument(width, height, label, desc, parts);
}
