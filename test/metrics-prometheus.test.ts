import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusEvent } from '@nasnet/bus';
import { MetricsAggregator } from '@nasnet/telemetry';
import { startMetricsServer, type MetricsServer } from '@nasnet/metrics-service';

/**
 * The real Prometheus (Debian's 2.42, PROMETHEUS_BIN to override) scrapes the
 * metrics server once a second; its query API must then see the 7 children
 * the aggregator was told about. Proves the exposition is accepted by the
 * parser that matters, not only by our own.
 */
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';
const TIMEOUT_MS = 30_000;
/** A label value with every character the format must escape. */
const WEIRD_TRAINER = 'pod "a"\nb\\c';

let dir: string;
let metrics: MetricsServer;
let prometheus: ChildProcess;
let prometheusUrl: string;
let prometheusLog = '';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Seven trained children, one cached, one failed, a redelivered one reported twice: 7 trained in all. */
function events(): BusEvent[] {
  const out: BusEvent[] = [{ kind: 'search_state', searchId: 'prom-1', timeMs: Date.now(), state: 'running' }];
  const rewards = [0.31, 0.52, 0.47, 0.66, 0.71, 0.58, 0.69];
  rewards.forEach((reward, childId) => {
    out.push({
      kind: 'search', searchId: 'prom-1', sequence: childId, timeMs: Date.now(),
      event: { type: 'child_finished', childId, phase: 'search', cached: false, result: { childId, status: 'ok', reward, validationByEpoch: [reward], trainSeconds: 2 + childId, paramCount: 1, multAdds: 1 } },
    });
  });
  const last = out.at(-1)!;
  out.push(last); // a redelivered duplicate
  out.push({
    kind: 'search', searchId: 'prom-1', sequence: 7, timeMs: Date.now(),
    event: { type: 'child_finished', childId: 7, phase: 'search', cached: true, result: { childId: 7, status: 'ok', reward: 0.71, validationByEpoch: [0.71], trainSeconds: 0, paramCount: 1, multAdds: 1 } },
  });
  out.push({
    kind: 'search', searchId: 'prom-1', sequence: 8, timeMs: Date.now(),
    event: { type: 'child_finished', childId: 8, phase: 'search', cached: false, result: { childId: 8, status: 'failed', reward: 0, reason: 'oom', validationByEpoch: [], trainSeconds: 0, paramCount: 1, multAdds: 1 } },
  });
  out.push({ kind: 'trainer_heartbeat', trainer: WEIRD_TRAINER, timeMs: Date.now(), busy: true });
  out.push({
    kind: 'child_progress', searchId: 'prom-1', trainer: WEIRD_TRAINER, timeMs: Date.now(),
    progress: { childId: 9, epoch: 0, epochs: 1, step: 1, stepsPerEpoch: 2, loss: 2, trainAccuracy: 0.2, imagesPerSec: 123.5 },
  });
  return out;
}

async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
  assert.equal(body.status, 'success', body.error);
  return body.data!.result;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (prometheus.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last error: ${String(lastError)})\nprometheus log:\n${prometheusLog.slice(-3000)}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prom-test-'));
  const aggregator = new MetricsAggregator();
  for (const e of events()) aggregator.handle(e);
  metrics = await startMetricsServer({ port: 0, host: '127.0.0.1', aggregator });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: nasnet-metrics',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${metrics.port}']`,
    '',
  ].join('\n'));
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(PROMETHEUS, [
    `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  prometheus.stderr!.on('data', (chunk: Buffer) => { prometheusLog += chunk.toString(); });
  const spawned = new Promise<void>((resolve, reject) => {
    prometheus.once('spawn', resolve);
    prometheus.once('error', (err) => reject(new Error(`cannot run ${PROMETHEUS}`, { cause: err })));
  });
  await spawned;
  await until('prometheus /-/ready', async () => ((await fetch(`${prometheusUrl}/-/ready`)).status === 200 ? true : undefined));
});

after(async () => {
  if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = new Promise<void>((resolve) => prometheus.once('exit', () => resolve()));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  await metrics?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('prometheus - a real Prometheus scrapes the metrics server and counts 7 trained children', async () => {
  const trained = await until('sum(nasnet_children_trained_total) == 7', async () => {
    const r = await query('sum(nasnet_children_trained_total)');
    return r.length === 1 && r[0]!.value[1] === '7' ? 7 : undefined;
  });
  assert.equal(trained, 7);
  // The scrape itself was healthy and the other series arrived with their labels intact.
  const up = await query('up{job="nasnet-metrics"}');
  assert.equal(up[0]?.value[1], '1');
  assert.equal((await query('nasnet_children_cached_total{search="prom-1"}'))[0]?.value[1], '1');
  assert.equal((await query('nasnet_children_failed_total{search="prom-1"}'))[0]?.value[1], '1');
  assert.equal((await query('nasnet_child_reward_count{search="prom-1"}'))[0]?.value[1], '7');
  assert.equal((await query('nasnet_child_reward_bucket{search="prom-1",le="0.5"}'))[0]?.value[1], '2');
  assert.equal((await query('nasnet_searches{state="running"}'))[0]?.value[1], '1');
  assert.equal((await query('nasnet_trainers_active'))[0]?.value[1], '1');
  // Escaped label values come back from Prometheus as the original string.
  const ips = await query('nasnet_child_images_per_second');
  assert.deepEqual(ips.map((s) => [s.metric.trainer, s.value[1]]), [[WEIRD_TRAINER, '123.5']]);
  // Rank 3.5 of 7 lies in (0.55, 0.6], which holds one reward (0.58) above 3 below: 0.55 + 0.05 * 0.5.
  const median = await query('histogram_quantile(0.5, sum by (le) (nasnet_child_reward_bucket))');
  assert.ok(Math.abs(Number(median[0]!.value[1]) - 0.575) < 1e-9, `median reward estimate ${median[0]?.value[1]}`);
});

test('prometheus - promtool finds nothing to lint in the exposition (names, units, HELP, TYPE)', async () => {
  const body = await (await fetch(`${metrics.url}/metrics`)).text();
  const res = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
  assert.equal(res.error, undefined, `cannot run ${PROMTOOL}`);
  assert.equal(res.status, 0, `${res.stdout}${res.stderr}`);
  assert.equal(res.stdout + res.stderr, '');
});
