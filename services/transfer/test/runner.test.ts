import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NASNET_A } from '@nasnet/search-space';
import type { TransferProgressInfo } from '@nasnet/transfer';
import { WorkerCancelledError, WorkerStartError, WorkerTaskError } from '@nasnet/workers';
import { ProcessTransferRunner, TransferWorkerExitedError, type RunnerLogLevel } from '../src/index.js';

const fake = fileURLToPath(new URL('./fixtures/fake-transfer-worker.ts', import.meta.url));
const job = (name: string) => ({ name, genotype: NASNET_A, dataset: 'synthetic' });

function hooks(signal = new AbortController().signal, backend?: string) {
  const progress: TransferProgressInfo[] = [];
  const logs: string[] = [];
  return {
    progress, logs,
    hooks: { signal, backend, onProgress: (p: TransferProgressInfo) => progress.push(p), onLog: (level: RunnerLogLevel, line: string) => logs.push(`${level}: ${line}`) },
  };
}

test('transfer runner - trains in a worker process with progress, its stdout as info and the backend it was given', async () => {
  const runner = new ProcessTransferRunner({ entry: fake });
  try {
    const h = hooks(undefined, 'wasm');
    const outcome = await runner.run(job('tiny'), h.hooks);
    assert.equal(outcome.validationAccuracy, 0.25);
    assert.deepEqual(h.progress.map((p) => p.epoch), [1, 2]);
    assert.ok(h.logs.some((l) => /^info: training process \d+ uses the wasm backend \(test fixture\)$/.test(l)), h.logs.join('\n'));
    assert.ok(h.logs.includes('info: training tiny'), h.logs.join('\n'));
  } finally {
    await runner.close();
  }
});

test('transfer runner - a transfer that names no backend gets the runner\'s default; one cancelled before start never forks', async () => {
  const runner = new ProcessTransferRunner({ entry: fake, backend: 'cpu' });
  try {
    const h = hooks();
    await runner.run(job('default'), h.hooks);
    assert.ok(h.logs.some((l) => /uses the cpu backend/.test(l)), h.logs.join('\n'));
    const abort = new AbortController();
    abort.abort();
    const cancelled = hooks(abort.signal);
    await assert.rejects(runner.run(job('never'), cancelled.hooks), WorkerCancelledError);
    assert.deepEqual(cancelled.logs, []);
  } finally {
    await runner.close();
  }
});

test('transfer runner - a process that dies fails with TransferWorkerExitedError carrying its signal and last stderr line', async () => {
  const runner = new ProcessTransferRunner({ entry: fake });
  const h = hooks();
  await assert.rejects(runner.run(job('crash'), h.hooks), (err: unknown) => {
    assert.ok(err instanceof TransferWorkerExitedError);
    assert.equal(err.signal, 'SIGKILL');
    assert.match(err.message, /exited with signal SIGKILL before reporting a result: out of memory in the fixture/);
    return true;
  });
  assert.ok(h.logs.includes('warn: out of memory in the fixture'));
  await runner.close();
});

test('transfer runner - a cancelled transfer whose process ignores the cancel is killed after killAfterMs', async () => {
  const runner = new ProcessTransferRunner({ entry: fake, killAfterMs: 100 });
  const abort = new AbortController();
  const h = hooks(abort.signal);
  const running = runner.run(job('hang'), { ...h.hooks, onLog: (level, line) => { if (line.includes('uses the')) setTimeout(() => abort.abort(), 50); } });
  await assert.rejects(running, WorkerCancelledError);
  await runner.close();
});

test('transfer runner - the real training process reports a data error under its own class name', async () => {
  const work = mkdtempSync(join(tmpdir(), 'runner-'));
  const runner = new ProcessTransferRunner();
  try {
    const missing = join(work, 'missing');
    await assert.rejects(runner.run({ genotype: NASNET_A, dataset: `cifar10:${missing}` }, hooks(undefined, 'cpu').hooks), (err: unknown) => {
      assert.ok(err instanceof WorkerTaskError);
      assert.equal(err.name, 'DatasetFileMissingError');
      assert.ok(err.message.includes(missing), err.message);
      return true;
    });
  } finally {
    await runner.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test('transfer runner - an unknown backend fails the start with the engine error named', async () => {
  const runner = new ProcessTransferRunner();
  await assert.rejects(runner.run(job('x'), hooks(undefined, 'abacus').hooks), (err: unknown) => {
    assert.ok(err instanceof WorkerStartError);
    assert.equal(err.remoteName, 'UnknownBackendError');
    assert.match(err.message, /abacus/);
    return true;
  });
  await runner.close();
});
