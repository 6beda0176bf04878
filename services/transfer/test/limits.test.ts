/**
 * The transfer service as deployed (config from the environment, NATS,
 * runTransferService): data sets only under NASNET_DATA_DIR, exports only
 * under NASNET_EXPORT_DIR, the operator's size limits, and a bounded queue.
 * The runner trains nothing: it waits until it is stopped, so queued
 * transfers stay queued.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { writeCifar10Folder } from '@nasnet/data/testing';
import * as pb from '@nasnet/proto';
import { NASNET_A } from '@nasnet/search-space';
import type { TransferJob, TransferOutcome } from '@nasnet/transfer';
import { transferConfigFromEnv } from '../src/config.js';
import { runTransferService, type RunningTransfer } from '../src/run.js';
import type { TransferRunHooks, TransferRunner } from '../src/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'transfer-limits-'));
const dataRoot = join(dir, 'data');
const exportRoot = join(dir, 'exports');
let nats: NatsTestServer;
let service: RunningTransfer;
let client: pb.TransferServiceClient;

/** Never finishes a transfer on its own. */
class IdleRunner implements TransferRunner {
  readonly started: TransferJob[] = [];
  run(job: TransferJob, hooks: TransferRunHooks): Promise<TransferOutcome> {
    this.started.push(job);
    return new Promise((_, reject) => hooks.signal.addEventListener('abort', () => reject(hooks.signal.reason as Error), { once: true }));
  }
  async close(): Promise<void> {}
}
const runner = new IdleRunner();

before(async () => {
  mkdirSync(dataRoot, { recursive: true });
  mkdirSync(exportRoot, { recursive: true });
  mkdirSync(join(dir, 'elsewhere'), { recursive: true });
  const cifar = writeCifar10Folder(8, 16);
  cpSync(cifar.dir, join(dataRoot, 'cifar'), { recursive: true });
  cifar.cleanup();
  symlinkSync(join(dir, 'elsewhere'), join(dataRoot, 'escape'));
  symlinkSync(join(dir, 'elsewhere'), join(exportRoot, 'escape'));
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'search: { architectures: 10 }\ntransfer: { imageSize: 64, epochs: 20, filters: 32, cells: 3, batchSize: 64, maxQueued: 2 }\n');
  nats = await startNatsServer();
  const config = transferConfigFromEnv({
    NATS_URL: nats.url, TRANSFER_HOST: '127.0.0.1', TRANSFER_PORT: '0', NASNET_DATA_DIR: dataRoot, NASNET_EXPORT_DIR: exportRoot, NASNET_LIMITS_FILE: limits,
  });
  service = await runTransferService(config, { runner, log: () => {}, datasetOptions: { cifar10: { strict: false, validationSize: 8 } } });
  client = new pb.TransferServiceClient(service.address, credentials.createInsecure());
});
after(async () => {
  client?.close();
  await service?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (over: Partial<pb.TransferSpec> = {}): pb.TransferSpec => pb.TransferSpec.fromPartial({
  name: 'limits', source: { $case: 'genotype', value: pb.genotypeToProto(NASNET_A) }, layout: pb.Layout.LAYOUT_CIFAR,
  size: { $case: 'fixed', value: { cells: 1, filters: 4 } }, dataset: 'cifar10:cifar', recipe: { epochs: 1, batchSize: 8 }, seed: 1, ...over,
});
const start = (s: pb.TransferSpec) => new Promise<pb.StartTransferResponse>((resolve, reject) =>
  client.startTransfer({ spec: s, requestId: '' }, new Metadata(), (err, res) => (err ? reject(err) : resolve(res))));
const refused = (s: pb.TransferSpec) => start(s).then(() => assert.fail('accepted'), (err: ServiceError) => err);
const fieldOf = (err: ServiceError) => err.metadata?.get('field')[0] as string | undefined;

test('transfer confined paths - data sets and exports outside their roots are refused without naming them', async () => {
  const cases: Array<[Partial<pb.TransferSpec>, string]> = [
    [{ dataset: 'cifar10:/etc' }, 'spec.dataset'],
    [{ dataset: 'imagefolder:/any' }, 'spec.dataset'],
    [{ dataset: 'cifar10:../../../x' }, 'spec.dataset'],
    [{ dataset: 'cifar10:escape' }, 'spec.dataset'], // a symlink inside the root that points out
    [{ exportPath: '/var/elsewhere/model' }, 'spec.export_path'],
    [{ exportPath: '../../../x' }, 'spec.export_path'],
    [{ exportPath: 'escape/model' }, 'spec.export_path'],
  ];
  for (const [over, field] of cases) {
    const err = await refused(spec(over));
    assert.equal(err.code, status.INVALID_ARGUMENT, `${JSON.stringify(over)}: ${err.details}`);
    assert.equal(fieldOf(err), field);
    assert.match(err.details, /must be a path inside the (data|export) directory of this server/);
    for (const leak of ['/etc', '/any', '/var/elsewhere', 'elsewhere', dir]) assert.ok(!err.details.includes(leak), `${err.details} names ${leak}`);
  }
  assert.equal(runner.started.length, 0, 'nothing refused was run');
});

test('transfer limits - sizes above the operator limits are refused naming the field and the limit', async () => {
  const cases: Array<[Partial<pb.TransferSpec>, string, string]> = [
    [{ recipe: pb.TransferRecipe.fromPartial({ epochs: 1, batchSize: 8, imageSize: 65_536 }) }, 'spec.recipe.image_size', 'limit of 64'],
    [{ recipe: pb.TransferRecipe.fromPartial({ epochs: 21, batchSize: 8 }) }, 'spec.recipe.epochs', 'limit of 20'],
    [{ recipe: pb.TransferRecipe.fromPartial({ epochs: 1, batchSize: 65 }) }, 'spec.recipe.batch_size', 'limit of 64'],
    [{ size: { $case: 'fixed', value: { cells: 4, filters: 4 } } }, 'spec.fixed.cells', 'limit of 3'],
    [{ size: { $case: 'fixed', value: { cells: 1, filters: 33 } } }, 'spec.fixed.filters', 'limit of 32'],
  ];
  for (const [over, field, text] of cases) {
    const err = await refused(spec(over));
    assert.equal(err.code, status.INVALID_ARGUMENT, `${field}: ${err.details}`);
    assert.equal(fieldOf(err), field);
    assert.ok(err.details.includes(text), err.details);
  }
});

test('transfer queue - bounded: past maxQueued waiting transfers, StartTransfer is RESOURCE_EXHAUSTED', async () => {
  // One trains (maxConcurrent 1), two wait (maxQueued 2): the fourth is refused.
  const first = await start(spec({ exportPath: 'models/a' }));
  assert.equal(first.status?.spec?.exportPath, join(realpathSync(exportRoot), 'models', 'a'), 'a relative export path is taken from the export root');
  await start(spec());
  await start(spec());
  const err = await refused(spec());
  assert.equal(err.code, status.RESOURCE_EXHAUSTED);
  assert.match(err.details, /transfer queue is full \(limit 2 waiting transfers, maxQueued\)/);
  // Cancelling a queued one makes room.
  const list = await new Promise<pb.ListTransfersResponse>((resolve, reject) => client.listTransfers({ states: [pb.TransferState.TRANSFER_STATE_PENDING], pageSize: 10, pageToken: '' }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
  await new Promise((resolve, reject) => client.cancelTransfer({ transferId: list.transfers[0]!.transferId, reason: 'room' }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
  await start(spec());
});
