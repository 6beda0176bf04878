import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { MetricsAggregator } from '@nasnet/telemetry';
import { startMetricsServer, MetricsServerListenError } from '../src/index.js';

const aggregator = new MetricsAggregator({ now: () => 0 });
let healthy = true;
const server = await startMetricsServer({ port: 0, host: '127.0.0.1', aggregator, healthy: () => healthy });
after(() => server.close());

test('metrics server - GET /metrics serves the aggregator exposition as text format 0.0.4', async () => {
  aggregator.handle({ kind: 'queue', timeMs: 1, pending: 11, inFlight: 4 });
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const body = await res.text();
  assert.equal(body, aggregator.metrics());
  assert.match(body, /^nasnet_queue_depth 11$/m);
  assert.match(body, /^nasnet_children_in_flight 4$/m);
  assert.match(body, /^# TYPE nasnet_child_reward histogram$/m);
});

test('metrics server - every scrape sees the latest events', async () => {
  const before = await (await fetch(`${server.url}/metrics?x=1`)).text();
  assert.match(before, /^nasnet_events_total\{kind="queue"\} 1$/m);
  aggregator.handle({ kind: 'queue', timeMs: 2, pending: 0, inFlight: 0 });
  const now = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(now, /^nasnet_events_total\{kind="queue"\} 2$/m);
  assert.match(now, /^nasnet_queue_depth 0$/m);
});

test('metrics server - /healthz follows the health check, other paths are 404, other methods 405', async () => {
  let res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');
  healthy = false;
  res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 503);
  await res.text();
  healthy = true;
  res = await fetch(`${server.url}/`);
  assert.equal(res.status, 404);
  assert.equal(await res.text(), 'no such path: /\n');
  res = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  await res.text();
  res = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(aggregator.metrics()));
});

test('metrics server - a failing source answers 500, and a taken port is a named error', async () => {
  const broken = await startMetricsServer({ port: 0, host: '127.0.0.1', aggregator: { metrics: () => { throw new Error('boom'); } } });
  try {
    const res = await fetch(`${broken.url}/metrics`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'metrics failed: boom\n');
    await assert.rejects(
      startMetricsServer({ port: broken.port, host: '127.0.0.1', aggregator }),
      (e: Error) => e instanceof MetricsServerListenError && e.message === `metrics server cannot listen on 127.0.0.1:${broken.port}` && (e.cause as NodeJS.ErrnoException).code === 'EADDRINUSE',
    );
  } finally {
    await broken.close();
  }
  // close() is idempotent and really frees the port.
  await broken.close();
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(broken.port, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
