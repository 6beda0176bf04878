import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NASNET_A } from '@nasnet/search-space';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { LocalWorkerPool } from '../src/index.js';

const entry = fileURLToPath(new URL('./fixtures/fake-trainer.ts', import.meta.url));
const task = (childId: number, epochs = 2): ChildTask => ({
  searchId: 's', childId, genotype: NASNET_A, hash: 'h', recipe: { ...defaultRecipe(), epochs }, dataset: 'synthetic', seed: 1000 + childId, phase: 'search',
});

test('worker pool - trains tasks in parallel processes with progress', async () => {
  const ready: string[] = [];
  const pool = new LocalWorkerPool({ workers: 2, entry, onReady: (w, backend) => ready.push(`${w}:${backend}`) });
  try {
    const progress: number[] = [];
    const results = await Promise.all([1, 2, 3, 4, 5].map((id) => pool.execute(task(id), { onProgress: (p) => progress.push(p.childId) })));
    assert.deepEqual(results.map((r) => r.childId), [1, 2, 3, 4, 5]);
    assert.deepEqual(results.map((r) => r.reward), [0.001, 0.002, 0.003, 0.004, 0.005]);
    assert.equal(progress.length, 10);
    assert.deepEqual(new Set(results.map((r) => r.trainer)), new Set(['local-worker-0', 'local-worker-1']));
    assert.deepEqual(ready.sort(), ['0:fake', '1:fake']);
  } finally {
    await pool.close();
  }
});

test('worker pool - a worker killed mid-child is replaced and the child retried once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pool-'));
  const pool = new LocalWorkerPool({ workers: 1, entry, env: { CRASH_MARKER_DIR: dir } });
  try {
    const r = await pool.execute(task(13));
    assert.equal(r.status, 'ok');
    assert.equal(r.childId, 13);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('worker pool - cancel stops a running child', async () => {
  const pool = new LocalWorkerPool({ workers: 1, entry });
  try {
    const abort = new AbortController();
    const running = pool.execute(task(99, 50), { signal: abort.signal, onProgress: () => abort.abort() });
    await assert.rejects(running, /cancelled/);
    const after = await pool.execute(task(7, 1));
    assert.equal(after.childId, 7, 'the pool keeps serving after a cancel');
  } finally {
    await pool.close();
  }
});
