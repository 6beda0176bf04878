import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelBoard, closeSearchQueue, connectBus, ensureStreams, JetStreamExecutor, listSearchQueues, openSearchQueue, SearchQueueError,
  SharedQueueConflictError, STREAM_TASKS, TrainerConsumer,
  type BusConnection,
} from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import { runTrainerLoop, type TrainerLoopStats, type TrainFunction } from '../src/index.js';

// Its own server: per-search queues and the shared `trainers` consumer cannot live on one work-queue stream.
let server: NatsTestServer;
const connections: BusConnection[] = [];
before(async () => { server = await startNatsServer(); });
after(async () => {
  for (const c of connections) await c.nc.close().catch(() => {});
  await server.stop();
});

async function connect(name: string): Promise<BusConnection> {
  const bus = await connectBus(server.url, { name, log: () => {}, reconnectTimeWaitMs: 100 });
  connections.push(bus);
  await ensureStreams(bus.jsm, { storage: 'memory' });
  return bus;
}

function task(searchId: string, childId: number): ChildTask {
  const genotype = sampleGenotype(new Rng(childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs: 1 }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

/** Trains nothing: waits `ms` (child 99: a minute), honouring the signal, and answers reward childId / 100. */
function slowTrain(ms: number): TrainFunction {
  return async (t, { signal }) => {
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, t.childId === 99 ? 60_000 : ms);
      signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
    });
    return { childId: t.childId, status: 'ok', reward: t.childId / 100, validationByEpoch: [t.childId / 100], trainSeconds: 0.01, paramCount: 1, multAdds: 1 };
  };
}

function loop(bus: BusConnection, trainerId: string, searchId: string, train: TrainFunction): Promise<TrainerLoopStats> {
  return runTrainerLoop({ bus, trainerId, searchId, train, pullExpiresMs: 1000, searchCheckMs: 100, log: process.env.DEBUG_LOOP ? (l) => console.error(l) : () => {} });
}

test('search queues - each search\'s trainers take only its children; a trainer exits when its search\'s queue is deleted', { timeout: 60_000 }, async () => {
  const controller = await connect('ctl');
  await openSearchQueue(controller, 'sa');
  await openSearchQueue(controller, 'sb');
  assert.deepEqual((await listSearchQueues(controller)).sort(), ['sa', 'sb']);
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const loops = [
    loop(await connect('a-1'), 'a-1', 'sa', slowTrain(5)), loop(await connect('a-2'), 'a-2', 'sa', slowTrain(5)),
    loop(await connect('b-1'), 'b-1', 'sb', slowTrain(5)),
  ];
  const results = await Promise.all([
    ...Array.from({ length: 6 }, (_, i) => executor.execute(task('sa', i + 1))),
    ...Array.from({ length: 4 }, (_, i) => executor.execute(task('sb', i + 1))),
  ]);
  assert.deepEqual(results.slice(0, 6).map((r) => [r.status, r.trainer?.startsWith('a-')]), Array(6).fill(['ok', true]));
  assert.deepEqual(results.slice(6).map((r) => [r.status, r.trainer]), Array(4).fill(['ok', 'b-1']));

  await closeSearchQueue(controller, 'sa');
  const [a1, a2] = await Promise.all(loops.slice(0, 2));
  assert.equal(a1!.searchEnded, 'its work queue is gone');
  assert.equal(a2!.searchEnded, 'its work queue is gone');
  assert.equal(a1!.trained + a2!.trained, 6);
  assert.deepEqual(await listSearchQueues(controller), ['sb']);

  // A search cancelled in nas_cancels ends its trainers too, the one training a child included.
  const held = executor.execute(task('sb', 99));
  await new Promise((r) => setTimeout(r, 300));
  await (await CancelBoard.open(controller)).cancel('sb', 'stop it');
  const b1 = await loops[2]!;
  assert.match(b1.searchEnded ?? '', /cancelled: stop it/);
  assert.equal(b1.trained, 4);
  assert.equal(b1.cancelled, 1);
  assert.equal((await held).status, 'cancelled', 'the child in training was stopped and answered');
  await closeSearchQueue(controller, 'sb');
  await executor.close();
});

test('search queues - a trainer of a search without a queue returns at once; the shared queue is refused next to search queues', { timeout: 60_000 }, async () => {
  const bus = await connect('late');
  const stats = await loop(bus, 'late-1', 'gone', slowTrain(5));
  assert.equal(stats.searchEnded, 'its work queue is gone');
  assert.equal(stats.trained, 0);

  await openSearchQueue(bus, 'sc');
  await assert.rejects(TrainerConsumer.start(bus, { trainerId: 'shared', log: () => {} }), SharedQueueConflictError);
  await closeSearchQueue(bus, 'sc');
  // And the other way round: with the shared consumer in place, a search queue is refused with the reason.
  const shared = await TrainerConsumer.start(bus, { trainerId: 'shared', log: () => {} });
  shared.close();
  await assert.rejects(openSearchQueue(bus, 'sd'), (err: Error) => err instanceof SearchQueueError && /NASNET_LAUNCHER=none/.test(err.message));
  await bus.jsm.consumers.delete(STREAM_TASKS, 'trainers');
  await assert.rejects(openSearchQueue(bus, 'bad.id'), SearchQueueError);
});
