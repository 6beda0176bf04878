/**
 * Scoped NATS credentials against a real nats-server running what
 * `npm run secrets` generates (operator and account JWTs, TLS): the
 * controller process, with its generated user, launches each search's
 * trainers as local processes with a user it minted for that search, and
 * the search completes without a permission violation; a trainer of search
 * A can take and answer A's children but can neither read B's tasks nor
 * publish B's results or events; users signed by another key, expired
 * users and clients without TLS or with another CA are refused.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccount } from '@nats-io/jwt';
import { Kvm } from '@nats-io/kv';
import {
  connectBus, encodeChildTask, ensureStreams, KvStateStore, mintTrainerCreds, mintUserCreds, openSearchQueue, parseSigner, publishChildResult,
  natsPermissions, resultSubject, searchQueueName, TrainerConsumer, trainerPermissions, type BusConnection, type ChildResult,
} from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { readStoredSearch } from '@nasnet/controller-service';
import { runMetricsService } from '@nasnet/metrics-service';
import { NASNET_A } from '@nasnet/search-space';
import { generateSecrets } from '../scripts/secrets.js';
import { freePort, runNasctl as nasctl, startService, type ServiceProcess } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'nas-scoped-'));
const { dir: secrets } = await generateSecrets({ out: join(dir, 'secrets') });
const file = (name: string) => join(secrets, name);
const signer = parseSigner(readFileSync(file('signer.json'), 'utf8'));
const nats = await startNatsServer({
  config: `tls {\n  cert_file: "${file('nats.crt')}"\n  key_file: "${file('nats.key')}"\n}\n${readFileSync(file('nats-operator.conf'), 'utf8')}`,
});
const quiet = () => {};
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

function violations(): string[] {
  return nats.log().split('\n').filter((l) => /Violation/.test(l));
}

async function connect(name: string, creds: string, options: { ca?: string } = {}): Promise<BusConnection> {
  const bus = await connectBus(nats.url, { name, creds, caFile: options.ca ?? file('ca.crt'), log: quiet, apiTimeoutMs: 5000, waitOnFirstConnect: false });
  closers.push(() => bus.close());
  return bus;
}

const RECIPE = {
  epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, learningRate: 0.1, momentum: 0.9, weightDecay: 0, dropPathKeepProb: 1, auxHead: false,
  gradientClipNorm: 5, maxStepsPerEpoch: 1, trainLimit: 0, validationLimit: 0, checkpointCells: false,
};

function task(searchId: string, childId: number) {
  return encodeChildTask({ searchId, childId, genotype: NASNET_A, hash: `h-${searchId}-${childId}`, dataset: 'synthetic', seed: 1, phase: 'search', recipe: RECIPE });
}

test('nats scoped - with the generated operator, TLS and users only, the controller\'s local trainers run a search on a user minted for it; metrics read it; no violation', { timeout: 600_000 }, async () => {
  const grpcPort = await freePort();
  const token = 'scoped-token';
  const controller: ServiceProcess = startService('controller', 'services/controller/src/main.ts', {
    NATS_URL: nats.url, NATS_CREDS: file('controller.creds'), NATS_CA: file('ca.crt'), NATS_SIGNER_FILE: file('signer.json'),
    GRPC_PORT: String(grpcPort), HTTP_PORT: '-1', HOST: '127.0.0.1', CONTROLLER_TOKEN: token, NASNET_LAUNCHER: 'local',
  });
  closers.push(() => controller.stop('SIGKILL'));
  await controller.waitFor(/ready: gRPC (\d+)/);
  const metrics = await runMetricsService({ natsUrl: nats.url, natsCreds: file('metrics.creds'), natsCa: file('ca.crt'), port: 0, host: '127.0.0.1', log: quiet });
  closers.push(() => metrics.close());

  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, [
    'name: scoped', 'dataset: synthetic', 'strategy: random', 'seed: 3',
    'budget: {maxArchitectures: 2, maxConcurrentChildren: 1}',
    'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 2, validationSize: 32}',
  ].join('\n'));
  const run = await nasctl(['search', 'submit', spec, '--watch', '--json', '--server', `127.0.0.1:${grpcPort}`, '--token', token]);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\ncontroller:\n${controller.output().slice(-6000)}`);
  const id = JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{'))!).searchId as string;
  // The server admits JWT users only and the controller gives its local trainers no NATS user of its own
  // (no TRAINER_NATS_USER): the children below were trained on the user minted for this search.

  const check = await connect('scoped-check', readFileSync(file('transfer.creds'), 'utf8'));
  const stored = await readStoredSearch(await KvStateStore.open<unknown>(check), id);
  assert.equal(stored?.runState, 'succeeded', 'the transfer service\'s user reads search states');
  const trained = stored!.loop!.entries.filter((e) => e.duplicateOf === undefined);
  assert.deepEqual(trained.map((e) => [e.result?.status, e.result?.trainer?.startsWith(`local-${id}-`)]), Array(2).fill(['ok', true]), JSON.stringify(trained.map((e) => e.result)));
  const end = Date.now() + 30_000;
  while (!(await (await fetch(`${metrics.url}/metrics`)).text()).includes(`nasnet_children_trained_total{search="${id}"} 2`)) {
    if (Date.now() > end) assert.fail('the metrics service did not count the 2 children');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(violations(), [], 'no user needed a subject it is not allowed');
});

test('nats scoped - a trainer of search A takes and answers A\'s children, and cannot read B\'s tasks nor publish B\'s results or events', async () => {
  const controller = await connect('scoped-controller', readFileSync(file('controller.creds'), 'utf8'));
  await ensureStreams(controller.jsm);
  await openSearchQueue(controller, 'sa');
  await openSearchQueue(controller, 'sb');
  await controller.js.publish('nas.tasks.sa', task('sa', 1).data);
  await controller.js.publish('nas.tasks.sb', task('sb', 1).data);
  const before = violations().length;

  const a = await connect('trainer-a', await mintTrainerCreds(signer, 'sa'));
  // Its own work: bind to trainers-sa, take the child, answer it, ack it.
  const consumer = await TrainerConsumer.start(a, { trainerId: 'ta', searchId: 'sa', log: quiet });
  const delivery = await consumer.next(AbortSignal.timeout(10_000));
  assert.equal(delivery?.task.searchId, 'sa');
  const result: ChildResult = { childId: 1, status: 'ok', reward: 0.5, validationByEpoch: [0.5], trainSeconds: 1, paramCount: 1, multAdds: 1, trainer: 'ta' };
  await publishChildResult(a, delivery!.task, result, { generation: delivery!.generation ?? 0 });
  await delivery!.ack();
  await a.js.publish('nas.events.sa', new TextEncoder().encode('{}'));
  consumer.close();
  assert.deepEqual(violations().slice(before), [], 'its own search needs nothing it is refused');

  const denied = (subject: string) => new RegExp(`Permissions Violation for (Publish|Subscription) to "${subject.replace(/[.$*>]/g, (c) => `\\${c}`)}"`);
  // B's tasks: not through B's consumer, not by a consumer of its own on B's subject, not by widening its own.
  await assert.rejects(TrainerConsumer.start(a, { trainerId: 'ta', searchId: 'sb', log: quiet }), denied('$JS.API.CONSUMER.INFO.NAS_TASKS.trainers-sb'));
  await assert.rejects(a.nc.request('$JS.API.CONSUMER.MSG.NEXT.NAS_TASKS.trainers-sb', JSON.stringify({ batch: 1 })), denied('$JS.API.CONSUMER.MSG.NEXT.NAS_TASKS.trainers-sb'));
  await assert.rejects(a.jsm.consumers.add('NAS_TASKS', { durable_name: searchQueueName('sa'), filter_subject: 'nas.tasks.sb', ack_policy: 'explicit' as never }),
    /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.NAS_TASKS/);
  await assert.rejects(a.jsm.consumers.add('NAS_TASKS', { name: 'sneak', filter_subject: 'nas.tasks.sb', ack_policy: 'explicit' as never }),
    /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.NAS_TASKS\.sneak/);
  await assert.rejects(a.jsm.streams.getMessage('NAS_TASKS', { seq: 2 }), denied('$JS.API.STREAM.MSG.GET.NAS_TASKS'));
  const sub = a.nc.subscribe('nas.tasks.>');
  assert.match(String(await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still open'), 5000))])), denied('nas.tasks.>'));
  // B's results and events, and B's replies.
  const bResult = resultSubject('sb', 1, 0);
  await assert.rejects(a.js.publish(bResult, new Uint8Array([1])), denied(bResult));
  await assert.rejects(a.js.publish('nas.results.sb.1.7', new Uint8Array([1])), denied('nas.results.sb.1.7'));
  await assert.rejects(publishChildResult(a, { searchId: 'sb', hash: 'h-sb-1' }, { ...result, reward: 1 }), denied(bResult));
  await assert.rejects(a.js.publish('nas.events.sb', new TextEncoder().encode('{}')), denied('nas.events.sb'));
  await assert.rejects(a.jsm.direct.getMessage('NAS_RESULTS', { last_by_subj: bResult }), denied(`$JS.API.DIRECT.GET.NAS_RESULTS.${bResult}`));
  await assert.rejects(a.jsm.streams.getMessage('NAS_RESULTS', { last_by_subj: bResult }), denied('$JS.API.STREAM.MSG.GET.NAS_RESULTS'));
  const inbox = a.nc.subscribe('_INBOX.trainer.sb.>');
  assert.match(String(await Promise.race([inbox.closed, new Promise((r) => setTimeout(() => r('still open'), 5000))])), denied('_INBOX.trainer.sb.>'));
  // Nor anything the shared trainer role could not do either: queue work, write states or cancel markers.
  await assert.rejects(a.js.publish('nas.tasks.sa', task('sa', 9).data), denied('nas.tasks.sa'));
  await assert.rejects((await new Kvm(a.js).open('nas_cancels')).put('sb', 'stop'), denied('$KV.nas_cancels.sb'));
  await assert.rejects(a.jsm.consumers.delete('NAS_TASKS', searchQueueName('sb')), denied('$JS.API.CONSUMER.DELETE.NAS_TASKS.trainers-sb'));

  // B's child is still B's, untouched, and the server logged each refusal.
  const info = await controller.jsm.consumers.info('NAS_TASKS', searchQueueName('sb'));
  assert.equal(info.num_pending, 1);
  assert.equal(info.num_ack_pending, 0);
  const logged = violations().slice(before).join('\n');
  for (const s of [bResult, 'nas.events.sb', '$JS.API.CONSUMER.MSG.NEXT.NAS_TASKS.trainers-sb']) assert.ok(logged.includes(s), `the server logged the refusal of ${s}`);
  // The permissions name search A only.
  const p = trainerPermissions('sa');
  assert.ok([...p.publish, ...p.subscribe].every((s) => !s.includes('sb')));
  assert.throws(() => trainerPermissions('a.b'), /search id/);
});

test('nats scoped - the controller\'s signing key mints trainer users only; users signed by another key, expired users, clients without TLS or trusting another CA are refused', async () => {
  const forged = await mintUserCreds({ account: signer.account, signingSeed: new TextDecoder().decode(createAccount().getSeed()) }, 'trainer-sa', trainerPermissions('sa'));
  await assert.rejects(connect('forged', forged), /Authorization Violation/);
  // signer.json is a scoped key: a user it signs with permissions of its own (here the controller's) is refused.
  const escalated = await mintUserCreds(signer, 'controller', natsPermissions().controller);
  await assert.rejects(connect('escalated', escalated), /Authorization Violation/);
  const expired = await mintTrainerCreds(signer, 'sa', { expiresInSeconds: -60 });
  await assert.rejects(connect('expired', expired), /Authorization Violation|expired/i);
  // Without the CA: the server requires TLS, so the client must upgrade, and the public roots do not verify it.
  await assert.rejects(connectBus(nats.url, { name: 'plain', creds: readFileSync(file('metrics.creds'), 'utf8'), log: quiet, waitOnFirstConnect: false }), /certificate|TLS/i);
  assert.match(nats.log(), /TLS required for client connections/);
  // Another deployment's CA does not verify this server.
  const other = await generateSecrets({ out: join(dir, 'other') });
  await assert.rejects(connect('wrong-ca', readFileSync(file('metrics.creds'), 'utf8'), { ca: join(other.dir, 'ca.crt') }), /certificate|self.signed|verify/i);
  // The generated users themselves work, each with its own inbox.
  const ok = await connect('metrics-ok', readFileSync(file('metrics.creds'), 'utf8'));
  assert.ok((await ok.jsm.streams.info('NAS_EVENTS')).config.name === 'NAS_EVENTS');
});
