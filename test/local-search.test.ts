import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
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

interface ResultChild { childId: number; phase: string; hash: string; status?: string; reward?: number; duplicateOf?: number; sourceChildId?: number; paramCount?: number }
interface Retrained { childId: number; hash: string; reward: number; finalReward: number; finalChildId: number }

test('local search - one command runs a search and a final phase; the best retrained reward picks the best child and the exported model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-local-'));
  try {
    const out = join(dir, 'run');
    // Issue 13: `nasctl search --local --data synthetic --budget 8 --top-k 3 --json` (with a small child).
    const res = search(out, ['--budget', '8', '--top-k', '3']);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.outcome, 'succeeded');
    assert.equal(summary.trained, 8);
    assert.match(res.stderr, /workers: 2 x wasm/);
    for (const f of ['results.json', 'best-cells.svg', 'reward-curve.svg', 'report.md', 'state.json', 'events.jsonl']) assert.ok(existsSync(join(out, f)), f);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const children = results.children as ResultChild[];
    const search8 = children.filter((c) => c.phase === 'search');
    assert.equal(search8.filter((c) => c.duplicateOf === undefined).length, 8);
    assert.equal(results.policyUpdates.length, Math.floor(search8.length / 3), 'one PPO update per 3 rewards');

    // Three unique cells retrained: the top 3 by search reward, each with a larger network.
    const finals = children.filter((c) => c.phase === 'final');
    assert.equal(finals.length, 3);
    assert.equal(new Set(finals.map((f) => f.hash)).size, 3, 'unique cells');
    const ok = search8.filter((c) => c.duplicateOf === undefined && c.status === 'ok').sort((a, b) => b.reward! - a.reward! || a.childId - b.childId);
    assert.deepEqual(new Set(finals.map((f) => f.sourceChildId)), new Set(ok.slice(0, 3).map((c) => c.childId)));
    for (const f of finals) assert.ok(f.paramCount! > children[f.sourceChildId!]!.paramCount!, 'the final recipe builds a larger network (F0 x 2)');

    // results.json holds both rewards of each retrained cell, and the best is the highest retrained reward.
    const retrained = results.summary.retrained as Retrained[];
    assert.equal(retrained.length, 3);
    for (const r of retrained) {
      assert.equal(r.reward, children[r.childId]!.reward, 'search-phase reward');
      assert.equal(r.finalReward, children[r.finalChildId]!.reward, 'retrained reward');
      assert.equal(children[r.finalChildId]!.sourceChildId, r.childId);
    }
    const top = retrained.reduce((a, b) => (b.finalReward > a.finalReward ? b : a));
    assert.equal(summary.best.childId, top.childId, 'the best child is the one with the highest retrained reward');
    assert.equal(summary.best.finalReward, top.finalReward);
    assert.equal(summary.bestFromFinalPhase, true);
    assert.equal(results.summary.best.childId, top.childId);
    assert.equal(summary.bestSearchPhase.childId, ok[0]!.childId, 'the search-phase ranking is reported beside it');
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(report, /\| rank \| by search reward \| search reward \| by retrained reward \| retrained reward \|/);
    assert.match(report, new RegExp(`best: child ${top.childId}, validation accuracy [0-9.]+, retrained ${top.finalReward.toFixed(4)}`));
    // The exported model is the retrained winner's.
    assert.equal(summary.model, join(out, 'model'));
    assert.deepEqual(readFileSync(join(out, 'model', 'model.json')), readFileSync(join(out, 'models', `child-${top.finalChildId}`, 'model.json')));
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

test('local search - a truncated CIFAR-10 folder fails the search at once, naming the file and byte offset, with a non-zero exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-local-'));
  try {
    const data = join(dir, 'cifar');
    mkdirSync(data);
    // Official layout (1 label byte + 3072 pixel bytes per record); data_batch_1.bin ends 1,000 bytes into its third record.
    for (const name of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
      writeFileSync(join(data, name), new Uint8Array(name === 'data_batch_1.bin' ? 2 * 3073 + 1000 : 4 * 3073));
    }
    const out = join(dir, 'run');
    const res = search(out, ['--data', `cifar10:${data}`, '--budget', '40', '--top-k', '2']);
    assert.equal(res.status, 1, `exit status ${res.status}: ${res.stderr.slice(-2000)}`);
    const file = join(data, 'data_batch_1.bin');
    assert.ok(res.stderr.includes(`search failed: the first 3 children all failed with the same error, so the search stopped: dataset file ${file} is truncated at byte offset 6146`), res.stderr.slice(-2000));
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.outcome, 'failed');
    assert.match(summary.reason, /byte offset 6146 \(record 2\)/);
    const children = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).children as ResultChild[];
    assert.ok(children.length <= 3 + 2, `${children.length} children started of a budget of 40`);
    assert.ok(!children.some((c) => c.phase === 'final'), 'no failed child is retrained');
    assert.ok(!existsSync(join(out, 'model')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local search - --checkpoint-cells goes into the search spec the children are trained with (state.json), and --help says what it trades', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-local-'));
  try {
    const out = join(dir, 'run');
    const res = search(out, ['--budget', '2', '--top-k', '0', '--checkpoint-cells']);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    assert.equal(JSON.parse(res.stdout.trim().split('\n').at(-1)!).outcome, 'succeeded');
    const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8')) as { spec: { recipe: { checkpointCells: boolean } } };
    assert.equal(state.spec.recipe.checkpointCells, true);
    const help = spawnSync(process.execPath, [bin, 'search', '--help'], { encoding: 'utf8' });
    assert.match(help.stdout, /--checkpoint-cells +recompute each cell in the backward pass/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
