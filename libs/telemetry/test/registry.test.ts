import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Registry, escapeLabelValue, exponentialBuckets, formatValue, linearBuckets,
  CounterDecreaseError, DuplicateMetricError, InvalidBucketsError, InvalidLabelsError, InvalidMetricNameError,
} from '../src/index.js';
import { parseExposition, sampleValue, ExpositionParseError } from './exposition.js';

function handBuilt(): Registry {
  const r = new Registry();
  // Registered out of name order on purpose: output is sorted by name.
  const h = r.histogram({ name: 'job_seconds', help: 'Job time.', labelNames: ['queue'], buckets: [0.5, 1, 2.5] });
  const c = r.counter({ name: 'jobs_total', help: 'Jobs done.\nSecond line with a \\ backslash and "quotes".', labelNames: ['queue', 'status'] });
  const g = r.gauge({ name: 'depth', help: 'Queue depth.' });
  r.counter({ name: 'app_starts_total', help: 'Starts.' });
  c.inc({ queue: 'b', status: 'ok' }, 2);
  c.inc({ status: 'failed', queue: 'a' });
  c.inc({ queue: 'a', status: 'ok' }, 0.5);
  g.set(undefined, -3);
  h.observe({ queue: 'x' }, 0.5);
  h.observe({ queue: 'x' }, 0.7);
  h.observe({ queue: 'x' }, 9);
  h.observe({ queue: 'w' }, 2);
  return r;
}

const GOLDEN = `# HELP app_starts_total Starts.
# TYPE app_starts_total counter
app_starts_total 0
# HELP depth Queue depth.
# TYPE depth gauge
depth -3
# HELP job_seconds Job time.
# TYPE job_seconds histogram
job_seconds_bucket{queue="w",le="0.5"} 0
job_seconds_bucket{queue="w",le="1"} 0
job_seconds_bucket{queue="w",le="2.5"} 1
job_seconds_bucket{queue="w",le="+Inf"} 1
job_seconds_sum{queue="w"} 2
job_seconds_count{queue="w"} 1
job_seconds_bucket{queue="x",le="0.5"} 1
job_seconds_bucket{queue="x",le="1"} 2
job_seconds_bucket{queue="x",le="2.5"} 2
job_seconds_bucket{queue="x",le="+Inf"} 3
job_seconds_sum{queue="x"} 10.2
job_seconds_count{queue="x"} 3
# HELP jobs_total Jobs done.\\nSecond line with a \\\\ backslash and "quotes".
# TYPE jobs_total counter
jobs_total{queue="a",status="failed"} 1
jobs_total{queue="a",status="ok"} 0.5
jobs_total{queue="b",status="ok"} 2
`;

test('registry - a hand-built registry writes exactly the golden exposition', () => {
  assert.equal(handBuilt().expose(), GOLDEN);
});

test('registry - output does not depend on the order series were created', () => {
  const r = new Registry();
  const c = r.counter({ name: 'jobs_total', help: 'Jobs done.\nSecond line with a \\ backslash and "quotes".', labelNames: ['queue', 'status'] });
  c.inc({ queue: 'a', status: 'ok' }, 0.5);
  c.inc({ queue: 'b', status: 'ok' }, 2);
  c.inc({ queue: 'a', status: 'failed' });
  const jobs = (text: string) => text.slice(text.indexOf('# HELP jobs_total'));
  assert.equal(jobs(r.expose()), jobs(GOLDEN));
});

test('registry - label values escape backslash, double quote and line feed', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const r = new Registry();
  const g = r.gauge({ name: 'odd', help: 'Odd labels.', labelNames: ['path'] });
  g.set({ path: 'C:\\tmp\\"x"\nnext' }, 1);
  g.set({ path: 'plain, {braces} = fine' }, 2);
  const text = r.expose();
  assert.ok(text.includes('odd{path="C:\\\\tmp\\\\\\"x\\"\\nnext"} 1\n'), text);
  const parsed = parseExposition(text);
  assert.equal(sampleValue(parsed, 'odd', 'odd', { path: 'C:\\tmp\\"x"\nnext' }), 1);
  assert.equal(sampleValue(parsed, 'odd', 'odd', { path: 'plain, {braces} = fine' }), 2);
});

test('registry - values are written the way the Go parser reads them', () => {
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(12), '12');
  assert.equal(formatValue(0.1 + 0.2), '0.30000000000000004');
});

test('registry - generated bucket bounds carry no float noise', () => {
  const lin = linearBuckets(0.1, 0.05, 19);
  assert.equal(lin.length, 19);
  assert.equal(lin[0], 0.1);
  assert.equal(lin[4], 0.3);
  assert.equal(lin.at(-1), 1);
  assert.deepEqual(exponentialBuckets(0.001, 2, 4), [0.001, 0.002, 0.004, 0.008]);
  assert.deepEqual(exponentialBuckets(1, 2, 3), [1, 2, 4]);
});

