/**
 * NATS users with per-service permissions (natsPermissions in @nasnet/bus):
 * the controller, a trainer and the metrics service each connect with their
 * own credentials to a real nats-server and a small search completes
 * without a single permission violation, and the transfer service keeps its
 * transfers in its own bucket; then each role is refused what it
 * must not do. And k8s/base/nats/nats.conf is exactly what natsAuthConfig()
 * renders.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import {
  connectBus, encodeChildTask, ensureStreams, KvStateStore, natsAuthConfig, natsPasswordVariables, natsPermissions,
  NATS_PASSWORD_VARIABLES, NATS_ROLES, NatsAuthConfigError, type BusConnection,
} from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { runTrainerLoop } from '@nasnet/child-trainer';
import { runController, type StoredSearch } from '@nasnet/controller-service';
import { runMetricsService } from '@nasnet/metrics-service';
import * as pb from '@nasnet/proto';
import { runTransferService } from '@nasnet/transfer-service';
import { NASNET_A } from '@nasnet/search-space';
import { fakeTrain, syntheticReward } from './support/fake-train.js';
import { ROOT } from './support/processes.js';

const PASSWORDS = { controller: 'ctl-Pw-0001', trainer: 'trn-Pw-0002', metrics: 'met-Pw-0003', transfer: 'xfr-Pw-0004' };
const quiet = () => {};

const nats = await startNatsServer({ config: natsAuthConfig(PASSWORDS) });
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await nats.stop();
});

function violations(): string[] {
  return nats.log().split('\n').filter((l) => /Violation/.test(l));
}

async function connectAs(role: keyof typeof PASSWORDS, name: string): Promise<BusConnection> {
  const bus = await connectBus(nats.url, { name, user: role, pass: PASSWORDS[role], log: quiet, apiTimeoutMs: 5000, waitOnFirstConnect: false });
  closers.push(() => bus.close());
  return bus;
}

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let searchId = '';

test('nats auth - controller, trainers and metrics, each with its own user, finish a search without a permission violation', { timeout: 120_000 }, async () => {
  const controllerLog: string[] = [];
  const controller = await runController({
    nats: { url: nats.url, user: 'controller', pass: PASSWORDS.controller },
    host: '127.0.0.1', grpcPort: 0, httpPort: -1, launcher: 'none', queueEveryMs: 200, log: (l) => controllerLog.push(l),
  });
  closers.push(() => controller.close());

  // A trainer process starts the way main.ts does: ensureStreams, which it may only check, not change.
  const trainerBus = await connectAs('trainer', 'trainer-auth');
  const report = await ensureStreams(trainerBus.jsm);
  assert.deepEqual(Object.values(report), Array(6).fill('unchanged'), 'the controller made the streams; the trainer only checks them');
  const stop = new AbortController();
  const started: number[] = [];
  const train = fakeTrain({ delayMs: () => 30, onStart: (task) => started.push(task.childId) });
  // The first attempt of the first task fails: its redelivery takes the trainer's retry path too.
  let crashed = false;
  const loops = ['trainer-1', 'trainer-2'].map((trainerId) => runTrainerLoop({
    bus: trainerBus, trainerId, signal: stop.signal, heartbeatMs: 300, log: quiet, retryDelayMs: () => 10,
    train: (task, hooks) => {
      if (crashed) return train(task, hooks);
      crashed = true;
      return Promise.reject(new Error('simulated crash of a first attempt'));
    },
  }));
  closers.push(async () => { stop.abort(); await Promise.allSettled(loops); });

  const metrics = await runMetricsService({ natsUrl: nats.url, natsUser: 'metrics', natsPass: PASSWORDS.metrics, port: 0, host: '127.0.0.1', log: quiet });
  closers.push(() => metrics.close());
  await metrics.subscribed;

  const submitted = await controller.manager.submit({ name: 'auth', dataset: 'synthetic', strategy: 'random', seed: 5, budget: { architectures: 6, concurrency: 2 } });
  searchId = submitted.id;
  const done = await controller.manager.finished(searchId);
  assert.equal(done.runState, 'succeeded', `${done.message ?? ''}\n${controllerLog.join('\n')}`);
  const entries = done.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
  assert.equal(entries.length, 6);
  for (const e of entries) {
    assert.equal(e.result?.status, 'ok', `child ${e.childId}: ${e.result?.reason ?? ''}`);
    assert.equal(e.result!.reward, syntheticReward(e.genotype), `child ${e.childId} got its own reward`);
    assert.match(e.result!.trainer ?? '', /^trainer-[12]$/);
  }
  assert.deepEqual([...started].sort((a, b) => a - b), entries.map((e) => e.childId), 'each child trained once');

  // Metrics read every event with the metrics user.
  await until('the metrics service to count 6 children', async () => {
    const text = await (await fetch(`${metrics.url}/metrics`)).text();
    return text.includes(`nasnet_children_trained_total{search="${searchId}"} 6`);
  });
  // Queue gauges (controller: consumer info) and heartbeats (trainers) flowed too.
  await until('a queue event and trainer heartbeats', async () => {
    const text = await (await fetch(`${metrics.url}/metrics`)).text();
    return /^nasnet_queue_depth(\{[^}]*\})? \d/m.test(text) && /^nasnet_trainers_active(\{[^}]*\})? [1-9]/m.test(text);
  });

  stop.abort();
  const stats = await Promise.all(loops);
  assert.equal(stats.reduce((n, s) => n + s.trained, 0), 6);
  assert.equal(stats.reduce((n, s) => n + s.retried, 0), 1, 'one child went round the retry path');
  assert.deepEqual(violations(), [], 'no role needed a subject it is not allowed');
});

test('nats auth - the transfer user keeps its transfers in its own bucket, reads search states and writes nothing else', async () => {
  assert.ok(searchId, 'the search test ran first');
  const transferConfig = { nats: { url: nats.url, user: 'transfer', pass: PASSWORDS.transfer }, host: '127.0.0.1', port: 0, tokens: [], maxConcurrent: 1 };
  // The runner trains nothing (the bus is under test): it answers at once with a result.
  const runner = {
    run: async () => ({
      cells: 1, filters: 24, initialFilters: 4, paramCount: 10, multAdds: 20, testAccuracy: 0.5, validationAccuracy: 0.5, validationByEpoch: [0.5],
      exportPath: null, trainSeconds: 0, steps: 1, imagesPerSec: 1, trainedBy: 'trainChild' as const, checkpointCells: false,
    }),
    close: async () => {},
  };
  // The first start creates nas_transfers; the transfer is stored, listed and read back by a second service.
  const first = await runTransferService(transferConfig, { runner, log: quiet });
  closers.push(() => first.close());
  const spec = pb.TransferSpec.fromPartial({
    name: 'auth', source: { $case: 'genotype', value: pb.genotypeToProto(NASNET_A) }, size: { $case: 'fixed', value: { cells: 1, filters: 24 } },
    dataset: 'synthetic', recipe: { epochs: 1, batchSize: 8 },
  });
  const { transferId } = await first.manager.start({ spec, requestId: 'auth-transfer' });
  await until('the transfer to succeed', async () => (await first.manager.get(transferId)).state === pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  await first.close();
  const second = await runTransferService(transferConfig, { runner, log: quiet });
  closers.push(() => second.close());
  assert.equal((await second.manager.get(transferId)).state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  assert.equal((await second.manager.start({ spec, requestId: 'auth-transfer' })).transferId, transferId);
  assert.deepEqual(violations(), [], 'the transfer service needed no subject it is not allowed');

  const bus = await connectAs('transfer', 'transfer-auth');
  const store = await KvStateStore.open<StoredSearch>(bus);
  assert.equal((await store.get(searchId))?.runState, 'succeeded');
  await assert.rejects(store.put('forged', { id: 'forged' } as StoredSearch), /Permissions Violation for Publish to "\$KV\.nas_searches\.forged"/);
  await assert.rejects(bus.js.publish('nas.events.system', new TextEncoder().encode('{}')), /Permissions Violation for Publish to "nas\.events\.system"/);
  await assert.rejects(new Kvm(bus.js).create('nas_other', { history: 1 }), /Permissions Violation for Publish to "\$JS\.API\.STREAM\.(INFO|CREATE)\.KV_nas_other"/);
});

test('nats auth - a trainer cannot queue tasks, touch the search states, write cancel markers or read the controller\'s replies', async () => {
  const bus = await connectAs('trainer', 'trainer-denials');
  const task = encodeChildTask({
    searchId: 'forged', childId: 1, genotype: NASNET_A, hash: 'h', dataset: 'synthetic', seed: 1, phase: 'search',
    recipe: { epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, learningRate: 0.1, momentum: 0.9, weightDecay: 0, dropPathKeepProb: 1, auxHead: false, gradientClipNorm: 5, maxStepsPerEpoch: 1, trainLimit: 0, validationLimit: 0, checkpointCells: false },
  });
  await assert.rejects(bus.js.publish('nas.tasks.x', task.data), /Permissions Violation for Publish to "nas\.tasks\.x"/);
  const searches = await new Kvm(bus.js).open('nas_searches');
  await assert.rejects(searches.put(searchId || 'x', '{}'), /Permissions Violation for Publish to "\$KV\.nas_searches\./);
  await assert.rejects(searches.get(searchId || 'x'), /Permissions Violation for Publish to "\$JS\.API\.STREAM\.MSG\.GET\.KV_nas_searches"/);
  const cancels = await new Kvm(bus.js).open('nas_cancels');
  await assert.rejects(cancels.put('s1', 'stop'), /Permissions Violation for Publish to "\$KV\.nas_cancels\.s1"/);
  await assert.rejects(bus.jsm.streams.delete('NAS_TASKS'), /Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.NAS_TASKS"/);
  // Another service's inbox: the subscription is refused and closed.
  const sub = bus.nc.subscribe('_INBOX.controller.>');
  const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still open'), 5000))]);
  assert.match(String(closed), /Permissions Violation for Subscription to "_INBOX\.controller\.>"/);
  // The tasks stream holds none of the forged task.
  assert.equal((await (await connectAs('controller', 'ctl-check')).jsm.streams.info('NAS_TASKS')).state.messages, 0);
});

test('nats auth - metrics cannot publish results or events, only read', async () => {
  const bus = await connectAs('metrics', 'metrics-denials');
  await assert.rejects(bus.js.publish('nas.results.s.1', new Uint8Array([1])), /Permissions Violation for Publish to "nas\.results\.s\.1"/);
  await assert.rejects(bus.js.publish('nas.events.s', new TextEncoder().encode('{}')), /Permissions Violation for Publish to "nas\.events\.s"/);
  await assert.rejects(bus.jsm.consumers.info('NAS_TASKS', 'trainers'), /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.NAS_TASKS\.trainers"/);
});

test('nats auth - a wrong password or an unknown user is refused', async () => {
  for (const [user, pass] of [['trainer', 'wrong'], ['controller', PASSWORDS.trainer], ['admin', 'x']] as const) {
    await assert.rejects(
      connectBus(nats.url, { name: 'intruder', user, pass, log: quiet, waitOnFirstConnect: false }),
      (err: Error) => err.name === 'AuthorizationError' && /Authorization Violation/.test(err.message),
      `${user} with a wrong password`,
    );
  }
  await assert.rejects(connectBus(nats.url, { name: 'anonymous', log: quiet, waitOnFirstConnect: false }), /Authorization Violation/);
});

test('nats auth - natsAuthConfig() renders a config nats-server accepts, each password from its variable, and refuses to start without one', () => {
  // k8s/base/nats/nats.conf has no users (JWT users, test/nats-scoped.test.ts); this block serves servers without an operator (tests, local runs).
  const block = natsAuthConfig(natsPasswordVariables());
  for (const role of NATS_ROLES) assert.ok(block.includes(`password: $${NATS_PASSWORD_VARIABLES[role]}`));
  const deployed = readFileSync(join(ROOT, 'k8s/base/nats/nats.conf'), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
  assert.doesNotMatch(deployed, /authorization\s*\{|password/, 'the deployed server has no password users');

  const dir = mkdtempSync(join(tmpdir(), 'nats-auth-conf-'));
  try {
    const file = join(dir, 'nats.conf');
    writeFileSync(file, block);
    const env = { ...process.env, ...Object.fromEntries(NATS_ROLES.map((r) => [NATS_PASSWORD_VARIABLES[r], `p${r}0123456789abcdef`])) };
    const ok = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8', env });
    assert.equal(ok.status, 0, `nats-server -t: ${ok.stderr}`);
    // Without the variables the server refuses to start rather than run without passwords.
    const missing = { ...env };
    delete missing.NATS_TRAINER_PASSWORD;
    const refused = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8', env: missing });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /NATS_TRAINER_PASSWORD/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nats auth - permissions are least privilege by construction: who may queue, answer, write state and read events', () => {
  const p = natsPermissions();
  const may = (role: keyof typeof p, subject: string) => p[role].publish.some((allow) => matches(allow, subject));
  assert.ok(may('controller', 'nas.tasks.s1') && !may('trainer', 'nas.tasks.s1') && !may('metrics', 'nas.tasks.s1') && !may('transfer', 'nas.tasks.s1'));
  assert.ok(may('trainer', 'nas.results.s1.3') && !may('controller', 'nas.results.s1.3') && !may('metrics', 'nas.results.s1.3'));
  assert.ok(may('controller', '$KV.nas_searches.s1') && !may('trainer', '$KV.nas_searches.s1') && !may('transfer', '$KV.nas_searches.s1'));
  assert.ok(may('transfer', '$KV.nas_transfers.transfer-1') && !may('controller', '$KV.nas_transfers.transfer-1') && !may('trainer', '$KV.nas_transfers.transfer-1'));
  assert.ok(may('controller', '$KV.nas_cancels.s1') && !may('trainer', '$KV.nas_cancels.s1'));
  assert.ok(may('trainer', '$JS.ACK.NAS_TASKS.trainers.1.2.3.4.5') && !may('trainer', '$JS.ACK.NAS_RESULTS.x.1'));
  for (const role of NATS_ROLES) {
    assert.ok(!p[role].publish.some((s) => s.includes('.DELETE.') && s.includes('STREAM')), `${role} deletes no stream`);
    assert.deepEqual(p[role].subscribe.filter((s) => s.startsWith('_INBOX')), [`_INBOX.${role}.>`], `${role} reads only its own replies`);
  }
  assert.deepEqual(p.metrics.publish.filter((s) => !s.startsWith('$JS.API.')), [], 'metrics publishes nothing but JetStream API reads');
  assert.throws(() => natsAuthConfig({ ...PASSWORDS, trainer: 'has "quote"' }), NatsAuthConfigError);
  assert.throws(() => natsAuthConfig({ ...PASSWORDS, metrics: { variable: 'lower-case' } }), /variable name/);
});

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
