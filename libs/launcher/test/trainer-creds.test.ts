/**
 * A search's own NATS credentials (LaunchRequest.natsCreds, minted by the
 * controller): the Kubernetes Job mounts them from the search's Secret and
 * points NATS_CREDS there instead of any shared NATS user; local trainers
 * get a private file that disappears when the launch ends.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1/Job';
import {
  buildTrainerJob, defaultTrainerJobTemplate, InvalidLaunchRequestError, KubernetesLauncher, LocalProcessLauncher, TRAINER_CREDS_DIR, TRAINER_CREDS_KEY,
  trainerCredsSecretName, trainerJobName, validateLaunchRequest,
} from '@nasnet/launcher';
import { FakeKubeApi } from './fake-api-server.js';

const CREDS = '-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.sig\n------END NATS USER JWT------\n';
const FIXTURE = fileURLToPath(new URL('./fixtures/creds-trainer.mjs', import.meta.url));
const dirs: string[] = [];
let api: FakeKubeApi;
before(async () => { api = await FakeKubeApi.start(); });
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await api.close();
});

test('trainer creds - the Job mounts the search\'s Secret, sets NATS_CREDS and drops the template\'s shared NATS user', () => {
  const template = defaultTrainerJobTemplate();
  const job = buildTrainerJob(template, { searchId: 's-42', trainers: 2, gpusPerTrainer: 0, natsCreds: CREDS }, { namespace: 'nasnet' });
  new Job(job as never).validate();
  const pod = job.spec!.template.spec!;
  const trainer = pod.containers.find((c) => c.name === 'trainer')!;
  const env = Object.fromEntries((trainer.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.NATS_CREDS?.value, `${TRAINER_CREDS_DIR}/${TRAINER_CREDS_KEY}`);
  assert.equal(env.NATS_USER, undefined, 'no shared NATS user');
  assert.equal(env.NATS_PASS, undefined, 'no shared NATS password');
  const volume = pod.volumes!.find((v) => v.name === 'nats-creds')!;
  assert.equal(volume.secret?.secretName, trainerCredsSecretName('s-42'));
  assert.equal(trainerCredsSecretName('s-42'), `${trainerJobName('s-42')}-nats`);
  assert.deepEqual(trainer.volumeMounts!.find((m) => m.name === 'nats-creds'), { name: 'nats-creds', mountPath: TRAINER_CREDS_DIR, readOnly: true });
  assert.ok(!JSON.stringify(job).includes('BEGIN NATS USER JWT'), 'the credentials themselves are not in the Job');
  // Without credentials the template's own settings stay.
  const plain = buildTrainerJob(template, { searchId: 's-42', trainers: 1, gpusPerTrainer: 0 }, { namespace: 'nasnet' });
  assert.equal(plain.spec!.template.spec!.volumes?.some((v) => v.name === 'nats-creds') ?? false, false);
});

test('trainer creds - a request whose natsCreds is no .creds file is refused without echoing it', () => {
  assert.throws(() => validateLaunchRequest({ searchId: 's', trainers: 1, gpusPerTrainer: 0, natsCreds: 'user:secretpassword' }),
    (e: unknown) => e instanceof InvalidLaunchRequestError && /natsCreds/.test(e.message) && !e.message.includes('secretpassword'));
});

test('trainer creds - local trainers read them from a private file (no shared password), removed when the launch stops', async () => {
  const out = mkdtempSync(join(tmpdir(), 'nasnet-creds-'));
  dirs.push(out);
  const launcher = new LocalProcessLauncher({
    entry: FIXTURE, execArgv: [], stdio: 'ignore', natsUrl: 'nats://127.0.0.1:4999',
    env: { FAKE_OUT: out, NATS_USER: 'trainer', NATS_PASS: 'shared-password' },
  });
  const handle = await launcher.launch({ searchId: 'local-creds', trainers: 2, gpusPerTrainer: 0, natsCreds: CREDS });
  const end = Date.now() + 10_000;
  while (readdirSync(out).filter((f) => f.endsWith('.json')).length < 2) {
    if (Date.now() > end) assert.fail('the trainers did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const records = readdirSync(out).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')));
  for (const r of records) {
    assert.equal(r.creds, CREDS);
    assert.equal(r.mode, '600');
    assert.equal(r.NATS_USER, undefined);
    assert.equal(r.NATS_PASS, undefined);
  }
  const file = records[0].NATS_CREDS as string;
  assert.ok(existsSync(file));
  await handle.stop();
  assert.equal(existsSync(dirname(file)), false, 'the credentials folder is gone with the trainers');
});

test('trainer creds - the Kubernetes launcher puts them in a Secret owned by the Job, replaces it on adoption and deletes it on stop', async () => {
  const launcher = new KubernetesLauncher({ kubeConfig: api.kubeConfig(), watchRetryMs: 50 });
  const handle = await launcher.launch({ searchId: 'k-creds', trainers: 1, gpusPerTrainer: 0, natsCreds: CREDS });
  const job = api.job('nasnet', trainerJobName('k-creds'))!;
  const secret = api.secret('nasnet', trainerCredsSecretName('k-creds'))!;
  assert.ok(secret, 'the Secret exists');
  assert.equal(Buffer.from(secret.data[TRAINER_CREDS_KEY], 'base64').toString('utf8'), CREDS);
  assert.deepEqual(secret.metadata.ownerReferences.map((o: Record<string, unknown>) => [o.kind, o.name, o.uid]), [['Job', job.metadata.name, job.metadata.uid]],
    'owned by the Job: the garbage collector deletes it with the Job');
  // A restarted controller adopts the running Job with newly minted credentials: the Secret is replaced, not duplicated.
  const fresh = CREDS.replace('sig', 'sig2');
  await launcher.launch({ searchId: 'k-creds', trainers: 1, gpusPerTrainer: 0, natsCreds: fresh });
  assert.equal(Buffer.from(api.secret('nasnet', trainerCredsSecretName('k-creds'))!.data[TRAINER_CREDS_KEY], 'base64').toString('utf8'), fresh);
  await handle.stop();
  assert.equal(api.job('nasnet', trainerJobName('k-creds')), undefined);
  assert.equal(api.secret('nasnet', trainerCredsSecretName('k-creds')), undefined, 'no credentials outlive the trainers');
  // A launch without credentials makes no Secret.
  const plain = await launcher.launch({ searchId: 'k-plain', trainers: 1, gpusPerTrainer: 0 });
  assert.equal(api.secret('nasnet', trainerCredsSecretName('k-plain')), undefined);
  await plain.stop();
});
