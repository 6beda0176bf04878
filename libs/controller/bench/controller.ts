/**
 * `npm run bench:controller`: how long one PPO policy update of the NASNet
 * controller takes (paper section 4: 20 architectures per update, a
 * 100-unit LSTM; 4 epochs per batch, our PPO default), and how fast the
 * policy samples architectures.
 *
 *   npm run bench:controller                         # a table
 *   npm run bench:controller -- --json               # last line is one JSON object
 *   npm run bench:controller -- --updates 20 --units 100 --batch 20 --epochs 4
 *
 * Each update is driven through the strategy's public API (propose() 20
 * times, then observe() with a synthetic reward), so it times exactly what
 * the search loop pays: the update's own clock (`PolicyUpdate.updateMs`)
 * for the update, and wall time around propose() for sampling. The first
 * updates warm V8 (and compile the wasm kernels) and are not counted.
 *
 * Throughput is wall time: other processes slow it, so the bench prints the
 * load average it ran under.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Genotype } from '@nasnet/search-space';
import { PpoStrategy } from '../src/index.js';

interface BenchOptions {
  /** Timed updates. @default 10 */
  updates: number;
  /** Untimed updates first. @default 2 */
  warmup: number;
  /** LSTM units. @default 100 (paper section 4) */
  units: number;
  /** Architectures per update. @default 20 (paper section 4) */
  batch: number;
  /** PPO epochs per update. @default 4 */
  epochs: number;
  json: boolean;
}

/** Bad command-line input. */
export class ControllerBenchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ControllerBenchError';
  }
}

/** A reward that depends on the genotype, so updates see a real, varying signal. */
function reward(g: Genotype): number {
  let sep = 0;
  for (const cell of [g.normal, g.reduction]) for (const b of cell.blocks) sep += b.ops.filter((o) => o.startsWith('sep')).length;
  return sep / 20;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function intOption(values: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ControllerBenchError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      updates: { type: 'string' }, warmup: { type: 'string' }, units: { type: 'string' }, batch: { type: 'string' },
      epochs: { type: 'string' }, json: { type: 'boolean' },
    },
  });
  const o: BenchOptions = {
    updates: intOption(values, 'updates', 10, 1),
    warmup: intOption(values, 'warmup', 2, 0),
    units: intOption(values, 'units', 100, 1),
    batch: intOption(values, 'batch', 20, 1),
    epochs: intOption(values, 'epochs', 4, 1),
    json: values.json ?? false,
  };
  const load = loadavg();
  const ppo = new PpoStrategy({ seed: 1, batchSize: o.batch, epochs: o.epochs, policy: { hiddenUnits: o.units } });
  const updateMs: number[] = [];
  const updateCpuMs: number[] = [];
  let sampleMs = 0, samples = 0;
  for (let u = 0; u < o.warmup + o.updates; u++) {
    for (let k = 0; k < o.batch; k++) {
      const t0 = performance.now();
      const c = ppo.propose();
      const t1 = performance.now();
      if (u >= o.warmup) { sampleMs += t1 - t0; samples++; }
      const cpu0 = process.cpuUsage();
      const update = ppo.observe(c, reward(c.genotype));
      const cpu = process.cpuUsage(cpu0);
      if (update && u >= o.warmup) {
        updateMs.push(update.updateMs);
        updateCpuMs.push((cpu.user + cpu.system) / 1000);
      }
    }
  }
  const sorted = updateMs.slice().sort((a, b) => a - b);
  const mean = updateMs.reduce((s, x) => s + x, 0) / updateMs.length;
  const msPerSample = sampleMs / samples;
  const result = {
    bench: 'controller',
    node: process.version,
    units: o.units, batch: o.batch, epochs: o.epochs, updates: o.updates,
    msPerUpdate: round(percentile(sorted, 0.5)),
    meanMsPerUpdate: round(mean),
    minMsPerUpdate: round(sorted[0]!),
    maxMsPerUpdate: round(sorted.at(-1)!),
    /** CPU time of the process during the update (median): less sensitive to other load than wall time. */
    cpuMsPerUpdate: round(percentile(updateCpuMs.slice().sort((a, b) => a - b), 0.5)),
    /** Architectures per second one update digests (batch / update time). */
    updateSamplesPerSecond: round((o.batch * 1000) / percentile(sorted, 0.5), 1),
    msPerSample: round(msPerSample, 3),
    /** Architectures per second propose() samples. */
    samplesPerSecond: round(1000 / msPerSample, 1),
    /** The most children per second a PPO search can dispatch: sampling plus one update per batch. */
    childrenPerSecondCap: round((o.batch * 1000) / (o.batch * msPerSample + percentile(sorted, 0.5)), 1),
    loadAverage: load.map((x) => round(x)),
  };
  if (o.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const rows: Array<[string, string]> = [
    ['policy', `${o.units}-unit LSTM, ${o.batch} architectures x ${o.epochs} epochs per update`],
    ['update (median)', `${result.msPerUpdate} ms`],
    ['update CPU time (median)', `${result.cpuMsPerUpdate} ms`],
    ['update (mean / min / max)', `${result.meanMsPerUpdate} / ${result.minMsPerUpdate} / ${result.maxMsPerUpdate} ms over ${o.updates}`],
    ['update throughput', `${result.updateSamplesPerSecond} architectures/s`],
    ['sampling', `${result.msPerSample} ms per architecture = ${result.samplesPerSecond} /s`],
    ['PPO search cap', `${result.childrenPerSecondCap} children/s`],
    ['load average', result.loadAverage.join(' ')],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench:controller failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
