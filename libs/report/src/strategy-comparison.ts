/**
 * Strategies compared over seeds, as the paper compares RL with random
 * search (section 4.4, Figure 6): per strategy, the best reward and the
 * mean of the top-N unique rewards of each run, then the mean and a 95%
 * t interval of those over the runs (seeds). Unique means one reward per
 * canonical architecture: cached duplicates repeat a reward already counted.
 */
import { RunWithoutRewardsError, InvalidDrawingOptionError } from './errors.js';
import { MUTED_TEXT_COLOR } from './palette.js';
import { SERIES_COLORS } from './reward-chart.js';
import { meanInterval, type MeanInterval } from './stats.js';
import { el, fmt, svgDocument, text, textWidth } from './svg.js';

/** A child as results.json records it (fields the comparison reads). */
export interface ComparedChild {
  readonly phase: string;
  readonly hash: string;
  readonly reward?: number;
  readonly status?: string;
  readonly duplicateOf?: number;
}

/** One finished search. */
export interface ComparedRun {
  /** How the run is named in tables and errors (its folder). */
  readonly label: string;
  readonly strategy: string;
  readonly seed?: number;
  readonly children: readonly ComparedChild[];
}

export interface RunScore {
  label: string;
  strategy: string;
  seed?: number;
  /** Unique architectures trained in the search phase. */
  uniqueChildren: number;
  /** Best unique reward. */
  best: number;
  /** Mean of the top-N unique rewards (fewer when the run has fewer). */
  topMean: number;
  /** How many rewards topMean is over. */
  topCount: number;
}

export interface StrategyScore {
  strategy: string;
  runs: RunScore[];
  /** Best reward, over the runs. */
  best: MeanInterval;
  /** Mean of the top-N unique rewards, over the runs. */
  top: MeanInterval;
}

export interface CompareOptions {
  /** Unique rewards averaged per run. @default 5 */
  readonly topN?: number;
  /** @default 0.95 */
  readonly confidence?: number;
}

/** Statuses whose reward came from training the architecture (failed and cancelled children carry none). */
const REWARDED = new Set(['ok', 'early_stopped', 'diverged']);

/** The search-phase rewards of a run, one per canonical architecture, highest first. */
export function uniqueRewards(run: ComparedRun): number[] {
  const byHash = new Map<string, number>();
  for (const c of run.children) {
    if (c.phase !== 'search' || c.duplicateOf !== undefined || c.reward === undefined || !REWARDED.has(c.status ?? '')) continue;
    if (!byHash.has(c.hash)) byHash.set(c.hash, c.reward);
  }
  return [...byHash.values()].sort((a, b) => b - a);
}

export function scoreRun(run: ComparedRun, topN = 5): RunScore {
  const rewards = uniqueRewards(run);
  if (rewards.length === 0) throw new RunWithoutRewardsError(run.label);
  const top = rewards.slice(0, topN);
  return {
    label: run.label, strategy: run.strategy, ...(run.seed !== undefined ? { seed: run.seed } : {}),
    uniqueChildren: rewards.length, best: rewards[0]!, topMean: top.reduce((a, r) => a + r, 0) / top.length, topCount: top.length,
  };
}

/** Scores per strategy, in order of first appearance. */
export function compareStrategies(runs: readonly ComparedRun[], options: CompareOptions = {}): StrategyScore[] {
  const topN = options.topN ?? 5;
  if (!Number.isInteger(topN) || topN < 1) throw new InvalidDrawingOptionError('topN', topN, 'an integer >= 1');
  const groups = new Map<string, RunScore[]>();
  for (const run of runs) {
    const list = groups.get(run.strategy) ?? [];
    list.push(scoreRun(run, topN));
    groups.set(run.strategy, list);
  }
  return [...groups].map(([strategy, scores]) => ({
    strategy, runs: scores,
    best: meanInterval(scores.map((s) => s.best), options.confidence),
    top: meanInterval(scores.map((s) => s.topMean), options.confidence),
  }));
}

export interface ComparisonChartOptions {
  /** @default 'Strategies compared over seeds' */
  readonly title?: string;
  /** The N of "top-N unique". @default 5 */
  readonly topN?: number;
  /** @default 760 x 420 */
  readonly width?: number;
  readonly height?: number;
}

const FONT = 11;
const TITLE = 16;
const MARGIN = 16;

/**
 * One SVG: two panels (best reward; mean of the top-N unique rewards), a
 * column per strategy with a dot per seed, the mean as a bar and the t
 * interval as a whisker.
 */
