import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import {
  closeSearchQueue, ExecutorClosedError, JetStreamExecutor, KV_SEARCHES, KvStateStore, openSearchQueue, publishChildResult, queueEpochKey,
  readQueueEpoch, SearchQueueError, STREAM_TASKS, TrainerConsumer, taskSubject, type BusConnection, type TaskDelivery,
} from '../src/index.js';
import { useNatsServer } from './nats-server.js';

// Its own server: per-search queues cannot live beside the shared `trainers` consumer other files use.
const nats = useNatsServer();

function task(searchId: string, childId: number): ChildTask {
  const genotype = sampleGenotype(new Rng(2000 + childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs: 1 }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

async function queued(bus: BusConnection, searchId: string): Promise<number> {
  const info = await bus.jsm.streams.info(STREAM_TASKS, { subjects_filter: taskSubject(searchId) });
  return info.state.subjects?.[taskSubject(searchId)] ?? 0;
}

/** Waits until `n` tasks of the search are queued; fails with how many there are after 10 s. */
async function untilQueued(bus: BusConnection, searchId: string, n: number): Promise<void> {
  let now = -1;
  for (let i = 0; i < 200; i++) {
    if ((now = await queued(bus, searchId)) === n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${now} tasks of ${searchId} queued, expected ${n}`);
}

/** The next task of the search's own queue, or null when none comes within 10 s. */
async function nextTask(bus: BusConnection, searchId: string, trainerId: string): Promise<{ consumer: TrainerConsumer; delivery: TaskDelivery | null }> {
  const consumer = await TrainerConsumer.start(bus, { trainerId, searchId, pullExpiresMs: 1000, log: () => {} });
  const delivery = await consumer.next(AbortSignal.timeout(10_000)).catch(() => null);
  return { consumer, delivery };
}

/** Starts an execute of `t` in a fresh executor, waits until its task is queued, and closes that executor (a controller that stops). */
async function queueThenStop(bus: BusConnection, t: ChildTask): Promise<void> {
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const pending = executor.execute(t);
  await untilQueued(bus, t.searchId, 1);
  await executor.close();
  await assert.rejects(pending, ExecutorClosedError);
}

const ok = (childId: number, reward: number) => ({ childId, status: 'ok' as const, reward, validationByEpoch: [reward], trainSeconds: 0.01, paramCount: 1, multAdds: 1 });

test('queue epoch - a resumed search queues again a child whose task its closed queue purged, and its trainer gets it', { timeout: 60_000 }, async () => {
  const bus = await nats.connect('epoch-controller');
  const t = task('resumed', 7);
  await openSearchQueue(bus, 'resumed');
  assert.equal(await readQueueEpoch(bus, 'resumed'), 0);
  // Queued, never taken: the search stops and its queue is closed (the task is purged).
  await queueThenStop(bus, t);
  await closeSearchQueue(bus, 'resumed');
  assert.equal(await queued(bus, 'resumed'), 0, 'the close purged the task');
  assert.equal(await readQueueEpoch(bus, 'resumed'), 1);

  // The search resumes (within the duplicate window): its queue again, a new executor, the same child.
  await openSearchQueue(bus, 'resumed');
  const executor = new JetStreamExecutor(await nats.connect('epoch-controller-2'), { log: () => {} });
  const again = executor.execute(t);
  await untilQueued(bus, 'resumed', 1);
  const { consumer, delivery } = await nextTask(await nats.connect('epoch-trainer'), 'resumed', 'epoch-trainer');
  try {
    assert.ok(delivery, 'a trainer of the resumed search received the child');
    assert.equal(delivery.task.childId, 7);
    assert.equal(delivery.task.hash, t.hash);
    await publishChildResult(bus, delivery.task, ok(7, 0.75), { generation: delivery.generation });
    await delivery.ack();
    assert.equal((await again).reward, 0.75);
  } finally {
    consumer.close();
    await executor.close();
  }
  await closeSearchQueue(bus, 'resumed');
});

test('queue epoch - without a close in between, a restarted controller queues an in-flight child once, also after an earlier close', { timeout: 60_000 }, async () => {
  const bus = await nats.connect('epoch-restart');
  const t = task('restarted', 3);
  // One close before, so the ids carry epoch 1: they too must stay the same across controller restarts.
  await openSearchQueue(bus, 'restarted');
  await closeSearchQueue(bus, 'restarted');
  await openSearchQueue(bus, 'restarted');
  assert.equal(await readQueueEpoch(bus, 'restarted'), 1);
  await queueThenStop(bus, t);
  // The next controller finds the queue as it was (openSearchQueue leaves it) and re-dispatches the child.
  await openSearchQueue(bus, 'restarted');
  const executorBus = await nats.connect('epoch-restart-2');
  const executor = new JetStreamExecutor(executorBus, { log: () => {} });
  const again = executor.execute(t);
  // Once the executor follows the search, the re-dispatch is published (a fresh child: no lookup first).
  await executor.prepare('restarted');
  const trainerBus = await nats.connect('epoch-restart-trainer');
  const { consumer, delivery } = await nextTask(trainerBus, 'restarted', 'epoch-restart-trainer');
  try {
    assert.ok(delivery);
    assert.equal(delivery.task.childId, 3);
    await publishChildResult(trainerBus, delivery.task, ok(3, 0.5), { generation: delivery.generation });
    await delivery.ack();
    assert.equal((await again).reward, 0.5);
    // The result answers the generation the re-dispatch was published under, so that publish was
    // written before; once the server has read everything the executor's connection sent, a second
    // task of the child would be in the stream.
    await executorBus.nc.flush();
    await untilQueued(bus, 'restarted', 0);
  } finally {
    consumer.close();
    await executor.close();
  }
  await closeSearchQueue(bus, 'restarted');
});

test('queue epoch - a close that raised the epoch but died before its purge: the next open purges the leftovers, the child is trained once', { timeout: 60_000 }, async () => {
  const bus = await nats.connect('epoch-crash');
  const t = task('crashed', 5);
  await openSearchQueue(bus, 'crashed');
  await queueThenStop(bus, t);
  // What closeSearchQueue leaves when it dies after raising the epoch: the consumer deleted, the record
  // raised and marked purging, the task still in the stream.
  await bus.jsm.consumers.delete(STREAM_TASKS, 'trainers-crashed');
  const kv = await new Kvm(bus.js).open(KV_SEARCHES);
  await kv.put(queueEpochKey('crashed'), JSON.stringify({ epoch: 1, purging: true }));
  assert.equal(await queued(bus, 'crashed'), 1);

  await openSearchQueue(bus, 'crashed');
  assert.equal(await queued(bus, 'crashed'), 0, 'the open finished the purge before the trainers came');
  assert.deepEqual(JSON.parse((await kv.get(queueEpochKey('crashed')))!.string()), { epoch: 1, purging: false });
  const executor = new JetStreamExecutor(await nats.connect('epoch-crash-2'), { log: () => {} });
  const again = executor.execute(t);
  await untilQueued(bus, 'crashed', 1);
  const trainerBus = await nats.connect('epoch-crash-trainer');
  const { consumer, delivery } = await nextTask(trainerBus, 'crashed', 'epoch-crash-trainer');
  try {
    assert.ok(delivery);
    assert.equal(delivery.task.childId, 5);
    await publishChildResult(trainerBus, delivery.task, ok(5, 0.25), { generation: delivery.generation });
    await delivery.ack();
    assert.equal((await again).reward, 0.25);
    await untilQueued(bus, 'crashed', 0);
  } finally {
    consumer.close();
    await executor.close();
  }
  await closeSearchQueue(bus, 'crashed');
});

test('queue epoch - each close raises it; the search store lists no epoch key; a bad record is refused with its key', async () => {
  const bus = await nats.connect('epoch-misc');
  for (let i = 1; i <= 3; i++) {
    await openSearchQueue(bus, 'counted');
    await closeSearchQueue(bus, 'counted');
    assert.equal(await readQueueEpoch(bus, 'counted'), i);
  }
  const store = await KvStateStore.open<{ n: number }>(bus);
  await store.put('counted', { n: 1 });
  assert.deepEqual((await store.keys()).filter((k) => k.startsWith('counted')), ['counted']);
  assert.deepEqual(await store.get('counted'), { n: 1 });

  const kv = await new Kvm(bus.js).open(KV_SEARCHES);
  await kv.put(queueEpochKey('garbled'), JSON.stringify({ epoch: -2, purging: false }));
  await assert.rejects(readQueueEpoch(bus, 'garbled'), (err: Error) => err instanceof SearchQueueError && /garbled\.queue-epoch: epoch must be a non-negative integer, got -2/.test(err.message));
  await assert.rejects(closeSearchQueue(bus, 'garbled'), SearchQueueError);
});

test('queue epoch - a search that ends and starts again in the same executor reads the new epoch on prepare: its purged child is queued again', { timeout: 60_000 }, async () => {
  const bus = await nats.connect('epoch-same');
  const t = task('again-here', 9);
  await openSearchQueue(bus, 'again-here');
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const stop = new AbortController();
  const first = executor.execute(t, { signal: stop.signal });
  await untilQueued(bus, 'again-here', 1);
  // The search stops: its executes are aborted, its queue closed (the task purged), while the executor still follows it.
  stop.abort(new Error('search stopped'));
  await assert.rejects(first, /search stopped/);
  await closeSearchQueue(bus, 'again-here');
  await openSearchQueue(bus, 'again-here');
  await executor.prepare('again-here');
  const again = executor.execute(t);
  await untilQueued(bus, 'again-here', 1);
  const trainerBus = await nats.connect('epoch-same-trainer');
  const { consumer, delivery } = await nextTask(trainerBus, 'again-here', 'epoch-same-trainer');
  try {
    assert.ok(delivery);
    assert.equal(delivery.task.childId, 9);
    await publishChildResult(trainerBus, delivery.task, ok(9, 0.125), { generation: delivery.generation });
    await delivery.ack();
    assert.equal((await again).reward, 0.125);
  } finally {
    consumer.close();
    await executor.close();
  }
  await closeSearchQueue(bus, 'again-here');
});
