import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1/Job';
import {
  buildTrainerJob,
  defaultTrainerJobTemplate,
  jobLaunchStatus,
  loadTrainerJobTemplate,
  parseTrainerJobTemplate,
  searchIdLabelValue,
  TrainerTemplateError,
  trainerJobName,
  trainerLabelSelector,
} from '@nasnet/launcher';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const dir = mkdtempSync(join(tmpdir(), 'nasnet-template-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('job template - names and label values are valid and distinct for any search id', () => {
  const ids = ['s1', 'S1', 'search_2026-01-01T10:00:00Z', 'x'.repeat(200), 'x'.repeat(199) + 'y', '---', '日本語の検索', 'a b', 'a-b', '.hidden.'];
  const names = new Set<string>();
  const labels = new Set<string>();
  for (const id of ids) {
    const name = trainerJobName(id);
    const label = searchIdLabelValue(id);
    assert.ok(name.length <= 63 && DNS_LABEL.test(name), `job name ${name} for ${id}`);
    assert.ok(name.startsWith('nasnet-trainer-'));
    assert.ok(label.length >= 1 && label.length <= 63 && LABEL_VALUE.test(label), `label ${label} for ${id}`);
    names.add(name);
    labels.add(label);
  }
  assert.equal(names.size, ids.length);
  assert.equal(labels.size, ids.length);
  assert.equal(searchIdLabelValue('search-42'), 'search-42', 'a valid id is kept as is');
  assert.equal(trainerJobName('s1'), trainerJobName('s1'), 'deterministic');
  assert.equal(trainerLabelSelector('s1'), 'app.kubernetes.io/name=nasnet-child-trainer,nasnet.dev/search-id=s1');
});

test('job template - the default template and every built Job validate against the Job schema', () => {
  new Job(defaultTrainerJobTemplate() as ConstructorParameters<typeof Job>[0]).validate();
  for (const gpus of [0, 1, 8]) {
    const job = buildTrainerJob(defaultTrainerJobTemplate(), { searchId: `s-${gpus}`, trainers: 5, gpusPerTrainer: gpus, cpu: '500m', memory: '1.5Gi', deadlineSeconds: 60 }, { namespace: 'ns' });
    new Job(JSON.parse(JSON.stringify(job))).validate();
  }
});

test('job template - building does not modify the template; env, NATS and node selectors are merged', () => {
  const template = defaultTrainerJobTemplate();
  const before = JSON.stringify(template);
  const job = buildTrainerJob(template, { searchId: 's', trainers: 2, gpusPerTrainer: 0, env: { NAS_BACKEND: 'cpu', NEW_VAR: '1' }, backend: 'webgpu' }, {
    namespace: 'team-a', natsUrl: 'nats://elsewhere:4222', nodeSelector: { pool: 'train' }, gpuNodeSelector: { gpu: 'yes' },
  });
  assert.equal(JSON.stringify(template), before);
  const env = job.spec!.template.spec!.containers[0]!.env!;
  assert.deepEqual(env.map((e) => e.name), ['NATS_URL', 'NATS_CA', 'TRAINER_ID', 'NAS_BACKEND', 'POD_CPU_REQUEST', 'POD_MEMORY_LIMIT_BYTES', 'SEARCH_ID', 'NEW_VAR']);
  assert.equal(env.find((e) => e.name === 'NATS_URL')!.value, 'nats://elsewhere:4222');
  assert.equal(env.find((e) => e.name === 'NAS_BACKEND')!.value, 'cpu', 'request env wins over backend');
  assert.deepEqual(job.spec!.template.spec!.nodeSelector, { pool: 'train' }, 'no GPU selector without GPUs');
  assert.equal(job.metadata!.namespace, 'team-a');
});

test('job template - a GPU template keeps its GPUs when the request asks for 0, and the request wins above 0', () => {
  const gpuTemplate = defaultTrainerJobTemplate();
  gpuTemplate.spec!.template.spec!.containers[0]!.resources!.limits!['nvidia.com/gpu'] = '1';
  const keep = buildTrainerJob(gpuTemplate, { searchId: 'g', trainers: 1, gpusPerTrainer: 0 }, { namespace: 'n', gpuNodeSelector: { gpu: 'yes' } });
  const pod = keep.spec!.template.spec!;
  assert.equal(pod.containers[0]!.resources!.limits!['nvidia.com/gpu'], '1');
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(pod.nodeSelector, { gpu: 'yes' });
  const four = buildTrainerJob(gpuTemplate, { searchId: 'g', trainers: 1, gpusPerTrainer: 4 }, { namespace: 'n' });
  assert.equal(four.spec!.template.spec!.containers[0]!.resources!.limits!['nvidia.com/gpu'], '4');
});

test('job template - parse refuses templates a Job cannot run, naming the field', () => {
  const cases: Array<[(t: any) => void, RegExp]> = [
    [(t) => (t.kind = 'Pod'), /trainer Job template t\.yaml: kind: expected 'Job', got "Pod"/],
    [(t) => (t.apiVersion = 'batch/v1beta1'), /apiVersion: expected 'batch\/v1'/],
    [(t) => (t.spec.template.spec.restartPolicy = 'Always'), /spec\.template\.spec\.restartPolicy: a Job needs 'Never' or 'OnFailure', got "Always"/],
    [(t) => (t.spec.template.spec.containers[0].name = 'main'), /spec\.template\.spec\.containers: no container named 'trainer'/],
    [(t) => delete t.spec.template.spec.containers[0].image, /spec\.template\.spec\.containers\[0\]\.image: expected an image reference/],
    [(t) => delete t.spec.template, /spec\.template: missing/],
  ];
  for (const [mutate, message] of cases) {
    const t = defaultTrainerJobTemplate() as any;
    mutate(t);
    assert.throws(() => parseTrainerJobTemplate(t, 't.yaml'), (e: unknown) => e instanceof TrainerTemplateError && message.test(e.message));
  }
});

test('job template - loading a file reports unreadable files and bad YAML with the path', async () => {
  const good = join(dir, 'job.yaml');
  writeFileSync(good, 'apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: trainer\n          image: example/trainer:1\n');
  const t = await loadTrainerJobTemplate(good);
  assert.equal(t.spec!.template.spec!.containers[0]!.image, 'example/trainer:1');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'kind: Job\n  oops: [\n');
  await assert.rejects(loadTrainerJobTemplate(bad), (e: unknown) => e instanceof TrainerTemplateError && e.message.startsWith(`trainer Job template ${bad}: (file): is not valid YAML:`) && e.cause !== undefined);
  await assert.rejects(loadTrainerJobTemplate(join(dir, 'none.yaml')), /none\.yaml: \(file\): cannot be read/);
});

test('job template - status follows the Job conditions', () => {
  assert.deepEqual(jobLaunchStatus({ status: { active: 3, failed: 1 } }), { active: 3, succeeded: 0, failed: 1, done: false });
  assert.deepEqual(jobLaunchStatus({ status: { failed: 7, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] } }), { active: 0, succeeded: 0, failed: 7, done: true, outcome: 'failed', reason: 'BackoffLimitExceeded' });
  assert.deepEqual(jobLaunchStatus({ status: { succeeded: 2, conditions: [{ type: 'Complete', status: 'True' }] } }), { active: 0, succeeded: 2, failed: 0, done: true, outcome: 'succeeded', reason: 'Complete' });
  assert.equal(jobLaunchStatus({ status: { conditions: [{ type: 'Failed', status: 'False' }] } }).done, false);
});
