import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewardCurveSvg } from '@nasnet/report';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';

const HELP = `usage: nasctl compare DIR DIR... [--out FILE.svg] [--json]

Puts the reward curves of finished local searches (their results.json) on one
chart, e.g. PPO against random search at equal budget, and prints per search
the mean reward of the last quarter of its children and the best reward.`;

interface Results {
  spec: { strategy: string; seed: number; budget: { architectures: number } };
  children: Array<{ childId: number; phase: string; reward?: number; status?: string; duplicateOf?: number }>;
}

export async function compareCommand(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) { io.out(HELP); return 0; }
  if (positionals.length < 1) throw new UsageError('compare needs at least one search folder');
  const rows = positionals.map((dir) => {
    let r: Results;
    try { r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results; } catch (cause) { throw new UsageError(`cannot read ${join(dir, 'results.json')}: ${(cause as Error).message}`, { cause }); }
    // Rewards the strategy learned from: cancelled and failed children carry none.
    const rewards = r.children.filter((c) => c.phase === 'search' && c.reward !== undefined && ['ok', 'diverged', 'early_stopped'].includes(c.status ?? '')).map((c) => c.reward!);
    const tail = rewards.slice(-Math.max(1, Math.floor(rewards.length / 4)));
    const label = `${r.spec.strategy} seed ${r.spec.seed}`;
    return { dir, label, strategy: r.spec.strategy, children: rewards.length, lastQuarterMean: tail.reduce((s, x) => s + x, 0) / tail.length, best: Math.max(...rewards), rewards };
  });
  io.out(`${'search'.padEnd(24)} ${'children'.padStart(8)} ${'mean (last 1/4)'.padStart(16)} ${'best'.padStart(8)}`);
  for (const r of rows) io.out(`${r.label.padEnd(24)} ${String(r.children).padStart(8)} ${r.lastQuarterMean.toFixed(4).padStart(16)} ${r.best.toFixed(4).padStart(8)}`);
  if (values.out) {
    const points = rows.flatMap((r) => r.rewards.map((reward, child) => ({ child, reward, strategy: r.label })));
    writeFileSync(values.out, rewardCurveSvg(points, { title: rows.map((r) => r.label).join(' vs ') }));
    io.out(`chart: ${values.out}`);
  }
  if (values.json) io.out(JSON.stringify(rows.map(({ rewards: _r, ...rest }) => rest)));
  return 0;
}
