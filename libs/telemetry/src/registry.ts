import {
  CounterDecreaseError, DuplicateMetricError, InvalidBucketsError, InvalidLabelsError, InvalidMetricNameError,
} from './errors.js';

/**
 * A Prometheus registry and the text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
 *
 * A histogram writes one cumulative `<name>_bucket{...,le="<bound>"}` per
 * bound, ending with le="+Inf", then `<name>_sum` and `<name>_count`.
 *
 * Output is deterministic: families sorted by name, series by their label
 * values (in the declared label order, compared by UTF-16 code units).
 */

/** The Content-Type of the text format this registry writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Label values keyed by label name; exactly the declared names, no more, no fewer. */
export type LabelValues<L extends string> = { readonly [K in L]: string };

export interface MetricOptions<L extends string> {
  /** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  /** One line of help text (newlines and backslashes are escaped on output). */
  help: string;
  /**
   * Label names, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
   * @default []
   */
  labelNames?: readonly L[];
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Called at every exposition, before the gauge is written: for values computed at scrape time. */
  collect?: (gauge: Gauge<L>) => void;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing and finite; `+Inf` is always added. */
  buckets: readonly number[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value: backslash, double quote and line feed, as 0.0.4 requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** Escapes HELP text: backslash and line feed only (quotes stay as they are). */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** A sample value as Prometheus' Go parser reads it: `+Inf`, `-Inf`, `NaN`, else the shortest round-trip decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Rounds away float noise from generated bounds (0.1 + 0.05 * 4 is 0.30000000000000004, not 0.3). */
function cleanBound(x: number): number {
  return Number(x.toPrecision(12));
}

/** `count` bounds: start, start + width, ... */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => cleanBound(start + width * i));
}

/** `count` bounds: start, start * factor, start * factor^2, ... */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => cleanBound(start * factor ** i));
}

