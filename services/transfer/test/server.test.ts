import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MODEL_JSON_FILE, WEIGHTS_FILE, loadModel, planNetwork } from '@nasnet/network';
import { MemoryStateStore } from '@nasnet/bus';
import * as pb from '@nasnet/proto';
import { NASNET_A } from '@nasnet/search-space';
import { SearchNotFoundError, startTransferServer } from '../src/index.js';
import type { TransferServer } from '../src/index.js';
import { writeCifar10Folder } from '@nasnet/data/testing';

const work = mkdtempSync(join(tmpdir(), 'nasnet-transfer-service-'));
const data = writeCifar10Folder(8, 16);
// The transfers' store; a second server on it (the restart below) finds them.
const store = new MemoryStateStore<unknown>();
// 40 training records, 8 held out for validation, 16 test records.
const datasetOptions = { cifar10: { strict: false, validationSize: 8 } };
const resolveSearchBest = (id: string) => {
  if (id === 'search-1') return NASNET_A;
  throw new SearchNotFoundError(id);
};
let server: TransferServer;
let client: pb.TransferServiceClient;

before(async () => {
  await tf.setBackend('cpu');
  server = await startTransferServer({ port: 0, datasetOptions, store, resolveSearchBest });
  client = new pb.TransferServiceClient(server.address, credentials.createInsecure());
});

after(async () => {
  client?.close();
  await server?.close();
  data.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function call<Req, Res>(method: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => method.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));
}
const start = (spec: Partial<pb.TransferSpec>, requestId = '') =>
  call<pb.StartTransferRequest, pb.StartTransferResponse>(client.startTransfer, { spec: pb.TransferSpec.fromPartial(spec), requestId });
const get = (transferId: string) => call<pb.GetTransferRequest, pb.GetTransferResponse>(client.getTransfer, { transferId });
const cancel = (transferId: string, reason = 'test') => call<pb.CancelTransferRequest, pb.CancelTransferResponse>(client.cancelTransfer, { transferId, reason });
const list = (req: Partial<pb.ListTransfersRequest>) => call<pb.ListTransfersRequest, pb.ListTransfersResponse>(client.listTransfers, pb.ListTransfersRequest.fromPartial(req));

/** Collects a watch stream until the server ends it; `onEvent` may act on the way. */
function watch(transferId: string, fromSequence = 0, onEvent?: (e: pb.TransferEvent) => void, on = client): Promise<pb.TransferEvent[]> {
  return new Promise((resolve, reject) => {
    const events: pb.TransferEvent[] = [];
    const stream = on.watchTransfer({ transferId, fromSequence });
    stream.on('data', (e: pb.TransferEvent) => { events.push(e); onEvent?.(e); });
    stream.on('end', () => resolve(events));
    stream.on('error', reject);
  });
}

const genotype = pb.genotypeToProto(NASNET_A);
const tinySpec = (over: Partial<pb.TransferSpec> = {}): Partial<pb.TransferSpec> => ({
  name: 'tiny', source: { $case: 'genotype', value: genotype }, layout: pb.Layout.LAYOUT_CIFAR,
  size: { $case: 'fixed', value: { cells: 1, filters: 4 } }, dataset: `cifar10:${data.dir}`,
  recipe: { epochs: 1, batchSize: 8 }, seed: 1, ...over,
});
const states = (events: pb.TransferEvent[]) =>
  events.flatMap((e) => (e.event?.$case === 'stateChanged' ? [pb.transferStateToJSON(e.event.value.current)] : []));

async function rejectsWith(p: Promise<unknown>, code: status, text: string): Promise<void> {
  await assert.rejects(p, (err: ServiceError) => {
    assert.equal(err.code, code, `${err.code} ${err.details}`);
    assert.ok(err.details.includes(text), `'${err.details}' should name ${text}`);
    return true;
  });
}

