import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveSeed } from '../src/index.js';

test('rng - same seed gives the same stream, other seeds differ', () => {
  const a = new Rng(7), b = new Rng(7), c = new Rng(8);
  const sa = Array.from({ length: 50 }, () => a.nextUint32());
  const sb = Array.from({ length: 50 }, () => b.nextUint32());
  const sc = Array.from({ length: 50 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('rng - saved state resumes the exact stream', () => {
  const a = new Rng(123);
  for (let i = 0; i < 10; i++) a.next();
  const b = new Rng(a.state());
  assert.deepEqual(Array.from({ length: 20 }, () => a.next()), Array.from({ length: 20 }, () => b.next()));
});

test('rng - int is uniform enough and in range', () => {
  const rng = new Rng(1);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 100000; i++) counts[rng.int(10)]++;
  for (const c of counts) assert.ok(c > 9500 && c < 10500, `bucket count ${c}`);
  assert.throws(() => rng.int(0), /positive integer/);
});

test('rng - normal has mean 0 and variance 1', () => {
  const rng = new Rng(3);
  let s = 0, s2 = 0; const n = 50000;
  for (let i = 0; i < n; i++) { const x = rng.normal(); s += x; s2 += x * x; }
  assert.ok(Math.abs(s / n) < 0.02);
  assert.ok(Math.abs(s2 / n - 1) < 0.03);
});

test('rng - deriveSeed depends on every label', () => {
  assert.equal(deriveSeed(1, 'a', 2), deriveSeed(1, 'a', 2));
  assert.notEqual(deriveSeed(1, 'a', 2), deriveSeed(1, 'a', 3));
  assert.notEqual(deriveSeed(1, 'a', 2), deriveSeed(2, 'a', 2));
});
