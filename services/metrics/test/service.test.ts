import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  connectBus, ensureStreams, MemoryEventBus, NatsEventBus,
  type BusConnection, type BusEvent,
} from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { ConfigError } from '@nasnet/config';
import {
  runMetricsService, startEventMetrics, metricsConfigFromEnv, VARIABLES, type MetricsService,
} from '../src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url));

let nats: NatsTestServer;
let publisher: BusConnection;
const services: MetricsService[] = [];

before(async () => { nats = await startNatsServer(); });
after(async () => {
  for (const s of services) await s.close();
  await publisher?.close();
  await nats?.stop();
});

let sequence = 0;
function child(searchId: string, childId: number, reward: number): BusEvent {
  return {
    kind: 'search', searchId, sequence: sequence++, timeMs: Date.now(),
    event: { type: 'child_finished', childId, phase: 'search', cached: false, result: { childId, status: 'ok', reward, validationByEpoch: [reward], trainSeconds: 3, paramCount: 10, multAdds: 20 } },
  };
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one sample line, by its exact text before the value. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('metrics service - starts before the event stream exists, then follows it from the start', async () => {
  const lines: string[] = [];
  const service = await runMetricsService({ natsUrl: nats.url, port: 0, host: '127.0.0.1', subscribeRetryMs: 100, log: (l) => lines.push(l) });
  services.push(service);
  await until('a failed subscribe attempt', async () => lines.some((l) => /cannot follow events yet \(attempt 1\)/.test(l)));
  assert.equal(value(await scrape(service.url), 'nasnet_children_trained_total{search="s1"}'), undefined);
  assert.equal((await fetch(`${service.url}/healthz`)).status, 200);

  publisher = await connectBus(nats.url, { name: 'test-publisher', log: () => {} });
  await ensureStreams(publisher.jsm, { storage: 'memory' });
  const events = new NatsEventBus(publisher);
  await events.publish({ kind: 'search_state', searchId: 's1', timeMs: Date.now(), state: 'running' });
  const first = child('s1', 0, 0.5);
  await events.publish(first);
  await events.publish(child('s1', 1, 0.8));
  await events.publish(first); // delivered again: counted once
  await publisher.js.publish('nas.events.s1', new TextEncoder().encode('{not json'));
  await service.subscribed;
  assert.ok(lines.includes('metrics: following all events from the start of the stream'), lines.join('\n'));

  await until('the events to be counted', async () => value(await scrape(service.url), 'nasnet_events_total{kind="search"}') === 3);
  const text = await scrape(service.url);
  assert.equal(value(text, 'nasnet_children_trained_total{search="s1"}'), 2);
  assert.equal(value(text, 'nasnet_child_reward_count{search="s1"}'), 2);
  assert.equal(value(text, 'nasnet_searches{state="running"}'), 1);
  assert.equal(value(text, 'nasnet_bad_events_total'), 1);
  assert.ok(lines.some((l) => l.startsWith('metrics: skipped bad event #1:')), lines.join('\n'));
});

test('metrics service - a restarted service rebuilds the same counters from the stream', async () => {
  const before = await scrape(services[0]!.url);
  await services.shift()!.close();
  const events = new NatsEventBus(publisher);
  await events.publish(child('s1', 2, 0.9));
  const service = await runMetricsService({ natsUrl: nats.url, port: 0, host: '127.0.0.1', log: () => {} });
  services.push(service);
  await until('the replay', async () => value(await scrape(service.url), 'nasnet_events_total{kind="search"}') === 4);
  const after = await scrape(service.url);
  assert.equal(value(after, 'nasnet_children_trained_total{search="s1"}'), 3);
  assert.equal(value(after, 'nasnet_child_reward_bucket{search="s1",le="0.5"}'), value(before, 'nasnet_child_reward_bucket{search="s1",le="0.5"}'));
  assert.equal(value(after, 'nasnet_child_reward_bucket{search="s1",le="0.9"}'), 3);
  assert.equal(value(after, 'nasnet_bad_events_total'), 1);
});

test('metrics service - main.ts runs as a process and exits 0 on SIGTERM', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    cwd: root, stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NATS_URL: nats.url, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' },
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    await until('the serving line', async () => /serving (http:\/\/\S+)\/metrics/.test(stderr), 20_000);
    const url = /serving (http:\/\/\S+)\/metrics/.exec(stderr)![1]!;
    await until('the replay in the process', async () => value(await scrape(url), 'nasnet_children_trained_total{search="s1"}') === 3);
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /metrics: SIGTERM, closing\nmetrics: closed\n$/);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});