test('transfer service - trains NASNet-A 1@96 end to end: start, watch to completion, export loads and predicts, survives a restart', async (t) => {
  const exportPath = join(work, 'model');
  const res = await start(tinySpec({ exportPath }), 'request-1');
  const id = res.transferId;
  const net = planNetwork(NASNET_A, { layout: 'cifar', cells: 1, initialFilters: 4 });
  assert.equal(res.status?.paramCount, net.paramCount);
  assert.equal(res.status?.multAdds, net.multAdds);
  assert.deepEqual([res.status?.cells, res.status?.filters], [1, 4]);
  // The spec comes back with the server's defaults: the paper's final recipe.
  assert.deepEqual(res.status?.spec?.recipe, {
    epochs: 1, batchSize: 8, learningRate: 0.025, momentum: 0.9, weightDecay: 5e-4, auxHead: true, auxWeight: 0.4,
    dropPathKeepProb: 0.6, cutout: true, cutoutSize: 16, gradClipNorm: 5, imageSize: 32, maxSteps: 0,
    optimizer: pb.Optimizer.OPTIMIZER_SGD, lrSchedule: pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE, lrDecayRate: 0.97,
    lrDecayEpochs: 2.4, labelSmoothing: 0, denseDropoutKeepProb: 1, checkpointCells: false,
  });
  assert.equal((await start(tinySpec({ exportPath }), 'request-1')).transferId, id, 'the same request id gives the same transfer');

  const events = await watch(id);
  t.diagnostic(`${events.length} events: ${states(events).join(' -> ')}`);
  assert.deepEqual(events.map((e) => e.sequence), events.map((_, i) => i + 1));
  assert.deepEqual(states(events), ['TRANSFER_STATE_PENDING', 'TRANSFER_STATE_RUNNING', 'TRANSFER_STATE_SUCCEEDED']);
  const progress = events.flatMap((e) => (e.event?.$case === 'progress' ? [e.event.value] : []));
  assert.ok(progress.length >= 1 && progress.at(-1)!.step === 4 && progress.at(-1)!.epoch === 1, JSON.stringify(progress));
  const finished = events.find((e) => e.event?.$case === 'finished');
  assert.ok(finished && events.indexOf(finished) === events.length - 2, 'finished comes right before SUCCEEDED');

  const s = (await get(id)).status!;
  assert.equal(s.state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  assert.equal(s.lastSequence, events.length);
  assert.equal(s.result?.exportUri, exportPath);
  assert.ok(s.result!.testAccuracy >= 0 && s.result!.testAccuracy <= 1);
  assert.equal(s.paramCount, net.paramCount);
  assert.ok(existsSync(join(exportPath, MODEL_JSON_FILE)) && existsSync(join(exportPath, WEIGHTS_FILE)));
  const model = await loadModel(exportPath);
  const out = model.predict(tf.ones([1, 32, 32, 3])) as tf.Tensor | tf.Tensor[];
  const logits = Array.isArray(out) ? out[0]! : out;
  assert.deepEqual(logits.shape, [1, 10]);
  assert.ok(Array.from(await logits.data()).every(Number.isFinite));
  tf.dispose(out);
  model.dispose();

  // Resume from any sequence number; cancelling a finished transfer changes nothing.
  const tail = await watch(id, events.length - 2);
  assert.deepEqual(tail, events.slice(events.length - 3));
  assert.equal((await cancel(id)).status?.state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);

  // A new server on the same store knows the transfer and its events.
  await server.close();
  client.close();
  server = await startTransferServer({ port: 0, datasetOptions, store, resolveSearchBest });
  client = new pb.TransferServiceClient(server.address, credentials.createInsecure());
  assert.deepEqual((await get(id)).status, s);
  assert.deepEqual(await watch(id), events);
});

test('transfer service - recipe.checkpoint_cells reaches the training process: the filled spec keeps it, the run reports checkpointed cells', async () => {
  const res = await start(tinySpec({ recipe: { epochs: 1, batchSize: 8, maxSteps: 1, checkpointCells: true } }));
  assert.equal(res.status?.spec?.recipe?.checkpointCells, true);
  const events = await watch(res.transferId);
  assert.deepEqual(states(events), ['TRANSFER_STATE_PENDING', 'TRANSFER_STATE_RUNNING', 'TRANSFER_STATE_SUCCEEDED']);
  // The line is written from the outcome runTransfer returned in the worker process (TransferOutcome.checkpointCells).
  const logs = events.flatMap((e) => (e.event?.$case === 'log' ? [e.event.value.message] : []));
  assert.ok(logs.some((l) => /^validation accuracy .* \(cells checkpointed: recomputed in the backward pass\)$/.test(l)), logs.join('\n'));
  assert.equal((await get(res.transferId)).status?.spec?.recipe?.checkpointCells, true);
});

test('transfer service - INVALID_ARGUMENT names the spec field; NOT_FOUND for unknown transfers and searches', async () => {
  await rejectsWith(start({ ...tinySpec(), source: undefined }), status.INVALID_ARGUMENT, 'spec.source');
  await rejectsWith(start(tinySpec({ recipe: { batchSize: 0 } })), status.INVALID_ARGUMENT, 'spec.recipe.batch_size');
  await rejectsWith(start(tinySpec({ recipe: { gradClipNorm: -1 } })), status.INVALID_ARGUMENT, 'spec.recipe.grad_clip_norm');
  await rejectsWith(start(tinySpec({ size: { $case: 'fixed', value: { cells: 1, filters: 0 } } })), status.INVALID_ARGUMENT, 'spec.fixed.filters');
  await rejectsWith(start(tinySpec({ size: { $case: 'budgetParams', value: 1000 } })), status.INVALID_ARGUMENT, 'spec.budget_params');
  await rejectsWith(start(tinySpec({ dataset: 'imagenet' })), status.INVALID_ARGUMENT, 'spec.dataset');
  await rejectsWith(start(tinySpec({ layout: 7 as pb.Layout })), status.INVALID_ARGUMENT, 'spec.layout');
  await rejectsWith(start(tinySpec({ resources: pb.TrainerResources.fromPartial({ backend: 'tpu' }) })), status.INVALID_ARGUMENT, 'spec.resources.backend');
  const badOp = pb.genotypeToProto(NASNET_A);
  badOp.normal!.blocks[0]!.op1 = pb.Operation.OPERATION_UNSPECIFIED;
  await rejectsWith(start(tinySpec({ source: { $case: 'genotype', value: badOp } })), status.INVALID_ARGUMENT, 'spec.genotype.normal.blocks[0].op1');
  await rejectsWith(start(tinySpec({ dataset: `cifar10:${join(work, 'missing')}`, recipe: { imageSize: 64 } })), status.INVALID_ARGUMENT, 'spec.recipe.image_size');
  await rejectsWith(list({ pageToken: 'abc' }), status.INVALID_ARGUMENT, 'page_token');
  await rejectsWith(start(tinySpec({ dataset: `cifar10:${join(work, 'missing')}` })), status.FAILED_PRECONDITION, `spec.dataset 'cifar10:${join(work, 'missing')}'`);

  await rejectsWith(get('transfer-999'), status.NOT_FOUND, 'transfer-999');
  await rejectsWith(cancel('transfer-999'), status.NOT_FOUND, 'transfer-999');
  await rejectsWith(watch('transfer-999'), status.NOT_FOUND, 'transfer-999');
  await rejectsWith(start(tinySpec({ source: { $case: 'searchId', value: 'search-0' } })), status.NOT_FOUND, 'search-0');
  // A known search resolves to its best genotype.
  const bySearch = await start(tinySpec({ source: { $case: 'searchId', value: 'search-1' }, recipe: { epochs: 100, batchSize: 8 } }));
  assert.deepEqual(pb.genotypeFromProto(bySearch.status!.genotype!), NASNET_A);
  assert.equal((await cancel(bySearch.transferId)).status?.state, pb.TransferState.TRANSFER_STATE_CANCELLED);
});

test('transfer service - cancel stops running and pending transfers while the server keeps answering', async () => {
  const long = tinySpec({ recipe: { epochs: 500, batchSize: 8 } });
  const a = (await start(long)).transferId;
  const b = (await start(long)).transferId; // waits: one transfer at a time
  assert.equal((await get(b)).status?.state, pb.TransferState.TRANSFER_STATE_PENDING);
  let cancelled: Promise<pb.CancelTransferResponse> | undefined;
  let latencyMs = 0;
  const events = await watch(a, 0, (e) => {
    if (e.event?.$case === 'progress' && !cancelled) {
      const t0 = performance.now();
      cancelled = get(a).then((g) => {
        latencyMs = performance.now() - t0;
        assert.equal(g.status?.state, pb.TransferState.TRANSFER_STATE_RUNNING);
        return cancel(a, 'enough');
      });
    }
  });
  const c = await cancelled!;
  assert.equal(c.status?.state, pb.TransferState.TRANSFER_STATE_CANCELLED);
  assert.equal(c.status?.message, 'enough');
  assert.ok(latencyMs < 1000, `GetTransfer took ${latencyMs} ms while training`);
  assert.equal(states(events).at(-1), 'TRANSFER_STATE_CANCELLED');
  assert.ok(!events.some((e) => e.event?.$case === 'finished'));

  const pending = await cancel(b);
  assert.equal(pending.status?.state, pb.TransferState.TRANSFER_STATE_CANCELLED);
  assert.deepEqual(states(await watch(b)), ['TRANSFER_STATE_PENDING', 'TRANSFER_STATE_CANCELLED'], 'it never ran');

  const page1 = await list({ pageSize: 2, states: [pb.TransferState.TRANSFER_STATE_CANCELLED] });
  assert.deepEqual(page1.transfers.map((s) => s.transferId), [b, a]);
  const page2 = await list({ pageSize: 2, pageToken: page1.nextPageToken, states: [pb.TransferState.TRANSFER_STATE_CANCELLED] });
  assert.ok(page2.transfers.every((s) => s.state === pb.TransferState.TRANSFER_STATE_CANCELLED && Number(s.transferId.split('-')[1]) < Number(a.split('-')[1])));
});
