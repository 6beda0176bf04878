/**
 * The trainer process as a pod: it says where it connects, gives up on an
 * unreachable NATS after a bounded number of attempts with a clear message
 * and a non-zero exit, and stops on SIGTERM whatever it is doing
 * (connecting, idle, or training a child, which is handed back).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { connectBus, ensureStreams, JetStreamExecutor, NatsEventBus, type BusEvent } from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { genotypeHash, NASNET_A } from '@nasnet/search-space';
import { JETSTREAM_TRAINER_ENTRY } from '../src/index.js';
import { connectWithRetry, NatsUnreachableError, redactUrl } from '../src/jetstream-worker.js';

let server: NatsTestServer;
before(async () => { server = await startNatsServer(); });
after(async () => { await server.stop(); });

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Trainer { proc: ChildProcess; stderr(): string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; waitFor(re: RegExp): Promise<void> }

function startTrainer(env: Record<string, string>): Trainer {
  const proc = spawn(process.execPath, ['--import', 'tsx', JETSTREAM_TRAINER_ENTRY], {
    env: { ...process.env, NAS_BACKEND: 'wasm', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const waiters = new Set<() => void>();
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => { err += s; for (const w of waiters) w(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => { for (const w of waiters) w(); resolve({ code, signal }); }));
  after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  return {
    proc, exited, stderr: () => err,
    waitFor: (re) => new Promise((resolve, reject) => {
      const check = () => {
        if (re.test(err)) { waiters.delete(check); resolve(); } else if (proc.exitCode !== null || proc.signalCode !== null) { waiters.delete(check); reject(new Error(`trainer exited before printing ${re}:\n${err}`)); }
      };
      waiters.add(check);
      check();
    }),
  };
}

test('trainer pod - with NATS unreachable it logs where it connects, retries a bounded number of times, and exits 1 naming the server', async () => {
  const url = `nats://127.0.0.1:${await closedPort()}`;
  const t = startTrainer({ NATS_URL: url, TRAINER_ID: 'pod-unreachable', NATS_CONNECT_ATTEMPTS: '3', NATS_CONNECT_DELAY_MS: '50' });
  const { code } = await t.exited;
  assert.equal(code, 1, t.stderr());
  const log = t.stderr();
  for (const n of [1, 2, 3]) assert.match(log, new RegExp(`connecting to NATS at ${url} \\(attempt ${n} of 3\\)`));
  assert.doesNotMatch(log, /attempt 4/);
  assert.match(log, new RegExp(`NATS at ${url} is unreachable: 3 connection attempts failed, the last with: .+; exiting`));
});

test('trainer pod - SIGTERM while it is still trying to reach NATS ends it at once with exit 0', async () => {
  const url = `nats://127.0.0.1:${await closedPort()}`;
  const t = startTrainer({ NATS_URL: url, TRAINER_ID: 'pod-connecting', NATS_CONNECT_ATTEMPTS: '1000', NATS_CONNECT_DELAY_MS: '5000' });
  await t.waitFor(/not reachable .*attempt 2 in 5000 ms/);
  t.proc.kill('SIGTERM');
  const { code } = await t.exited;
  assert.equal(code, 0, t.stderr());
  assert.match(t.stderr(), /SIGTERM before training started, exiting/);
  assert.doesNotMatch(t.stderr(), /attempt 2 of/, 'it did not wait for the next attempt');
});

test('trainer pod - SIGTERM while idle (connected, no child) stops it with exit 0', async () => {
  const t = startTrainer({ NATS_URL: server.url, TRAINER_ID: 'pod-idle' });
  await t.waitFor(/trainer pod-idle: waiting for children/);
  assert.match(t.stderr(), new RegExp(`connected to NATS at ${server.url}`));
  t.proc.kill('SIGTERM');
  const { code } = await t.exited;
  assert.equal(code, 0, t.stderr());
  assert.match(t.stderr(), /stopped after \{"trained":0,"failed":0,"retried":0,"cancelled":0,"handedBack":0\}/);
});

test('trainer pod - SIGTERM while training hands the child back and exits 0; another trainer finishes it', async () => {
  const bus = await connectBus(server.url, { name: 'pod-test', log: () => {} });
  await ensureStreams(bus.jsm);
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const attempts: BusEvent[] = [];
  const sub = await new NatsEventBus(bus).subscribe((e) => { if (e.kind === 'child_attempt') attempts.push(e); }, { searchId: 'pod-sigterm' });
  try {
    // Many steps of a small child: still training when SIGTERM comes (the second trainer runs all of them).
    const task: ChildTask = {
      searchId: 'pod-sigterm', childId: 1, genotype: NASNET_A, hash: genotypeHash(NASNET_A), dataset: 'synthetic', seed: 4, phase: 'search',
      recipe: { ...defaultRecipe(), epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, maxStepsPerEpoch: 40, trainLimit: 320, validationLimit: 16 },
    };
    const first = startTrainer({ NATS_URL: server.url, TRAINER_ID: 'pod-busy', ACK_WAIT_MS: '5000', HEARTBEAT_MS: '500' });
    const result = executor.execute(task, {});
    await first.waitFor(/waiting for children/);
    while (!attempts.some((e) => e.kind === 'child_attempt' && e.trainer === 'pod-busy')) await new Promise((r) => setTimeout(r, 50));
    first.proc.kill('SIGTERM');
    const { code } = await first.exited;
    assert.equal(code, 0, first.stderr());
    assert.match(first.stderr(), /"handedBack":1/, 'the child was handed back, not finished or dropped');

    const second = startTrainer({ NATS_URL: server.url, TRAINER_ID: 'pod-next', ACK_WAIT_MS: '5000', HEARTBEAT_MS: '500' });
    const r = await result;
    assert.equal(r.status, 'ok', `${r.status}: ${r.reason ?? ''}\n${second.stderr()}`);
    assert.equal(r.trainer, 'pod-next');
    second.proc.kill('SIGTERM');
    assert.equal((await second.exited).code, 0, second.stderr());
  } finally {
    await sub.close();
    await executor.close();
    await bus.nc.close();
  }
});

test('trainer pod - connectWithRetry doubles its wait up to the cap and keeps credentials out of its messages', async () => {
  const lines: string[] = [];
  let calls = 0;
  const connection = await connectWithRetry({
    url: 'nats://trainer:s3cret@nats:4222', attempts: 5, firstDelayMs: 1, maxDelayMs: 4, who: 'trainer t', log: (l) => lines.push(l),
    connect: async () => { calls++; if (calls < 4) throw new Error(`refused #${calls}`); return 'conn'; },
  });
  assert.equal(connection, 'conn');
  assert.equal(calls, 4);
  assert.deepEqual(lines.filter((l) => l.includes('not reachable')).map((l) => l.replace(/.*; /, '')), ['attempt 2 in 1 ms', 'attempt 3 in 2 ms', 'attempt 4 in 4 ms']);
  assert.ok(lines.every((l) => !l.includes('s3cret')), lines.join('\n'));
  assert.match(lines.at(-1)!, /connected to NATS at nats:\/\/\*\*\*@nats:4222/);
  assert.equal(redactUrl('nats://a:b@h1:4222,nats://c:d@h2:4222'), 'nats://***@h1:4222,nats://***@h2:4222');

  await assert.rejects(connectWithRetry({ url: 'nats://x:1', attempts: 2, firstDelayMs: 1, who: 't', log: () => {}, connect: () => Promise.reject(new Error('ECONNREFUSED')) }),
    (e: unknown) => e instanceof NatsUnreachableError && e.attempts === 2 && /ECONNREFUSED/.test(e.message));

  const stop = new AbortController();
  let closed = 0;
  const never = connectWithRetry<string>({ url: 'nats://x:1', attempts: 3, firstDelayMs: 1, who: 't', log: () => {}, signal: stop.signal,
    connect: () => new Promise<string>((resolve) => setTimeout(() => resolve('late'), 50)), close: async () => { closed++; } });
  stop.abort();
  assert.equal(await never, undefined, 'an abort ends the wait for a connection');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed, 1, 'the connection that arrived after the abort is closed');
});