test('metrics service - main.ts without NATS_URL exits 2 naming the variable', async () => {
  const env = { ...process.env };
  delete env.NATS_URL;
  const proc = spawn(process.execPath, ['--import', 'tsx', mainTs], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.equal(stderr, 'metrics: NATS_URL=(unset): expected comma-separated URLs starting with nats:// or tls:// or ws:// or wss:// such as nats://nats:4222 (required)\n');
});

test('metrics service - configuration comes from NATS_URL, METRICS_PORT and METRICS_HOST', () => {
  assert.deepEqual(metricsConfigFromEnv({ NATS_URL: 'nats://n:4222' }), { nats: { url: 'nats://n:4222' }, port: 9464, host: '0.0.0.0' });
  assert.deepEqual(metricsConfigFromEnv({ NATS_URL: ' nats://a:1,nats://b:2 ', METRICS_PORT: '9100', METRICS_HOST: '127.0.0.1' }), { nats: { url: 'nats://a:1,nats://b:2' }, port: 9100, host: '127.0.0.1' });
  assert.throws(() => metricsConfigFromEnv({ NATS_URL: 'nats://n:4222', METRICS_PORT: 'http' }), (e: Error) => e instanceof ConfigError && e.message === 'METRICS_PORT="http": expected a TCP port, 0 to 65535 (0: any free port)');
  assert.throws(() => metricsConfigFromEnv({ NATS_URL: 'nats://n:4222', METRICS_PORT: '70000' }), (e: Error) => e instanceof ConfigError && e.variable === 'METRICS_PORT');
  assert.throws(() => metricsConfigFromEnv({ NATS_URL: '  ' }), /NATS_URL=" {2}"/);
  // Its own NATS user (k8s: `metrics`, which may only read events).
  assert.deepEqual(metricsConfigFromEnv({ NATS_URL: 'nats://n:4222', NATS_USER: 'metrics', NATS_PASS: 'pw' }), { nats: { url: 'nats://n:4222', user: 'metrics', pass: 'pw' }, port: 9464, host: '0.0.0.0' });
  assert.throws(() => metricsConfigFromEnv({ NATS_URL: 'nats://n:4222', NATS_PASS: 'pw' }), /NATS_USER=\(unset\): expected a NATS user name when NATS_PASS is set/);
  // Every variable it reads is declared (the k8s manifest check and README table rely on VARIABLES).
  const read = new Set<string>();
  metricsConfigFromEnv(new Proxy({ NATS_URL: 'nats://n:4222' } as Record<string, string | undefined>, { get: (t, k) => { read.add(String(k)); return t[String(k)]; } }));
  assert.deepEqual([...read].sort(), VARIABLES.map((v) => v.name).sort());
});

test('metrics service - the embedded mode serves a MemoryEventBus the same way', async () => {
  const bus = new MemoryEventBus();
  await bus.publish(child('m1', 0, 0.7));
  const service = await startEventMetrics({ events: bus, port: 0, host: '127.0.0.1', log: () => {} });
  try {
    await service.subscribed;
    await bus.publish(child('m1', 1, 0.6));
    await bus.publish({ kind: 'queue', timeMs: Date.now(), pending: 4, inFlight: 1 });
    const text = await scrape(service.url);
    assert.equal(value(text, 'nasnet_children_trained_total{search="m1"}'), 2);
    assert.equal(value(text, 'nasnet_queue_depth'), 4);
  } finally {
    await service.close();
  }
});
