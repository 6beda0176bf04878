/**
 * The transfer service keeps its transfers in JetStream KV (bucket
 * nas_transfers, through the job registry): restarted mid-transfer, after a
 * clean stop or after losing its NATS connection like a killed pod, it
 * queues the transfer again and finishes it; a corrupt stored entry is
 * quarantined and everything else recovers; a StartTransfer while the
 * store is down fails and leaves nothing behind.
 *
 * The runner here trains nothing: it reports one progress step, then
 * waits for its gate (or its abort), so the tests decide when a transfer
 * is "mid-training". The runner is not what these tests are about.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { connectBus, KV_TRANSFERS, KvStateStore, type BusConnection } from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import * as pb from '@nasnet/proto';
import { JobStoreError } from '@nasnet/registry';
import { NASNET_A } from '@nasnet/search-space';
import type { TransferJob, TransferOutcome } from '@nasnet/transfer';
import { runTransferService, type RunningTransfer } from '../src/run.js';
import { startTransferServer } from '../src/server.js';
import type { TransferRunHooks, TransferRunner } from '../src/runner.js';

const nats = await startNatsServer();
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await nats.stop();
});

/** Runs that wait for `release()` (or their abort signal); records every job it was given. */
class GatedRunner implements TransferRunner {
  readonly started: TransferJob[] = [];
  private waiting: Array<() => void> = [];
  private startedWaiters: Array<() => void> = [];

  async run(job: TransferJob, hooks: TransferRunHooks): Promise<TransferOutcome> {
    this.started.push(job);
    for (const w of this.startedWaiters.splice(0)) w();
    hooks.onProgress({ epoch: 1, totalEpochs: 1, step: 1, stepsPerEpoch: 4, loss: 2.3, trainAccuracy: 0.1, imagesPerSec: 100 });
    await new Promise<void>((resolve, reject) => {
      this.waiting.push(resolve);
      hooks.signal.addEventListener('abort', () => reject(hooks.signal.reason as Error), { once: true });
    });
    return {
      cells: 1, filters: 24, initialFilters: 4, paramCount: 1234, multAdds: 5678, testAccuracy: 0.5, validationAccuracy: 0.4, validationByEpoch: [0.4],
      exportPath: null, trainSeconds: 1, steps: 4, imagesPerSec: 100, trainedBy: 'trainChild', checkpointCells: false,
    };
  }

  /** Resolves once `n` runs have started. */
  async whenStarted(n: number): Promise<void> {
    while (this.started.length < n) await new Promise<void>((r) => this.startedWaiters.push(r));
  }

  release(): void {
    for (const r of this.waiting.splice(0)) r();
  }

  async close(): Promise<void> {}
}

const config = (over: Partial<Parameters<typeof runTransferService>[0]> = {}) => ({
  nats: { url: nats.url }, host: '127.0.0.1', port: 0, tokens: [], maxConcurrent: 1, ...over,
});

async function service(runner: TransferRunner, log: string[] = []): Promise<RunningTransfer> {
  const s = await runTransferService(config(), { runner, log: (l) => log.push(l) });
  closers.push(() => s.close());
  return s;
}

const spec = (name: string) => pb.TransferSpec.fromPartial({
  name, source: { $case: 'genotype', value: pb.genotypeToProto(NASNET_A) }, layout: pb.Layout.LAYOUT_CIFAR,
  size: { $case: 'fixed', value: { cells: 1, filters: 24 } }, dataset: 'synthetic', recipe: { epochs: 1, batchSize: 8 }, seed: 1,
});
const start = (s: RunningTransfer, name: string, requestId = '') => s.manager.start({ spec: spec(name), requestId });

async function events(s: RunningTransfer, id: string): Promise<pb.TransferEvent[]> {
  const out: pb.TransferEvent[] = [];
  await new Promise<void>((resolve) => { void s.manager.watch(id, 0, (e) => (e === 'end' ? resolve() : out.push(e))); });
  return out;
}
const stateNames = (evs: pb.TransferEvent[]) => evs.flatMap((e) => (e.event?.$case === 'stateChanged' ? [pb.transferStateToJSON(e.event.value.current)] : []));
const logs = (evs: pb.TransferEvent[]) => evs.flatMap((e) => (e.event?.$case === 'log' ? [e.event.value.message] : []));

async function clearBucket(): Promise<void> {
  const bus = await connectBus(nats.url, { name: 'cleaner', log: () => {} });
  try {
    const store = await KvStateStore.open<unknown>(bus, { bucket: KV_TRANSFERS, create: {} });
    for (const k of await store.keys()) await store.delete(k);
  } finally {
    await bus.close();
  }
}

