import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { LocalProcessLauncher, TrainerSpawnError, type LaunchHandle, type LaunchStatus } from '@nasnet/launcher';

const FAKE_MJS = fileURLToPath(new URL('./fixtures/fake-trainer.mjs', import.meta.url));
const FAKE_TS = fileURLToPath(new URL('./fixtures/fake-trainer.ts', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function outDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nasnet-launcher-'));
  dirs.push(d);
  return d;
}

/** Resolves with the first status that is done, collecting every status seen. */
function untilDone(handle: LaunchHandle, seen: LaunchStatus[] = []): Promise<LaunchStatus> {
  return new Promise((resolve) => {
    const stop = handle.watch((s) => {
      seen.push(s);
      if (s.done) {
        queueMicrotask(() => stop());
        resolve(s);
      }
    });
  });
}

async function waitForFiles(dir: string, suffix: string, count: number, timeoutMs = 10_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const files = readdirSync(dir).filter((f) => f.endsWith(suffix)).sort();
    if (files.length >= count) return files;
    if (Date.now() > end) throw new Error(`timed out waiting for ${count} ${suffix} files in ${dir}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function fastLauncher(out: string, mode: string, extra: Partial<ConstructorParameters<typeof LocalProcessLauncher>[0]> = {}): LocalProcessLauncher {
  return new LocalProcessLauncher({ entry: FAKE_MJS, execArgv: [], stdio: 'ignore', natsUrl: 'nats://127.0.0.1:4999', env: { FAKE_OUT: out, FAKE_MODE: mode, FROM_OPTIONS: 'yes' }, ...extra });
}

test('local launcher - starts N trainers with the search environment (and nothing of its own) and reports success', async () => {
  const out = outDir();
  // A variable of the launching process: trainers get only what the launch names.
  process.env.LAUNCHER_PARENT_ONLY = 'leaked';
  const handle = await fastLauncher(out, 'succeed').launch({ searchId: 'local-1', trainers: 3, gpusPerTrainer: 0, backend: 'cpu', env: { EXTRA_FLAG: 'on' } });
  delete process.env.LAUNCHER_PARENT_ONLY;
  assert.match(handle.id, /^local\/local-1#\d+$/);
  const seen: LaunchStatus[] = [];
  const final = await untilDone(handle, seen);
  assert.deepEqual(final, { active: 0, succeeded: 3, failed: 0, done: true, outcome: 'succeeded', reason: 'Complete' });
  assert.deepEqual(await handle.status(), final);
  const records = readdirSync(out).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')));
  assert.deepEqual(records.map((r) => r.TRAINER_ID), ['local-local-1-0', 'local-local-1-1', 'local-local-1-2']);
  for (const r of records) {
    // No CPU request: the 3 trainers share this machine's cores (at least one thread each).
    const cpu = String(Math.max(1, Math.floor(availableParallelism() / 3)));
    assert.deepEqual({ ...r, TRAINER_ID: undefined }, { SEARCH_ID: 'local-1', TRAINER_ID: undefined, TRAINER_STDIN_LIFELINE: 'true', NATS_URL: 'nats://127.0.0.1:4999', NAS_BACKEND: 'cpu', POD_CPU_REQUEST: cpu, EXTRA_FLAG: 'on', FROM_OPTIONS: 'yes' });
  }
  // Statuses only move forward: succeeded never decreases, done comes last.
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.succeeded >= seen[i - 1]!.succeeded);
  assert.equal(seen.filter((s) => s.done).length, 1);
});

test('local launcher - replaces failed trainers until the failure budget is spent', async () => {
  const out = outDir();
  const handle = await fastLauncher(out, 'fail', { backoffLimit: 2 }).launch({ searchId: 'local-2', trainers: 1, gpusPerTrainer: 0 });
  const final = await untilDone(handle);
  assert.deepEqual(final, { active: 0, succeeded: 0, failed: 3, done: true, outcome: 'failed', reason: 'BackoffLimitExceeded' });
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.json')).sort(), ['local-local-2-0.json', 'local-local-2-1.json', 'local-local-2-2.json']);
});

test('local launcher - stop sends SIGTERM and the trainers exit', async () => {
  const out = outDir();
  const handle = await fastLauncher(out, 'wait').launch({ searchId: 'local-3', trainers: 2, gpusPerTrainer: 0 });
  await waitForFiles(out, '.json', 2);
  assert.deepEqual(await handle.status(), { active: 2, succeeded: 0, failed: 0, done: false });
  await handle.stop();
  assert.deepEqual(await waitForFiles(out, '.term', 2), ['local-local-3-0.term', 'local-local-3-1.term']);
  assert.deepEqual(await handle.status(), { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Stopped' });
  await handle.stop(); // again: harmless
});

test('local launcher - stop escalates to SIGKILL after the grace period', async () => {
  const out = outDir();
  const handle = await fastLauncher(out, 'stubborn', { stopGraceMs: 300 }).launch({ searchId: 'local-4', trainers: 1, gpusPerTrainer: 0 });
  await waitForFiles(out, '.json', 1);
  const t0 = Date.now();
  await handle.stop();
  const ms = Date.now() - t0;
  assert.ok(ms >= 290 && ms < 5000, `stop took ${ms} ms`);
  assert.deepEqual(await handle.status(), { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Stopped' });
});

test('local launcher - the deadline stops the trainers', async () => {
  const out = outDir();
  const handle = await fastLauncher(out, 'wait').launch({ searchId: 'local-5', trainers: 1, gpusPerTrainer: 0, deadlineSeconds: 1 });
  const final = await untilDone(handle);
  assert.deepEqual(final, { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'failed', reason: 'DeadlineExceeded' });
  assert.deepEqual(await waitForFiles(out, '.term', 1), ['local-local-5-0.term']);
});

test('local launcher - runs a TypeScript entry through tsx by default', async () => {
  const out = outDir();
  const launcher = new LocalProcessLauncher({ entry: FAKE_TS, stdio: 'ignore', env: { FAKE_OUT: out, FAKE_MODE: 'succeed' } });
  const final = await untilDone(await launcher.launch({ searchId: 'ts', trainers: 1, gpusPerTrainer: 0 }));
  assert.equal(final.outcome, 'succeeded');
  assert.equal(JSON.parse(readFileSync(join(out, 'local-ts-0.json'), 'utf8')).SEARCH_ID, 'ts');
});

test('local launcher - a missing entry is a TrainerSpawnError naming the file', async () => {
  const missing = join(outDir(), 'no-such-trainer.ts');
  await assert.rejects(new LocalProcessLauncher({ entry: missing }).launch({ searchId: 'm', trainers: 1, gpusPerTrainer: 0 }), (e: unknown) => e instanceof TrainerSpawnError && e.message === `could not start local trainer local-m-0 (${missing})` && (e.cause as NodeJS.ErrnoException).code === 'ENOENT');
  const badCwd = new LocalProcessLauncher({ entry: FAKE_MJS, execArgv: [], cwd: join(outDir(), 'missing-dir') });
  await assert.rejects(badCwd.launch({ searchId: 'c', trainers: 1, gpusPerTrainer: 0 }), (e: unknown) => e instanceof TrainerSpawnError && /local-c-0/.test(e.message));
});
