import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareStrategies, strategyComparisonSvg, type ComparedRun, type StrategyScore } from '@nasnet/report';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';

const HELP = `usage: nasctl compare [--run STRATEGY=DIR]... [DIR]... [--top N] [--out FILE.svg] [--json]

Compares search strategies over several seeds, as the paper compares RL with
random search: for each finished local search (a folder with results.json)
the best reward and the mean of the top-N UNIQUE rewards of its search phase
(cached duplicates count once); then per strategy the mean and a 95% t
interval of those over its runs. Prints a table and draws one SVG chart.

  --run S=DIR   a run of strategy S (repeat for every seed)
  DIR           a run grouped by the strategy its results.json records
  --top N       unique rewards averaged per run (default 5)
  --out FILE    the chart (default: no chart)
  --json        end with one JSON line of the scores`;

interface ResultsFile {
  spec?: { strategy?: string; seed?: number };
  children?: ComparedRun['children'];
}

function readRun(dir: string, strategy?: string): ComparedRun {
  const path = join(dir, 'results.json');
  let results: ResultsFile;
  try {
    results = JSON.parse(readFileSync(path, 'utf8')) as ResultsFile;
  } catch (cause) {
    throw new UsageError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  if (!Array.isArray(results.children)) throw new UsageError(`${path} has no children list: is it a search's results.json?`);
  const recorded = results.spec?.strategy;
  const name = strategy ?? recorded;
  if (!name) throw new UsageError(`${path} records no strategy: name it with --run STRATEGY=${dir}`);
  return { label: dir, strategy: name, ...(typeof results.spec?.seed === 'number' ? { seed: results.spec.seed } : {}), children: results.children };
}

function interval(m: StrategyScore['best']): string {
  return m.halfWidth === undefined ? `${m.mean.toFixed(4)} (1 run)` : `${m.mean.toFixed(4)} ± ${m.halfWidth.toFixed(4)} [${m.lo!.toFixed(4)}, ${m.hi!.toFixed(4)}]`;
}

export async function compareCommand(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      run: { type: 'string', multiple: true, default: [] },
      top: { type: 'string', default: '5' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) { io.out(HELP); return 0; }
  const topN = Number(values.top);
  if (!Number.isInteger(topN) || topN < 1) throw new UsageError(`--top must be an integer >= 1, got '${values.top}'`);
  const runs: ComparedRun[] = [];
  for (const spec of values.run ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--run takes STRATEGY=DIR, got '${spec}'`);
    runs.push(readRun(spec.slice(eq + 1), spec.slice(0, eq)));
  }
  for (const dir of positionals) runs.push(readRun(dir));
  if (runs.length === 0) throw new UsageError('compare needs at least one run (--run STRATEGY=DIR or DIR)');

  let scores: StrategyScore[];
  try {
    scores = compareStrategies(runs, { topN });
  } catch (cause) {
    throw new UsageError((cause as Error).message, { cause });
  }
  const header = `${'strategy'.padEnd(12)} ${'runs'.padStart(4)} ${'unique/run'.padStart(10)}  ${'best reward (mean ± 95% CI)'.padEnd(40)}  top-${topN} unique (mean ± 95% CI)`;
  io.out(header);
  io.out('-'.repeat(header.length + 8));
  for (const s of scores) {
    const unique = s.runs.reduce((a, r) => a + r.uniqueChildren, 0) / s.runs.length;
    io.out(`${s.strategy.padEnd(12)} ${String(s.runs.length).padStart(4)} ${unique.toFixed(1).padStart(10)}  ${interval(s.best).padEnd(40)}  ${interval(s.top)}`);
  }
  io.out('');
  io.out('per run:');
  for (const s of scores) {
    for (const r of s.runs) io.out(`  ${r.strategy.padEnd(10)} seed ${String(r.seed ?? '-').padEnd(6)} best ${r.best.toFixed(4)}  top-${r.topCount} ${r.topMean.toFixed(4)}  (${r.uniqueChildren} unique)  ${r.label}`);
  }
  if (values.out) {
    writeFileSync(values.out, strategyComparisonSvg(scores, { topN, title: `${scores.map((s) => s.strategy).join(' vs ')}: best and top-${topN} unique rewards over seeds` }));
    io.out(`chart: ${values.out}`);
  }
  if (values.json) io.out(JSON.stringify(scores));
  return 0;
}