test('transfer restart - stopped mid-transfer, the next service resumes it from KV and finishes it (training starts over, its log says so)', { timeout: 60_000 }, async () => {
  await clearBucket();
  const first = new GatedRunner();
  const a = await service(first);
  const { transferId } = await start(a, 'resume-me', 'req-resume');
  const waiting = (await start(a, 'queued-behind')).transferId;
  await first.whenStarted(1);
  assert.equal((await a.manager.get(transferId)).state, pb.TransferState.TRANSFER_STATE_RUNNING);
  await a.close();

  const second = new GatedRunner();
  const b = await service(second);
  // The same request id after the restart is the same transfer.
  assert.equal((await start(b, 'resume-me', 'req-resume')).transferId, transferId);
  await second.whenStarted(1);
  assert.equal(second.started[0]!.name, 'resume-me', 'the running one goes first, the waiting one stays queued');
  assert.equal((await b.manager.get(waiting)).state, pb.TransferState.TRANSFER_STATE_PENDING);
  second.release();
  await second.whenStarted(2);
  second.release();
  const evs = await events(b, transferId);
  assert.deepEqual(stateNames(evs), ['TRANSFER_STATE_PENDING', 'TRANSFER_STATE_RUNNING', 'TRANSFER_STATE_PENDING', 'TRANSFER_STATE_RUNNING', 'TRANSFER_STATE_SUCCEEDED']);
  assert.deepEqual(evs.map((e) => e.sequence), evs.map((_, i) => i + 1), 'one numbering across both services');
  assert.ok(logs(evs).some((l) => /stopping; this transfer trains again from the start/.test(l)), logs(evs).join('\n'));
  assert.ok(logs(evs).some((l) => /restarted while this transfer was running; it is queued again and trains from the start/.test(l)), logs(evs).join('\n'));
  const done = await b.manager.get(transferId);
  assert.equal(done.state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  assert.equal(done.result?.testAccuracy, 0.5);
  assert.equal((await events(b, waiting)).length > 0 && (await b.manager.get(waiting)).state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
});

test('transfer restart - a service that loses NATS mid-transfer (a killed pod) leaves it running in KV; the next one resumes it', { timeout: 60_000 }, async () => {
  await clearBucket();
  // The first service on a connection of its own, so the test can cut it like a dying pod.
  const bus: BusConnection = await connectBus(nats.url, { name: 'doomed', log: () => {} });
  const store = await KvStateStore.open<unknown>(bus, { bucket: KV_TRANSFERS, create: {} });
  const doomedRunner = new GatedRunner();
  const doomed = await startTransferServer({ port: 0, store, runner: doomedRunner, saveEveryMs: 0 });
  closers.push(() => doomed.close());
  const { transferId } = await doomed.manager.start({ spec: spec('crash'), requestId: '' });
  await doomedRunner.whenStarted(1);
  // Wait until KV says RUNNING, then the connection dies with the pod.
  for (let i = 0; i < 100; i++) {
    if ((await store.get(transferId) as { runState?: string } | undefined)?.runState === 'running') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await bus.close();

  const runner = new GatedRunner();
  const b = await service(runner);
  await runner.whenStarted(1);
  assert.equal(runner.started[0]!.name, 'crash');
  runner.release();
  const evs = await events(b, transferId);
  assert.equal(stateNames(evs).at(-1), 'TRANSFER_STATE_SUCCEEDED');
  assert.ok(logs(evs).some((l) => /restarted while this transfer was running/.test(l)));
});

test('transfer restart - a corrupt stored transfer is quarantined and everything else recovers', { timeout: 60_000 }, async () => {
  await clearBucket();
  const runner = new GatedRunner();
  const a = await service(runner);
  const ok = (await start(a, 'survivor')).transferId;
  await runner.whenStarted(1);
  runner.release();
  await events(a, ok);
  const pending = (await start(a, 'pending-one')).transferId;
  await runner.whenStarted(2);
  await a.close();
  // Damage: bytes that are no JSON under one key, and a JSON value that is no transfer under another.
  const bus = await connectBus(nats.url, { name: 'vandal', log: () => {} });
  closers.push(() => bus.close());
  const kv = await new Kvm(bus.js).open(KV_TRANSFERS);
  await kv.put('transfer-90', 'garbage{');
  await kv.put('transfer-91', JSON.stringify({ v: 1, value: { id: 'transfer-91', runState: 'running', createdAtMs: 1, lastSequence: 0, spec: { nothing: true } } }));

  const log: string[] = [];
  const second = new GatedRunner();
  const b = await service(second, log);
  assert.deepEqual(b.manager.quarantined().map((q) => [q.key, q.location]), [['transfer-90', 'transfer-90'], ['transfer-91', 'quarantine=transfer-91']]);
  assert.ok(log.some((l) => /2 stored transfer entries are quarantined/.test(l)), log.join('\n'));
  assert.equal((await b.manager.get(ok)).state, pb.TransferState.TRANSFER_STATE_SUCCEEDED);
  await second.whenStarted(1);
  assert.equal(second.started[0]!.name, 'pending-one');
  second.release();
  assert.equal(stateNames(await events(b, pending)).at(-1), 'TRANSFER_STATE_SUCCEEDED');
  const listed = await b.manager.list(pb.ListTransfersRequest.fromPartial({}));
  assert.deepEqual(listed.transfers.map((t) => t.transferId), [pending, ok]);
});

test('transfer restart - StartTransfer while KV is down fails cleanly and leaves nothing visible', { timeout: 60_000 }, async () => {
  await clearBucket();
  const runner = new GatedRunner();
  const bus = await connectBus(nats.url, { name: 'outage', log: () => {}, apiTimeoutMs: 1500, reconnectTimeWaitMs: 200 });
  closers.push(() => bus.close());
  const store = await KvStateStore.open<unknown>(bus, { bucket: KV_TRANSFERS, create: {} });
  const s = await startTransferServer({ port: 0, store, runner });
  closers.push(() => s.close());
  const down = nats.restart(4000);
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(s.manager.start({ spec: spec('outage'), requestId: 'req-outage' }), (err: Error) => err instanceof JobStoreError && /transfer transfer-1 was not accepted/.test(err.message));
  await down;
  assert.deepEqual((await s.manager.list(pb.ListTransfersRequest.fromPartial({}))).transfers, []);
  await assert.rejects(s.manager.get('transfer-1'), /no transfer with id 'transfer-1'/);
  assert.equal(runner.started.length, 0, 'nothing was queued');
});