/** What every metric kind shares: its name, help, label names and the series keyed by their label values. */
abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(options: MetricOptions<L>, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(options.name)) throw new InvalidMetricNameError(options.name, 'metric');
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
    const seen = new Set<string>();
    for (const label of this.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.includes(label)) {
        throw new InvalidMetricNameError(label, `label of ${this.name}`);
      }
      if (seen.has(label)) throw new InvalidMetricNameError(label, `label of ${this.name} (declared twice)`);
      seen.add(label);
    }
  }

  /**
   * A metric without labels has exactly one series, present from the start,
   * so a scrape shows 0 rather than nothing (Prometheus instrumentation
   * guidance). Made on first use, after subclass fields (histogram bounds) are set.
   */
  private ensureDefault(): void {
    if (this.labelNames.length === 0 && this.series.size === 0) this.series.set('[]', { values: [], state: this.initial() });
  }

  protected abstract initial(): S;

  /** The label values in declared order, checked against the declared names. */
  private valuesOf(labels: LabelValues<L> | undefined): string[] {
    const given = labels ? Object.keys(labels) : [];
    const extra = given.filter((k) => !(this.labelNames as readonly string[]).includes(k));
    const missing = this.labelNames.filter((k) => labels?.[k] === undefined);
    if (extra.length > 0 || missing.length > 0) throw new InvalidLabelsError(this.name, this.labelNames, given);
    return this.labelNames.map((k) => {
      const v = (labels as Record<string, unknown>)[k];
      if (typeof v !== 'string') throw new InvalidLabelsError(this.name, this.labelNames, given, `label ${k} is a ${typeof v}, not a string`);
      return v;
    });
  }

  protected state(labels: LabelValues<L> | undefined): S {
    this.ensureDefault();
    const values = this.valuesOf(labels);
    // JSON of an array of strings is one-to-one, so two label sets never share a key.
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values, state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected peek(labels: LabelValues<L> | undefined): S | undefined {
    this.ensureDefault();
    return this.series.get(JSON.stringify(this.valuesOf(labels)))?.state;
  }

  /** Drops one labelled series (a trainer that went away). */
  remove(labels: LabelValues<L>): boolean {
    if (this.labelNames.length === 0) return false;
    return this.series.delete(JSON.stringify(this.valuesOf(labels)));
  }

  /** The label values of every series, in exposition order. */
  labelSets(): LabelValues<L>[] {
    return this.sorted().map(({ values }) => Object.fromEntries(this.labelNames.map((k, i) => [k, values[i]!])) as LabelValues<L>);
  }

  /** Series sorted by their label values, compared value by value. */
  protected sorted(): { values: string[]; state: S }[] {
    this.ensureDefault();
    return [...this.series.values()].sort((a, b) => {
      for (let i = 0; i < a.values.length; i++) {
        const x = a.values[i]!, y = b.values[i]!;
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    });
  }

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((k, i) => `${k}="${escapeLabelValue(values[i]!)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length ? `{${pairs.join(',')}}` : '';
  }

  /** Called before writing; gauges with a collect hook refresh themselves here. */
  collect(): void {}

  /** HELP, TYPE and every sample line, each ending in a line feed. */
  write(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { values, state } of this.sorted()) out += this.samples(values, state);
    return out;
  }

  protected abstract samples(values: readonly string[], state: S): string;
}

/** A value that only goes up (events seen, children trained); it restarts at 0 only with the process. */
export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'counter';

  protected initial() { return { value: 0 }; }

  /** Adds `by` (default 1, must be >= 0) to the series of `labels`. */
  inc(labels?: LabelValues<L>, by = 1): void {
    if (!(by >= 0)) throw new CounterDecreaseError(this.name, by);
    this.state(labels).value += by;
  }

  /** Makes the series exist at 0, so a rate over it starts from a known point. */
  touch(labels?: LabelValues<L>): void {
    this.state(labels);
  }

  /** The current value; 0 for a series never touched. */
  get(labels?: LabelValues<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  protected samples(values: readonly string[], state: { value: number }): string {
    return `${this.name}${this.labelText(values)} ${formatValue(state.value)}\n`;
  }
}

/** A value that goes up and down (queue depth, searches per state). */
export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'gauge';
  private readonly onCollect?: (gauge: Gauge<L>) => void;

  constructor(options: GaugeOptions<L>) {
    super(options);
    this.onCollect = options.collect;
  }

  protected initial() { return { value: 0 }; }

  set(labels: LabelValues<L> | undefined, value: number): void {
    this.state(labels).value = value;
  }

  inc(labels?: LabelValues<L>, by = 1): void {
    this.state(labels).value += by;
  }

  dec(labels?: LabelValues<L>, by = 1): void {
    this.state(labels).value -= by;
  }

  /** The current value, or undefined for a series that does not exist. */
  get(labels?: LabelValues<L>): number | undefined {
    return this.peek(labels)?.value;
  }

  override collect(): void {
    this.onCollect?.(this);
  }

  protected samples(values: readonly string[], state: { value: number }): string {
    return `${this.name}${this.labelText(values)} ${formatValue(state.value)}\n`;
  }
}

interface HistogramState { counts: number[]; sum: number; count: number }

/** Observations counted into cumulative buckets (rewards, seconds). */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  /** Upper bounds without the implicit +Inf. */
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    const buckets = [...options.buckets];
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (!Number.isFinite(b)) throw new InvalidBucketsError(options.name, i, `bound ${b} is not finite (+Inf is added by the histogram)`);
      if (i > 0 && !(b > buckets[i - 1]!)) throw new InvalidBucketsError(options.name, i, `bound ${b} is not above the previous one, ${buckets[i - 1]}`);
    }
    if (buckets.length === 0) throw new InvalidBucketsError(options.name, 0, 'no bounds given');
    super(options, ['le']);
    this.buckets = buckets;
  }

  protected initial(): HistogramState {
    return { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
  }

  observe(labels: LabelValues<L> | undefined, value: number): void {
    const s = this.state(labels);
    // Bucket i counts observations <= bound i (le = "less or equal").
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Count and sum of one series; undefined for a series never observed. */
  get(labels?: LabelValues<L>): { count: number; sum: number; buckets: number[] } | undefined {
    const s = this.peek(labels);
    if (!s) return undefined;
    let acc = 0;
    return { count: s.count, sum: s.sum, buckets: s.counts.map((c) => (acc += c)) };
  }

  protected samples(values: readonly string[], state: HistogramState): string {
    let out = '';
    let acc = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      acc += state.counts[i]!;
      out += `${this.name}_bucket${this.labelText(values, ['le', formatValue(this.buckets[i]!)])} ${formatValue(acc)}\n`;
    }
    out += `${this.name}_bucket${this.labelText(values, ['le', '+Inf'])} ${formatValue(state.count)}\n`;
    out += `${this.name}_sum${this.labelText(values)} ${formatValue(state.sum)}\n`;
    out += `${this.name}_count${this.labelText(values)} ${formatValue(state.count)}\n`;
    return out;
  }
}

/** What the registry needs of a metric: every kind, whatever its label names. */
export interface RegisteredMetric {
  readonly name: string;
  readonly type: MetricType;
  collect(): void;
  write(): string;
}

/** Holds metrics by name and writes them all in the text format. */
export class Registry {
  private readonly metrics = new Map<string, RegisteredMetric>();

  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.add(new Counter<L>(options));
  }

  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
    return this.add(new Gauge<L>(options));
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram<L>(options));
  }

  private add<M extends RegisteredMetric>(metric: M): M {
    // A histogram also owns <name>_bucket, _sum and _count; a clash there would
    // make two families write the same series.
    const owned = (m: RegisteredMetric) => (m.type === 'histogram' ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]);
    const mine = owned(metric);
    for (const other of this.metrics.values()) {
      const theirs = owned(other);
      const clash = mine.find((n) => theirs.includes(n));
      if (clash) throw new DuplicateMetricError(clash);
    }
    this.metrics.set(metric.name, metric);
    return metric;
  }

  get(name: string): RegisteredMetric | undefined {
    return this.metrics.get(name);
  }

  /** Every family, sorted by name, in text format 0.0.4. */
  expose(): string {
    const names = [...this.metrics.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let out = '';
    for (const name of names) {
      const metric = this.metrics.get(name)!;
      metric.collect();
      out += metric.write();
    }
    return out;
  }
}
