import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { syntheticDataset, batches } from '@nasnet/data';
import { initBackend } from '@nasnet/engine';
import { loadModel } from '@nasnet/network';

const bin = fileURLToPath(new URL('../services/nasctl/bin/nasctl.mjs', import.meta.url));

function search(out: string, extra: string[] = []) {
  return spawnSync(process.execPath, [bin, 'search', '--local', '--budget', '6', '--workers', '2', '--data', 'synthetic', '--train-limit', '256',
    '--val-limit', '128', '--filters', '4', '--controller-batch', '3', '--seed', '5', '--out', out, '--json', ...extra], { encoding: 'utf8', env: { ...process.env, NAS_BACKEND: 'wasm' } });
}

test('local search - one command runs a whole search and leaves a report, drawings and a model that loads and predicts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-local-'));
  try {
    const out = join(dir, 'run');
    const res = search(out);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.outcome, 'succeeded');
    assert.equal(summary.trained + summary.cached, 6 + summary.cached);
    assert.equal(summary.trained, 6);
    assert.match(res.stderr, /workers: 2 x wasm/);
    for (const f of ['results.json', 'best-cells.svg', 'reward-curve.svg', 'report.md', 'state.json', 'events.jsonl']) assert.ok(existsSync(join(out, f)), f);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.equal(results.children.filter((c: { phase: string }) => c.phase === 'search').length, 6);
    assert.equal(results.policyUpdates.length, 2, 'one PPO update per 3 rewards');
    assert.match(readFileSync(join(out, 'best-cells.svg'), 'utf8'), /^<svg[^>]*>/);
    assert.match(readFileSync(join(out, 'reward-curve.svg'), 'utf8'), /<svg/);

    // The exported best network loads back and predicts.
    await initBackend('wasm', { log: () => {} });
    const model = await loadModel(join(out, 'model'));
    const data = syntheticDataset({ seed: 0 });
    const batch = batches(data.validation, { batchSize: 16, stats: data.stats }).next().value!;
    const logits = model.predict(tf.tensor4d(batch.x, batch.shape)) as tf.Tensor;
    assert.deepEqual(logits.shape, [16, 10]);
    assert.ok((await logits.data()).every(Number.isFinite));
    logits.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local search - same seed, same searches (genotypes and rewards)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-local-'));
  try {
    const runs = ['a', 'b'].map((name) => {
      const res = search(join(dir, name), ['--budget', '4', '--top-k', '0']);
      assert.equal(res.status, 0, res.stderr.slice(-2000));
      return JSON.parse(readFileSync(join(dir, name, 'results.json'), 'utf8')).children.map((c: { hash: string; reward: number }) => [c.hash, c.reward]);
    });
    assert.deepEqual(runs[0], runs[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
