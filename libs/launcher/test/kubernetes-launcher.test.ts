import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  defaultTrainerJobTemplate,
  KubernetesApiError,
  KubernetesLauncher,
  InvalidLaunchRequestError,
  SEARCH_ID_ANNOTATION,
  TrainerJobExistsError,
  trainerJobName,
  type LaunchStatus,
} from '@nasnet/launcher';
import { FakeKubeApi } from './fake-api-server.js';

let api: FakeKubeApi;
let searchCounter = 0;

before(async () => {
  api = await FakeKubeApi.start();
});
after(async () => {
  await api.close();
});
beforeEach(() => {
  api.requests.length = 0;
});

function launcher(options: Partial<ConstructorParameters<typeof KubernetesLauncher>[0]> = {}): KubernetesLauncher {
  return new KubernetesLauncher({ kubeConfig: api.kubeConfig(), watchRetryMs: 50, ...options });
}

/** A fresh search id per test, so tests share one server without clashing. */
function searchId(): string {
  return `search-${++searchCounter}`;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function posts(): Array<Record<string, any>> {
  return api.requests.filter((r) => r.method === 'POST').map((r) => r.body as Record<string, any>);
}

test('kubernetes launcher - creates a schema-valid Job with parallelism, GPU limits, labels and a locked-down pod', async () => {
  const id = searchId();
  const handle = await launcher({ natsUrl: 'nats://nats.nasnet.svc:4222', gpuNodeSelector: { 'nvidia.com/gpu.present': 'true' } }).launch({
    searchId: id, trainers: 3, gpusPerTrainer: 1, cpu: '2', memory: '6Gi', backend: 'tensorflow', env: { EXTRA_FLAG: 'on' }, deadlineSeconds: 7200,
  });
  const name = trainerJobName(id);
  assert.equal(handle.id, `nasnet/${name}`);
  assert.deepEqual(api.validated.slice(-1), [name], 'the fake API server validated the Job against the schema');
  const [create] = api.requests.filter((r) => r.method === 'POST');
  assert.equal(create!.path, '/apis/batch/v1/namespaces/nasnet/jobs');
  const job = create!.body as Record<string, any>;

  assert.equal(job.metadata.name, name);
  assert.equal(job.metadata.namespace, 'nasnet');
  assert.equal(job.metadata.labels['app.kubernetes.io/name'], 'nasnet-child-trainer');
  assert.equal(job.metadata.labels['nasnet.dev/search-id'], id);
  assert.equal(job.metadata.annotations[SEARCH_ID_ANNOTATION], id);
  assert.equal(job.spec.parallelism, 3);
  assert.equal(job.spec.completions, undefined, 'work-queue Job: completions unset');
  assert.equal(job.spec.backoffLimit, 6, 'max(template 6, 2 per trainer)');
  assert.equal(job.spec.ttlSecondsAfterFinished, 3600);
  assert.equal(job.spec.activeDeadlineSeconds, 7200);
  assert.equal(job.spec.selector, undefined, 'the API server generates the selector');

  const pod = job.spec.template.spec;
  assert.equal(job.spec.template.metadata.labels['nasnet.dev/search-id'], id);
  assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/name'], 'nasnet-child-trainer');
  assert.equal(pod.restartPolicy, 'Never');
  assert.equal(pod.serviceAccountName, 'nasnet-trainer');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  const [c] = pod.containers;
  assert.equal(c.name, 'trainer');
  assert.deepEqual(c.resources, { requests: { cpu: '2', memory: '6Gi' }, limits: { memory: '6Gi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
  assert.deepEqual(env, {
    NATS_URL: 'nats://nats.nasnet.svc:4222',
    NATS_CA: '/etc/nasnet/ca/ca.crt',
    TRAINER_ID: { fieldRef: { fieldPath: 'metadata.name' } },
    NAS_BACKEND: 'tensorflow',
    POD_CPU_REQUEST: { resourceFieldRef: { containerName: 'trainer', resource: 'requests.cpu', divisor: '1' } },
    POD_MEMORY_LIMIT_BYTES: { resourceFieldRef: { containerName: 'trainer', resource: 'limits.memory', divisor: '1' } },
    SEARCH_ID: id,
    EXTRA_FLAG: 'on',
  });
  assert.deepEqual(c.volumeMounts.map((v: any) => v.mountPath).sort(), ['/data', '/etc/nasnet/ca', '/tmp']);
  await handle.stop();
});

test('kubernetes launcher - many trainers raise the failure budget; CPU trainers get no GPU or toleration', async () => {
  const id = 'My Search/#7 (ÜBER lang)';
  const handle = await launcher().launch({ searchId: id, trainers: 20, gpusPerTrainer: 0 });
  const job = posts().at(-1)!;
  assert.equal(job.spec.parallelism, 20);
  assert.equal(job.spec.backoffLimit, 40);
  const label = job.metadata.labels['nasnet.dev/search-id'];
  assert.match(label, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
  assert.notEqual(label, id);
  assert.equal(job.metadata.annotations[SEARCH_ID_ANNOTATION], id, 'the exact id travels as an annotation');
  const pod = job.spec.template.spec;
  assert.equal(pod.tolerations, undefined);
  assert.equal(JSON.stringify(job).includes('nvidia.com/gpu'), false);
  assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } });
  // status() reads the Job: freshly created, nothing running yet.
  assert.deepEqual(await handle.status(), { active: 0, succeeded: 0, failed: 0, done: false });
  await handle.stop();
});

test('kubernetes launcher - watch follows the Job to completion', async () => {
  const id = searchId();
  const handle = await launcher().launch({ searchId: id, trainers: 2, gpusPerTrainer: 0 });
  const name = trainerJobName(id);
  const seen: LaunchStatus[] = [];
  const stop = handle.watch((s) => seen.push(s));
  await waitFor('the watch stream', () => api.watcherCount() === 1);
  api.setStatus('nasnet', name, { active: 2, ready: 2 });
  await waitFor('active trainers', () => seen.some((s) => s.active === 2));
  api.setStatus('nasnet', name, { active: 1, ready: 1, failed: 1 });
  api.complete('nasnet', name);
  const last = await waitFor('completion', () => seen.find((s) => s.done));
  stop();
  assert.deepEqual(seen, [
    { active: 0, succeeded: 0, failed: 0, done: false },
    { active: 2, succeeded: 0, failed: 0, done: false },
    { active: 1, succeeded: 0, failed: 1, done: false },
    { active: 0, succeeded: 2, failed: 1, done: true, outcome: 'succeeded', reason: 'Complete' },
  ]);
  assert.equal(last.outcome, 'succeeded');
  assert.deepEqual(await handle.status(), last);

  const list = api.requests.find((r) => r.method === 'GET' && r.query.get('watch') === null && r.path.endsWith('/jobs'))!;
  const watch = api.requests.find((r) => r.query.get('watch') === 'true')!;
  assert.equal(watch.path, '/apis/batch/v1/namespaces/nasnet/jobs');
  assert.equal(watch.query.get('labelSelector'), `app.kubernetes.io/name=nasnet-child-trainer,nasnet.dev/search-id=${id}`);
  assert.equal(list.query.get('labelSelector'), watch.query.get('labelSelector'));
  assert.ok(Number(watch.query.get('resourceVersion')) > 0, 'the watch starts at the list version');
  await waitFor('the watch to close', () => api.watcherCount() === 0);
  await handle.stop();
});

test('kubernetes launcher - watch resumes after the stream ends, and relists after 410 Gone', async () => {
  const id = searchId();
  const handle = await launcher().launch({ searchId: id, trainers: 4, gpusPerTrainer: 0 });
  const name = trainerJobName(id);
  const seen: LaunchStatus[] = [];
  const errors: Error[] = [];
  const stop = handle.watch((s) => seen.push(s), (e) => errors.push(e));
  await waitFor('the watch stream', () => api.watcherCount() === 1);

  // The server ends the stream; a change made while no stream is open must still arrive.
  api.closeWatches();
  api.setStatus('nasnet', name, { active: 4 });
  await waitFor('the change made between streams', () => seen.some((s) => s.active === 4));
  const watches = api.requests.filter((r) => r.query.get('watch') === 'true');
  assert.ok(watches.length >= 2);
  assert.ok(Number(watches[1]!.query.get('resourceVersion')) < Number(api.job('nasnet', name)!.metadata.resourceVersion), 'resumed from the last version seen');

  // History expired: the resumed watch gets 410, so the launcher lists again.
  await waitFor('the second stream', () => api.watcherCount() === 1);
  api.expireHistory();
  api.closeWatches();
  api.setStatus('nasnet', name, { active: 3, failed: 1 });
  await waitFor('the change after relisting', () => seen.some((s) => s.failed === 1));
  stop();
  assert.deepEqual(seen.map((s) => [s.active, s.failed]), [[0, 0], [4, 0], [3, 1]]);
  const lists = api.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/jobs') && r.query.get('watch') === null);
  assert.equal(lists.length, 2, 'one list at the start, one after 410 Gone');
  assert.deepEqual(errors, [], 'normal stream ends and 410 are not errors');
  await handle.stop();
});

test('kubernetes launcher - stop deletes the Job with background propagation', async () => {
  const id = searchId();
  const handle = await launcher().launch({ searchId: id, trainers: 2, gpusPerTrainer: 1 });
  const name = trainerJobName(id);
  const seen: LaunchStatus[] = [];
  handle.watch((s) => seen.push(s));
  await waitFor('the watch stream', () => api.watcherCount() === 1);
  api.setStatus('nasnet', name, { active: 2 });
  await waitFor('running trainers', () => seen.some((s) => s.active === 2));

  await handle.stop();
  const del = api.requests.find((r) => r.method === 'DELETE')!;
  assert.equal(del.path, `/apis/batch/v1/namespaces/nasnet/jobs/${name}`);
  assert.equal(del.query.get('propagationPolicy'), 'Background');
  assert.equal(api.job('nasnet', name), undefined);
  const last = await waitFor('the DELETED event', () => seen.find((s) => s.done));
  assert.deepEqual(last, { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Deleted' });
  assert.deepEqual(await handle.status(), { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Deleted' });
  await handle.stop(); // already gone: no error
  assert.equal(api.requests.filter((r) => r.method === 'DELETE').length, 2);
  await waitFor('the watch to end by itself', () => api.watcherCount() === 0);
});

test('kubernetes launcher - API errors carry the Status message, code and reason', async () => {
  const id = searchId();
  api.failNext('POST', 403, 'Forbidden', 'jobs.batch is forbidden: User "system:serviceaccount:nasnet:default" cannot create resource "jobs" in API group "batch" in the namespace "nasnet"');
  const err = await launcher().launch({ searchId: id, trainers: 1, gpusPerTrainer: 0 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof KubernetesApiError);
  assert.equal(err.statusCode, 403);
  assert.equal(err.reason, 'Forbidden');
  assert.equal(err.message, `Kubernetes API refused to create job nasnet/${trainerJobName(id)} (403 Forbidden): jobs.batch is forbidden: User "system:serviceaccount:nasnet:default" cannot create resource "jobs" in API group "batch" in the namespace "nasnet"`);

  // A bad token: 401 from the server.
  const unauthorized = new KubernetesLauncher({ kubeConfig: api.kubeConfig('nasnet', 'wrong-token') });
  await assert.rejects(unauthorized.launch({ searchId: id, trainers: 1, gpusPerTrainer: 0 }), (e: unknown) => e instanceof KubernetesApiError && e.statusCode === 401 && /refused to create job/.test(e.message));

  // status() and stop() surface errors the same way.
  const handle = unauthorized.handleFor(id);
  await assert.rejects(handle.status(), /Kubernetes API refused to read job nasnet\/.* \(401/);
  api.failNext('DELETE', 500, 'InternalError', 'etcdserver: request timed out');
  await assert.rejects(launcher().handleFor(id).stop(), /refused to delete job nasnet\/.* \(500 InternalError\): etcdserver: request timed out/);
});

test('kubernetes launcher - the fake API server refuses schema violations with 422 Invalid', async () => {
  const template = defaultTrainerJobTemplate() as any;
  template.spec.ttlSecondsAfterFinished = 'an hour';
  const id = searchId();
  const err = await launcher({ template }).launch({ searchId: id, trainers: 1, gpusPerTrainer: 0 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof KubernetesApiError);
  assert.equal(err.statusCode, 422);
  assert.equal(err.reason, 'Invalid');
  assert.match(err.message, new RegExp(`Job\\.batch "${trainerJobName(id)}" is invalid: spec\\.ttlSecondsAfterFinished: must be integer`));
  assert.equal(api.job('nasnet', trainerJobName(id)), undefined, 'nothing was stored');

  // The server's own rules (beyond the schema) apply too: an invalid label value.
  const badLabel = defaultTrainerJobTemplate() as any;
  badLabel.metadata.labels['team'] = 'not a label value!';
  await assert.rejects(launcher({ template: badLabel }).launch({ searchId: searchId(), trainers: 1, gpusPerTrainer: 0 }), /422 Invalid\): .*metadata\.labels: Invalid value: "not a label value!"/);
});

test('kubernetes launcher - a second launch adopts the running Job; a finished one is replaced; another search is refused', async () => {
  const id = searchId();
  const name = trainerJobName(id);
  const first = await launcher().launch({ searchId: id, trainers: 2, gpusPerTrainer: 0 });
  const uid = api.job('nasnet', name)!.metadata.uid;
  const again = await launcher().launch({ searchId: id, trainers: 2, gpusPerTrainer: 0 });
  assert.equal(again.id, first.id);
  assert.equal(api.job('nasnet', name)!.metadata.uid, uid, 'the running Job was adopted, not replaced');

  await assert.rejects(launcher({ ifExists: 'fail' }).launch({ searchId: id, trainers: 2, gpusPerTrainer: 0 }), (e: unknown) => e instanceof TrainerJobExistsError && e.message === `trainer Job nasnet/${name} for search '${id}' already exists (adopting existing Jobs is turned off)`);

  api.complete('nasnet', name);
  api.requests.length = 0;
  await launcher().launch({ searchId: id, trainers: 2, gpusPerTrainer: 0 });
  assert.deepEqual(api.requests.map((r) => r.method), ['POST', 'GET', 'DELETE', 'POST']);
  assert.notEqual(api.job('nasnet', name)!.metadata.uid, uid, 'the finished Job was replaced');
  assert.deepEqual(await again.status(), { active: 0, succeeded: 0, failed: 0, done: false });

  // Someone else's Job under the name this search would use.
  const other = searchId();
  api.put('nasnet', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: trainerJobName(other), annotations: { [SEARCH_ID_ANNOTATION]: 'somebody-else' } }, spec: { template: { spec: { containers: [], restartPolicy: 'Never' } } } });
  await assert.rejects(launcher().launch({ searchId: other, trainers: 1, gpusPerTrainer: 0 }), (e: unknown) => e instanceof TrainerJobExistsError && e.message === `trainer Job nasnet/${trainerJobName(other)} for search '${other}' already exists and belongs to search 'somebody-else'`);
  await first.stop();
});

test('kubernetes launcher - an unreachable API server is a clear error', async () => {
  const closed = await FakeKubeApi.start();
  const kc = closed.kubeConfig();
  const url = closed.url;
  await closed.close();
  const err = await new KubernetesLauncher({ kubeConfig: kc }).launch({ searchId: 'x', trainers: 1, gpusPerTrainer: 0 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof KubernetesApiError);
  assert.equal(err.statusCode, undefined);
  assert.match(err.message, new RegExp(`^Kubernetes API: could not create job nasnet/${trainerJobName('x')}: .*ECONNREFUSED.*\\[server ${url.replace(/[.]/g, '\\.')}\\]`));
});

test('kubernetes launcher - watch reports transport errors and keeps trying', async () => {
  const other = await FakeKubeApi.start();
  const l = new KubernetesLauncher({ kubeConfig: other.kubeConfig(), watchRetryMs: 20 });
  const handle = await l.launch({ searchId: 'w', trainers: 1, gpusPerTrainer: 0 });
  const errors: Error[] = [];
  const seen: LaunchStatus[] = [];
  other.failNext('GET', 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
  const stop = handle.watch((s) => seen.push(s), (e) => errors.push(e));
  await waitFor('a status after the failed list', () => seen.length === 1);
  stop();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof KubernetesApiError);
  assert.match(errors[0]!.message, /refused to list job nasnet\/.* \(503 ServiceUnavailable\): the server is currently unable to handle the request/);
  await other.close();
});

test('kubernetes launcher - invalid requests are refused before any API call', async () => {
  const l = launcher();
  await assert.rejects(l.launch({ searchId: 'a', trainers: 0, gpusPerTrainer: 0 }), (e: unknown) => e instanceof InvalidLaunchRequestError && e.message === 'invalid launch request: trainers = 0: expected an integer >= 1');
  await assert.rejects(l.launch({ searchId: 'a', trainers: 1, gpusPerTrainer: 0.5 }), /gpusPerTrainer = 0.5/);
  await assert.rejects(l.launch({ searchId: 'a', trainers: 1, gpusPerTrainer: 0, memory: 'lots' }), /memory = "lots": expected a Kubernetes quantity/);
  await assert.rejects(l.launch({ searchId: 'a', trainers: 1, gpusPerTrainer: 0, env: { 'BAD-NAME': 'x' } }), /env\.BAD-NAME/);
  await assert.rejects(l.launch({ searchId: '', trainers: 1, gpusPerTrainer: 0 }), /searchId = "": expected a non-empty string/);
  assert.deepEqual(api.requests, []);
});
