import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectBus, ensureStreams, listSearchQueues, openSearchQueue, type BusConnection } from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { KubernetesLauncher, trainerJobName } from '@nasnet/launcher';
// The launcher lib's schema-validating stand-in for the API server.
import { FakeKubeApi } from '../../../libs/launcher/test/fake-api-server.js';
import { TrainerPools } from '../src/trainer-pools.js';

let nats: NatsTestServer;
let bus: BusConnection;
let api: FakeKubeApi;
before(async () => {
  nats = await startNatsServer();
  bus = await connectBus(nats.url, { name: 'pools-test', log: () => {} });
  await ensureStreams(bus.jsm, { storage: 'memory' });
  api = await FakeKubeApi.start();
});
after(async () => {
  await bus.close();
  await nats.stop();
  await api.close();
});

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pools(active: (id: string) => boolean, lines: string[] = []): TrainerPools {
  return new TrainerPools({
    bus, launcher: new KubernetesLauncher({ kubeConfig: api.kubeConfig(), watchRetryMs: 50 }),
    isActive: async (id) => active(id), drainMs: 200, retryMs: 50, reconcileEveryMs: 0, log: (l) => lines.push(l),
  });
}

test('trainer pools - a search gets its queue before its Job; a Job that fails under a running search reports its reason; the end deletes queue and Job', async () => {
  const p = pools(() => true);
  const failures: string[] = [];
  const launch = await p.launch({ searchId: 'fails', trainers: 2, gpusPerTrainer: 0 }, { onFailed: (m) => failures.push(m) });
  assert.deepEqual(await listSearchQueues(bus), ['fails']);
  const name = trainerJobName('fails');
  assert.ok(api.job('nasnet', name));
  const now = new Date().toISOString();
  const message = `Container trainer for pod nasnet/${name}-abcde failed with exit code 2 matching FailJob rule at index 0`;
  api.setStatus('nasnet', name, { failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message, lastProbeTime: now, lastTransitionTime: now }] });
  const failure = await until('the failure', () => failures[0]);
  assert.equal(failure, `trainers nasnet/${name} failed (PodFailurePolicy: ${message}; 1 trainer failed)`);

  await launch.stop();
  assert.deepEqual(await listSearchQueues(bus), [], 'the queue goes at once');
  await until('the Job to be deleted', () => api.job('nasnet', name) === undefined);
  assert.equal(failures.length, 1);
  await p.close();
});

test('trainer pools - trainers that complete after the end let the Job go without waiting out the drain; a failed delete is retried', async () => {
  const lines: string[] = [];
  const p = pools(() => true, lines);
  const launch = await p.launch({ searchId: 'ends', trainers: 1, gpusPerTrainer: 0 }, { onFailed: () => assert.fail('no failure') });
  const name = trainerJobName('ends');
  api.failNext('DELETE', 500, 'InternalError', 'etcd is having a moment');
  await launch.stop();
  // The trainers saw their queue go and exited 0: the Job completes.
  api.complete('nasnet', name);
  await until('the Job to be deleted', () => api.job('nasnet', name) === undefined);
  assert.ok(lines.some((l) => /stopping trainers nasnet\/.* failed: .*etcd is having a moment; trying again/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes(`trainers nasnet/${name} finished: 1 exited 0`)), lines.join('\n'));
  await p.close();
});

test('trainer pools - reconcile removes the Jobs and queues of ended and unknown searches and keeps the active ones', async () => {
  const k = new KubernetesLauncher({ kubeConfig: api.kubeConfig() });
  for (const id of ['live', 'ended', 'stranger']) {
    await openSearchQueue(bus, id);
    await k.launch({ searchId: id, trainers: 1, gpusPerTrainer: 0 });
  }
  api.complete('nasnet', trainerJobName('ended'));
  const lines: string[] = [];
  const p = pools((id) => id === 'live', lines);
  // A delete refused once is tried again, not left forever.
  api.failNext('DELETE', 503, 'ServiceUnavailable', 'try later');
  const removed = await p.reconcile();
  assert.deepEqual(removed.launches.sort(), ['ended', 'stranger']);
  assert.deepEqual(removed.queues.sort(), ['ended', 'stranger']);
  assert.deepEqual(await listSearchQueues(bus), ['live']);
  await until('both Jobs deleted', () => api.job('nasnet', trainerJobName('ended')) === undefined && api.job('nasnet', trainerJobName('stranger')) === undefined);
  assert.ok(api.job('nasnet', trainerJobName('live')), 'the active search keeps its Job');
  assert.ok(lines.some((l) => /failed: .*try later; trying again/.test(l)), lines.join('\n'));
  await p.close();
});

test('trainer pools - a search whose Job fails ends FAILED with the Job\'s reason and message, and its queue and Job are removed', { timeout: 60_000 }, async () => {
  const { MemoryStateStore, JetStreamExecutor } = await import('@nasnet/bus');
  const { SearchManager } = await import('../src/index.js');
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  let manager!: InstanceType<typeof SearchManager>;
  const p = new TrainerPools({
    bus, launcher: new KubernetesLauncher({ kubeConfig: api.kubeConfig(), watchRetryMs: 50 }), drainMs: 100, retryMs: 50, reconcileEveryMs: 0,
    isActive: async (id) => ['pending', 'running'].includes((await manager.get(id)).runState),
  });
  manager = new SearchManager({ store: new MemoryStateStore(), executorFor: () => executor, launcher: p });
  const search = await manager.submit({ dataset: 'synthetic', strategy: 'random', seed: 1, budget: { architectures: 4, concurrency: 2 } });
  const name = trainerJobName(search.id);
  await until('the Job', () => api.job('nasnet', name));
  assert.ok((await listSearchQueues(bus)).includes(search.id), 'its queue exists while it runs');
  const now = new Date().toISOString();
  api.setStatus('nasnet', name, { failed: 4, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: now, lastTransitionTime: now }] });
  const ended = await manager.finished(search.id);
  assert.equal(ended.runState, 'failed');
  assert.match(ended.message ?? '', /trainers nasnet\/.* failed \(BackoffLimitExceeded: Job has reached the specified backoff limit; 4 trainers failed\)/);
  assert.ok(!(await listSearchQueues(bus)).includes(search.id), 'its queue is gone');
  await until('the Job to be deleted', () => api.job('nasnet', name) === undefined);
  await p.close();
  await executor.close();
});
