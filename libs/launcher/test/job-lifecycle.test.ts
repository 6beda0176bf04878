import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defaultTrainerJobTemplate, KubernetesLauncher, SEARCH_ID_ANNOTATION, trainerJobName, type LaunchStatus } from '@nasnet/launcher';
import { FakeKubeApi } from './fake-api-server.js';

let api: FakeKubeApi;
before(async () => { api = await FakeKubeApi.start(); });
after(async () => { await api.close(); });

function launcher(): KubernetesLauncher {
  return new KubernetesLauncher({ kubeConfig: api.kubeConfig(), watchRetryMs: 50 });
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('job lifecycle - the Job fails fast on configuration errors (podFailurePolicy), ignores disruptions, and passes the memory limit to the pod', async () => {
  await launcher().launch({ searchId: 'pfp-1', trainers: 2, gpusPerTrainer: 0, memory: '3Gi' });
  const job = api.job('nasnet', trainerJobName('pfp-1'))!;
  assert.ok(api.validated.includes(trainerJobName('pfp-1')), 'schema-valid');
  assert.deepEqual(job.spec.podFailurePolicy.rules, [
    { action: 'FailJob', onExitCodes: { containerName: 'trainer', operator: 'In', values: [2] } },
    { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
  ]);
  assert.equal(job.spec.template.spec.restartPolicy, 'Never', 'podFailurePolicy needs restartPolicy Never');
  assert.equal(job.spec.backoffLimit, 6);
  const container = job.spec.template.spec.containers[0];
  assert.deepEqual(container.env.find((e: { name: string }) => e.name === 'POD_MEMORY_LIMIT_BYTES'), {
    name: 'POD_MEMORY_LIMIT_BYTES', valueFrom: { resourceFieldRef: { containerName: 'trainer', resource: 'limits.memory', divisor: '1' } },
  });
  assert.equal(container.resources.limits.memory, '3Gi');
});

test('job lifecycle - the fake API server refuses a pod failure policy the schema does not allow', async () => {
  const template = defaultTrainerJobTemplate();
  (template.spec!.podFailurePolicy!.rules[0] as { action: string }).action = 1 as unknown as string;
  await assert.rejects(
    new KubernetesLauncher({ kubeConfig: api.kubeConfig(), template }).launch({ searchId: 'pfp-bad', trainers: 1, gpusPerTrainer: 0 }),
    /422 Invalid.*podFailurePolicy/,
  );
  // The API server's own rule: a pod failure policy needs restartPolicy Never.
  const onFailure = defaultTrainerJobTemplate();
  onFailure.spec!.template.spec!.restartPolicy = 'OnFailure';
  await assert.rejects(
    new KubernetesLauncher({ kubeConfig: api.kubeConfig(), template: onFailure }).launch({ searchId: 'pfp-onfailure', trainers: 1, gpusPerTrainer: 0 }),
    /422 Invalid.*only "Never" is supported when podFailurePolicy is specified/,
  );
});

test('job lifecycle - a Job failed by its pod failure policy reports the reason and message through watch and status', async () => {
  const handle = await launcher().launch({ searchId: 'pfp-2', trainers: 1, gpusPerTrainer: 0 });
  const seen: LaunchStatus[] = [];
  const unwatch = handle.watch((s) => seen.push(s));
  await waitFor('the first status', () => seen.length > 0);
  const message = 'Container trainer for pod nasnet/nasnet-trainer-pfp-2-x failed with exit code 2 matching FailJob rule at index 0';
  const now = new Date().toISOString();
  api.setStatus('nasnet', trainerJobName('pfp-2'), {
    failed: 1, active: 0,
    conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message, lastProbeTime: now, lastTransitionTime: now }],
  });
  const done = await waitFor('the failure', () => seen.find((s) => s.done));
  unwatch();
  assert.deepEqual(done, { active: 0, succeeded: 0, failed: 1, done: true, outcome: 'failed', reason: 'PodFailurePolicy', message });
  assert.deepEqual(await handle.status(), done);
  await handle.stop();
});

test('job lifecycle - list finds the trainer Jobs with their search ids; stop deletes the Job with its pods, and again is harmless', async () => {
  const k = launcher();
  const a = await k.launch({ searchId: 'list-a', trainers: 1, gpusPerTrainer: 0 });
  await k.launch({ searchId: 'list-b', trainers: 1, gpusPerTrainer: 0 });
  api.complete('nasnet', trainerJobName('list-b'));
  // Someone else's Job with our app label but no search annotation is not ours to judge.
  api.put('nasnet', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'foreign', labels: { 'app.kubernetes.io/name': 'nasnet-child-trainer', 'nasnet.dev/search-id': 'x' } }, spec: {} });
  const listed = await k.list();
  const byId = new Map(listed.map((l) => [l.searchId, l]));
  assert.equal(byId.get('list-a')?.status.done, false);
  assert.equal(byId.get('list-b')?.status.outcome, 'succeeded');
  assert.equal(byId.get('list-b')?.handle.id, `nasnet/${trainerJobName('list-b')}`);
  assert.ok(!listed.some((l) => l.handle.id === 'nasnet/foreign'));
  assert.ok(listed.every((l) => api.job('nasnet', l.handle.id.split('/')[1]!)?.metadata.annotations[SEARCH_ID_ANNOTATION] === l.searchId));

  await byId.get('list-b')!.handle.stop();
  await a.stop();
  const deletes = api.requests.filter((r) => r.method === 'DELETE' && r.path.endsWith('/jobs/' + trainerJobName('list-a')));
  assert.equal(deletes.length, 1);
  assert.equal(deletes[0]!.query.get('propagationPolicy'), 'Background', 'the pods go with the Job');
  assert.equal(api.job('nasnet', trainerJobName('list-a')), undefined);
  assert.equal(api.job('nasnet', trainerJobName('list-b')), undefined);
  await a.stop();
  assert.deepEqual((await k.list()).map((l) => l.searchId).filter((id) => id.startsWith('list-')), []);
  assert.deepEqual(await a.status(), { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Deleted' });
});
