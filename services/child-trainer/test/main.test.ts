import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connectBus, ensureStreams, JetStreamExecutor, NatsEventBus, type BusEvent } from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { genotypeHash, NASNET_A } from '@nasnet/search-space';
import { JETSTREAM_TRAINER_ENTRY } from '../src/index.js';

let server: NatsTestServer;
before(async () => { server = await startNatsServer(); });
after(async () => { await server.stop(); });

test('trainer process - trains a real child from the queue, reports, and exits cleanly on SIGTERM', async () => {
  const bus = await connectBus(server.url, { name: 'main-test', log: () => {} });
  await ensureStreams(bus.jsm);
  const child = spawn(process.execPath, ['--import', 'tsx', JETSTREAM_TRAINER_ENTRY], {
    env: { ...process.env, NATS_URL: server.url, TRAINER_ID: 'proc-1', NAS_BACKEND: 'wasm', ACK_WAIT_MS: '5000', HEARTBEAT_MS: '500' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { stderr += s; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const heartbeats: BusEvent[] = [];
  const sub = await new NatsEventBus(bus).subscribe((e) => heartbeats.push(e), { searchId: 'system' });
  try {
    // NASNet-A at 4 filters, one cell per stack, 2 steps of 8 synthetic 8x8 images: seconds on wasm.
    const task: ChildTask = {
      searchId: 'proc', childId: 1, genotype: NASNET_A, hash: genotypeHash(NASNET_A), dataset: 'synthetic', seed: 3, phase: 'search',
      recipe: { ...defaultRecipe(), epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, maxStepsPerEpoch: 2, trainLimit: 16, validationLimit: 16 },
    };
    const progress: number[] = [];
    const r = await executor.execute(task, { onProgress: (p) => progress.push(p.epoch) });
    assert.equal(r.status, 'ok', `${r.status}: ${r.reason ?? ''}\n${stderr}`);
    assert.equal(r.trainer, 'proc-1');
    assert.equal(r.validationByEpoch.length, 1);
    assert.ok(r.reward >= 0 && r.reward <= 1);
    assert.ok(r.paramCount > 0 && r.multAdds > 0);
    assert.ok(progress.length > 0, 'progress arrived');
    assert.ok(heartbeats.some((e) => e.kind === 'trainer_heartbeat' && e.trainer === 'proc-1'), 'heartbeats arrived');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /backend wasm/);
    assert.match(stderr, /SIGTERM/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await sub.close();
    await executor.close();
    await bus.nc.close();
  }
});

test('trainer process - with TRAINER_STDIN_LIFELINE it stops when the process that started it is gone (its standard input closes)', { timeout: 120_000 }, async () => {
  const bus = await connectBus(server.url, { name: 'lifeline-test', log: () => {} });
  await ensureStreams(bus.jsm);
  const child = spawn(process.execPath, ['--import', 'tsx', JETSTREAM_TRAINER_ENTRY], {
    env: { ...process.env, NATS_URL: server.url, TRAINER_ID: 'lifeline-1', NAS_BACKEND: 'cpu', HEARTBEAT_MS: '200', TRAINER_STDIN_LIFELINE: 'true' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { stderr += s; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const sub = await new NatsEventBus(bus).subscribe(() => {}, { searchId: 'system' });
  try {
    // In its loop (a heartbeat came), the starter goes away: the OS closes the pipe's writing end, as here.
    const beat = new Promise<void>((resolve) => {
      void new NatsEventBus(bus).subscribe((e) => { if (e.kind === 'trainer_heartbeat' && e.trainer === 'lifeline-1') resolve(); }, { searchId: 'system' });
    });
    await beat;
    child.stdin!.destroy();
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /the process that started it is gone/);
    assert.match(stderr, /stopped after/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await sub.close();
    await bus.nc.close();
  }
});