test('registry - histogram buckets are cumulative and end with +Inf equal to count', () => {
  const r = new Registry();
  const h = r.histogram({ name: 'h', help: 'h', buckets: [1, 2, 3] });
  for (const v of [0, 1, 1.5, 2, 3, 3.5, -1, 100]) h.observe(undefined, v);
  const parsed = parseExposition(r.expose());
  const le = (b: string) => sampleValue(parsed, 'h', 'h_bucket', { le: b });
  assert.deepEqual([le('1'), le('2'), le('3'), le('+Inf')], [3, 5, 6, 8]);
  assert.equal(sampleValue(parsed, 'h', 'h_count'), 8);
  assert.equal(sampleValue(parsed, 'h', 'h_sum'), 110);
  assert.deepEqual(h.get(), { count: 8, sum: 110, buckets: [3, 5, 6] });
});

test('registry - parser round-trip gives back every series and value written', () => {
  const parsed = parseExposition(handBuilt().expose());
  assert.deepEqual([...parsed.keys()], ['app_starts_total', 'depth', 'job_seconds', 'jobs_total']);
  assert.equal(parsed.get('jobs_total')!.help, 'Jobs done.\nSecond line with a \\ backslash and "quotes".');
  assert.equal(parsed.get('job_seconds')!.type, 'histogram');
  assert.equal(sampleValue(parsed, 'jobs_total', 'jobs_total', { queue: 'a', status: 'ok' }), 0.5);
  assert.equal(sampleValue(parsed, 'jobs_total', 'jobs_total', { queue: 'b', status: 'ok' }), 2);
  assert.equal(sampleValue(parsed, 'depth', 'depth'), -3);
  assert.equal(sampleValue(parsed, 'job_seconds', 'job_seconds_bucket', { queue: 'x', le: '1' }), 2);
  assert.equal(sampleValue(parsed, 'job_seconds', 'job_seconds_sum', { queue: 'x' }), 10.2);
  assert.equal(parsed.get('job_seconds')!.samples.length, 12);
  // The reader is strict enough to notice a broken exposition.
  assert.throws(() => parseExposition('x 1\n'), ExpositionParseError);
  assert.throws(() => parseExposition('# HELP a a\n# TYPE a gauge\na{l="\\q"} 1\n'), /bad escape/);
  assert.throws(() => parseExposition('# HELP a a\n# TYPE a gauge\nb 1\n'), /does not belong/);
});

test('registry - counters only go up and unlabelled metrics start at 0', () => {
  const r = new Registry();
  const c = r.counter({ name: 'c_total', help: 'c' });
  assert.equal(c.get(), 0);
  assert.throws(() => c.inc(undefined, -1), CounterDecreaseError);
  assert.throws(() => c.inc(undefined, NaN), CounterDecreaseError);
  c.inc();
  c.inc(undefined, 2);
  assert.equal(c.get(), 3);
  const g = r.gauge({ name: 'g', help: 'g' });
  assert.equal(g.get(), 0);
  g.inc();
  g.dec(undefined, 3);
  assert.equal(g.get(), -2);
});

test('registry - labels must match the declared names exactly', () => {
  const r = new Registry();
  const c = r.counter({ name: 'c_total', help: 'c', labelNames: ['a', 'b'] });
  assert.throws(() => c.inc({ a: 'x' } as never), (e: Error) => e instanceof InvalidLabelsError && /takes labels \[a, b\], got \[a\]/.test(e.message));
  assert.throws(() => c.inc({ a: 'x', b: 'y', z: 'q' } as never), InvalidLabelsError);
  assert.throws(() => c.inc({ a: 'x', b: 3 } as never), /label b is a number/);
  assert.throws(() => c.inc(), InvalidLabelsError);
  const g = r.gauge({ name: 'g', help: 'g', labelNames: ['t'] });
  g.set({ t: 'one' }, 5);
  assert.equal(g.remove({ t: 'one' }), true);
  assert.equal(g.get({ t: 'one' }), undefined);
  assert.equal(r.expose().includes('g{'), false);
});

test('registry - names, duplicates and bucket bounds are checked', () => {
  const r = new Registry();
  assert.throws(() => r.counter({ name: '9lives', help: 'x' }), InvalidMetricNameError);
  assert.throws(() => r.counter({ name: 'ok_total', help: 'x', labelNames: ['__reserved'] }), /invalid label of ok_total name '__reserved'/);
  assert.throws(() => r.counter({ name: 'ok_total', help: 'x', labelNames: ['a', 'a'] }), /declared twice/);
  assert.throws(() => r.histogram({ name: 'h', help: 'x', labelNames: ['le'], buckets: [1] }), InvalidMetricNameError);
  assert.throws(() => r.histogram({ name: 'h', help: 'x', buckets: [1, 1] }), (e: Error) => e instanceof InvalidBucketsError && /bucket 1/.test(e.message));
  assert.throws(() => r.histogram({ name: 'h', help: 'x', buckets: [1, Infinity] }), /not finite/);
  assert.throws(() => r.histogram({ name: 'h', help: 'x', buckets: [] }), /no bounds/);
  r.histogram({ name: 'lat', help: 'x', buckets: [1] });
  assert.throws(() => r.gauge({ name: 'lat', help: 'x' }), DuplicateMetricError);
  assert.throws(() => r.counter({ name: 'lat_count', help: 'x' }), /lat_count is already registered/);
});