export function strategyComparisonSvg(scores: readonly StrategyScore[], opts: ComparisonChartOptions = {}): string {
  const width = opts.width ?? 760;
  const height = opts.height ?? 420;
  if (!Number.isFinite(width) || width < 320) throw new InvalidDrawingOptionError('width', width, 'a number >= 320');
  if (!Number.isFinite(height) || height < 240) throw new InvalidDrawingOptionError('height', height, 'a number >= 240');
  const topN = opts.topN ?? 5;
  const title = opts.title ?? 'Strategies compared over seeds';
  const confidence = scores[0]?.best.confidence ?? 0.95;
  const parts: string[] = [
    el('text', { x: width / 2, y: MARGIN + TITLE, 'text-anchor': 'middle', 'font-size': TITLE, 'font-weight': 'bold', fill: '#111827' }, [text(title)]),
  ];
  const note = `bar: mean over seeds; whisker: ${Math.round(confidence * 100)}% t interval; dots: one per seed`;
  parts.push(el('text', { x: width / 2, y: height - 10, 'text-anchor': 'middle', 'font-size': FONT, fill: MUTED_TEXT_COLOR }, [text(note)]));

  const panels: Array<{ label: string; pick: (s: StrategyScore) => MeanInterval; value: (r: RunScore) => number }> = [
    { label: 'best reward', pick: (s) => s.best, value: (r) => r.best },
    { label: `mean of top-${topN} unique rewards`, pick: (s) => s.top, value: (r) => r.topMean },
  ];
  const top = MARGIN + TITLE + 34;
  const bottom = height - 52;
  const panelW = (width - 2 * MARGIN) / panels.length;
  panels.forEach((panel, p) => {
    const left = MARGIN + p * panelW + 52;
    const right = MARGIN + (p + 1) * panelW - 12;
    const points = scores.flatMap((s) => [...s.runs.map(panel.value), panel.pick(s).mean]);
    const ends = scores.flatMap((s) => { const m = panel.pick(s); return m.lo !== undefined ? [m.lo, m.hi!] : []; });
    // Rewards are accuracies: with two seeds a t interval easily spans past 0 or 1,
    // so whiskers are clipped to [0, 1] whenever every value lies in it.
    const unit = points.every((v) => v >= 0 && v <= 1);
    const clip = (v: number) => (unit ? Math.min(1, Math.max(0, v)) : v);
    const values = [...points, ...ends.map(clip)];
    let lo = values.length ? Math.min(...values) : 0;
    let hi = values.length ? Math.max(...values) : 1;
    if (hi - lo < 1e-6) { lo -= 0.01; hi += 0.01; }
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    const at = (v: number) => py(clip(v));
    const py = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
    const g: string[] = [
      el('text', { x: (left + right) / 2, y: top - 12, 'text-anchor': 'middle', 'font-size': FONT + 1, fill: '#111827' }, [text(panel.label)]),
      el('rect', { x: left, y: top, width: right - left, height: bottom - top, fill: 'none', stroke: '#9ca3af', 'stroke-width': 1 }),
    ];
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      g.push(
        el('line', { class: 'grid', x1: left, y1: py(v), x2: right, y2: py(v), stroke: '#e5e7eb', 'stroke-width': 1 }),
        el('text', { class: 'y-tick', x: left - 5, y: py(v) + FONT * 0.35, 'text-anchor': 'end', 'font-size': FONT, fill: '#374151' }, [text(v.toFixed(3))]),
      );
    }
    const colW = (right - left) / Math.max(1, scores.length);
    scores.forEach((s, i) => {
      const color = SERIES_COLORS[i % SERIES_COLORS.length]!;
      const cx = left + colW * (i + 0.5);
      const m = panel.pick(s);
      const barW = Math.min(36, colW * 0.4);
      const col: string[] = [
        el('line', { class: 'mean', x1: cx - barW / 2, y1: py(m.mean), x2: cx + barW / 2, y2: py(m.mean), stroke: color, 'stroke-width': 3 }),
      ];
      if (m.lo !== undefined) {
        col.push(
          el('line', { class: 'interval', x1: cx, y1: at(m.lo), x2: cx, y2: at(m.hi!), stroke: color, 'stroke-width': 1.5 }),
          el('line', { x1: cx - 6, y1: at(m.lo), x2: cx + 6, y2: at(m.lo), stroke: color, 'stroke-width': 1.5 }),
          el('line', { x1: cx - 6, y1: at(m.hi!), x2: cx + 6, y2: at(m.hi!), stroke: color, 'stroke-width': 1.5 }),
        );
      }
      // Seeds side by side to the right of the whisker so equal values stay visible.
      s.runs.forEach((r, k) => col.push(el('circle', { class: 'seed', cx: cx + barW / 2 + 6 + (k % 4) * 5, cy: py(panel.value(r)), r: 2.6, fill: color, 'fill-opacity': 0.55 })));
      const label = `${s.strategy} (n=${s.runs.length})`;
      col.push(el('text', { x: cx, y: bottom + 16, 'text-anchor': 'middle', 'font-size': textWidth(label, FONT) > colW ? FONT - 2 : FONT, fill: '#1f2937' }, [text(label)]));
      col.push(el('text', { x: cx, y: bottom + 30, 'text-anchor': 'middle', 'font-size': FONT - 1, fill: MUTED_TEXT_COLOR }, [text(m.halfWidth !== undefined ? `${m.mean.toFixed(4)} ± ${m.halfWidth.toFixed(4)}` : m.mean.toFixed(4))]));
      g.push(el('g', { class: 'strategy', 'data-strategy': s.strategy }, col));
    });
    if (scores.length === 0) g.push(el('text', { x: (left + right) / 2, y: (top + bottom) / 2, 'text-anchor': 'middle', 'font-size': FONT + 2, fill: MUTED_TEXT_COLOR }, [text('no data')]));
    parts.push(el('g', { class: 'panel', transform: `translate(${fmt(0)} ${fmt(0)})` }, g));
  });
  const desc = scores.map((s) => `${s.strategy}: ${s.runs.length} run(s), best ${s.best.mean.toFixed(4)}, top-${topN} ${s.top.mean.toFixed(4)}`).join('; ') || 'no data';
  return svgDocument(width, height, title, desc, parts);
}
