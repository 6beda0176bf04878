import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  WorkerCancelledError, WorkerClosedError, WorkerCrashedError, WorkerPool, WorkerProcess, WorkerStartError, WorkerTaskError,
} from '../src/index.js';
import type { TestProgress, TestResult, TestSettings, TestTask } from './fixtures/tasks.js';

const entry = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
const describeTask = (t: TestTask) => `test task ${t.id}`;
const pool = (options: { workers?: number; retries?: number; killAfterMs?: number; settings?: TestSettings } = {}) =>
  new WorkerPool<TestTask, TestProgress, TestResult, TestSettings>({ entry, describeTask, settings: { tag: 't' }, ...options });

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'workers-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

test('worker pool - does tasks in parallel processes with progress, settings and worker index', async () => {
  const ready: string[] = [];
  const p = new WorkerPool<TestTask, TestProgress, TestResult, TestSettings>({
    entry, workers: 2, settings: { tag: 'seven' }, onReady: (w, backend, reason) => ready.push(`${w}:${backend}:${reason}`),
  });
  try {
    const progress: string[] = [];
    const results = await Promise.all([1, 2, 3, 4, 5].map((id) => p.execute({ id, steps: 2 }, { onProgress: (q) => progress.push(`${q.id}.${q.step}`) })));
    assert.deepEqual(results.map((r) => r.value), [10, 20, 30, 40, 50]);
    assert.deepEqual(results.map((r) => r.tag), ['seven', 'seven', 'seven', 'seven', 'seven']);
    assert.deepEqual(progress.sort(), ['1.1', '1.2', '2.1', '2.2', '3.1', '3.2', '4.1', '4.2', '5.1', '5.2']);
    assert.deepEqual(new Set(results.map((r) => r.worker)), new Set([0, 1]));
    assert.deepEqual(ready.sort(), ['0:fake:seven', '1:fake:seven']);
  } finally {
    await p.close();
  }
});

test('worker pool - a worker killed mid-task is replaced and the task retried once', async () => {
  using tmp = tempDir();
  const p = pool({ workers: 1 });
  try {
    const r = await p.execute({ id: 13, steps: 1, crash: 'crash-once', dir: tmp.dir });
    assert.equal(r.value, 130);
    assert.equal((await p.execute({ id: 2, steps: 1 })).value, 20, 'the replacement keeps serving');
  } finally {
    await p.close();
  }
});

test('worker pool - a task that kills every worker fails with WorkerCrashedError naming the signal and the last stderr line', async () => {
  using tmp = tempDir();
  const p = pool({ workers: 1, retries: 1 });
  try {
    await assert.rejects(p.execute({ id: 66, steps: 1, crash: 'crash', dir: tmp.dir }), (err: unknown) => {
      assert.ok(err instanceof WorkerCrashedError);
      assert.equal(err.signal, 'SIGKILL');
      assert.equal(err.worker, 0);
      assert.match(err.message, /worker 0 exited with signal SIGKILL while working on test task 66 \(about to crash on task 66\)/);
      return true;
    });
    assert.equal((await p.execute({ id: 3, steps: 1 })).value, 30);
  } finally {
    await p.close();
  }
});

test('worker pool - cancel stops a running task and the pool keeps serving', async () => {
  const p = pool({ workers: 1 });
  try {
    const abort = new AbortController();
    const running = p.execute({ id: 99, steps: 50, delayMs: 100 }, { signal: abort.signal, onProgress: () => abort.abort(new Error('user')) });
    await assert.rejects(running, (err: unknown) => err instanceof WorkerCancelledError && /test task 99 cancelled while running/.test(err.message));
    assert.equal((await p.execute({ id: 7, steps: 1 })).value, 70);
  } finally {
    await p.close();
  }
});

test('worker pool - a queued task cancelled before its turn never runs', async () => {
  const p = pool({ workers: 1 });
  try {
    const abort = new AbortController();
    const started: number[] = [];
    const first = p.execute({ id: 1, steps: 3, delayMs: 30 }, { onProgress: (q) => started.push(q.id) });
    const queued = p.execute({ id: 2, steps: 1 }, { signal: abort.signal, onProgress: (q) => started.push(q.id) });
    abort.abort();
    await assert.rejects(queued, (err: unknown) => err instanceof WorkerCancelledError && /before start/.test(err.message));
    assert.equal((await first).value, 10);
    assert.deepEqual(started, [1, 1, 1]);
  } finally {
    await p.close();
  }
});

test('worker pool - a worker that ignores cancel is killed after killAfterMs and replaced', async () => {
  const p = pool({ workers: 1, killAfterMs: 50 });
  try {
    const abort = new AbortController();
    const running = p.execute({ id: 5, steps: 10_000, delayMs: 100, ignoreCancel: true }, { signal: abort.signal, onProgress: () => abort.abort() });
    await assert.rejects(running, (err: unknown) => err instanceof WorkerCancelledError && err.cause instanceof WorkerCrashedError && err.cause.signal === 'SIGKILL');
    assert.equal((await p.execute({ id: 8, steps: 1 })).value, 80);
  } finally {
    await p.close();
  }
});

test('worker pool - close rejects queued tasks with WorkerClosedError', async () => {
  const p = pool({ workers: 1 });
  const running = assert.rejects(p.execute({ id: 1, steps: 100, delayMs: 20 }), WorkerClosedError);
  const queued = assert.rejects(p.execute({ id: 2, steps: 1 }), WorkerClosedError);
  await p.close();
  await queued;
  await running;
  await assert.rejects(p.execute({ id: 3, steps: 1 }), WorkerClosedError);
});

test('worker process - an error thrown by the work keeps its class name and message', async () => {
  const proc = new WorkerProcess<TestTask, TestProgress, TestResult, TestSettings>({ entry, settings: { tag: 'x' } });
  try {
    await assert.rejects(proc.run({ id: 4, steps: 1, fail: true }), (err: unknown) => {
      assert.ok(err instanceof WorkerTaskError);
      assert.equal(err.name, 'UnreadableFixtureError');
      assert.equal(err.message, 'task 4 failed');
      return true;
    });
    assert.equal((await proc.run({ id: 6, steps: 1 })).value, 60, 'a failed task leaves the process usable');
  } finally {
    await proc.close();
  }
});

test('worker process - a start function that throws rejects the task with WorkerStartError', async () => {
  const proc = new WorkerProcess<TestTask, TestProgress, TestResult, TestSettings>({ entry, settings: { tag: 'quantum', failStart: true } });
  try {
    await assert.rejects(proc.run({ id: 1, steps: 1 }), (err: unknown) => {
      assert.ok(err instanceof WorkerStartError);
      assert.equal(err.remoteName, 'UnreadableFixtureError');
      assert.match(err.message, /worker 0 could not start: UnreadableFixtureError: no such backend: quantum/);
      return true;
    });
  } finally {
    await proc.close();
  }
  assert.equal(proc.alive, false);
});

test('worker process - a module that is not a worker fails the task with its stderr', async () => {
  using tmp = tempDir();
  const proc = new WorkerProcess<TestTask, TestProgress, TestResult, TestSettings>({ entry: join(tmp.dir, 'missing.ts'), settings: { tag: 'x' } });
  await assert.rejects(proc.run({ id: 1, steps: 1 }), (err: unknown) => {
    assert.ok(err instanceof WorkerCrashedError);
    assert.match(err.message, /exited with code 1 while starting \(before task 1\)/);
    assert.match(err.stderrTail, /missing\.ts|Cannot find module/);
    return true;
  });
});
