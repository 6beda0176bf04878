import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildProgress, type ChildResult, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype, type Genotype } from '@nasnet/search-space';
import {
  CancelBoard, ChildAbortedError, DLQ_HEADERS, ExecutorClosedError, JetStreamExecutor, NatsEventBus, publishChildResult, queueStats,
  STREAM_DLQ, STREAM_TASKS, TrainerConsumer, taskSubject, resultSubject, encodeChildResult, encodeChildTask, type BusConnection, type TaskDelivery,
} from '../src/index.js';
import * as pb from '@nasnet/proto';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

function task(searchId: string, childId: number): ChildTask {
  const genotype = sampleGenotype(new Rng(1000 + childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs: 2 }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

/** The fake trainer's reward: the share of separable convs in the normal cell, a function of the genotype alone. */
function fakeReward(g: Genotype): number {
  const ops = g.normal.blocks.flatMap((b) => b.ops);
  return ops.filter((op) => op.startsWith('sep_conv')).length / ops.length;
}

interface FakeTrainer {
  bus: BusConnection;
  stop(): Promise<void>;
  trained: Array<{ childId: number; attempt: number }>;
}

/** A minimal trainer on its own connection: checks cancellation, reports progress, answers with fakeReward. */
async function startTrainer(trainerId: string, options: { ackWaitMs?: number; maxAttempts?: number } = {}): Promise<FakeTrainer> {
  const bus = await nats.connect(trainerId);
  const consumer = await TrainerConsumer.start(bus, { trainerId, pullExpiresMs: 1000, log: () => {}, ...options });
  const board = await CancelBoard.open(bus);
  const events = new NatsEventBus(bus);
  const stop = new AbortController();
  const trained: FakeTrainer['trained'] = [];
  const loop = (async () => {
    for (let d: TaskDelivery | null; (d = await consumer.next(stop.signal)); ) {
      const t = d.task;
      const cancelled = await board.reasonFor(t.searchId, t.childId);
      const base = { childId: t.childId, validationByEpoch: [], trainSeconds: 0.01, paramCount: 10, multAdds: 20, trainer: trainerId, attempts: d.attempt };
      if (cancelled) {
        await publishChildResult(bus, t, { ...base, status: 'cancelled', reward: 0, reason: cancelled }, { generation: d.generation });
      } else {
        const progress: ChildProgress = { childId: t.childId, epoch: 1, epochs: 1, step: 1, stepsPerEpoch: 1, loss: 1, trainAccuracy: 0.5, imagesPerSec: 1, validationAccuracy: fakeReward(t.genotype) };
        await events.publish({ kind: 'child_progress', searchId: t.searchId, timeMs: Date.now(), trainer: trainerId, progress });
        await new Promise((r) => setTimeout(r, 15));
        const reward = fakeReward(t.genotype);
        trained.push({ childId: t.childId, attempt: d.attempt });
        await publishChildResult(bus, t, { ...base, status: 'ok', reward, validationByEpoch: [reward] }, { generation: d.generation });
      }
      await d.ack();
    }
  })();
  return {
    bus, trained,
    async stop() {
      stop.abort();
      await loop;
      await bus.nc.close();
    },
  };
}

async function queued(bus: BusConnection, searchId: string): Promise<number> {
  const info = await bus.jsm.streams.info(STREAM_TASKS, { subjects_filter: taskSubject(searchId) });
  return info.state.subjects?.[taskSubject(searchId)] ?? 0;
}

/** Waits until the search's tasks left the work queue (acked or termed just after the result was published). */
async function drained(bus: BusConnection, searchId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await queued(bus, searchId)) === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`tasks of ${searchId} still queued`);
}

test('executor - two trainers answer every task exactly once, with progress', async () => {
  const controller = await nats.connect('controller-1');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const trainers = [await startTrainer('t-a'), await startTrainer('t-b')];
  try {
    const tasks = Array.from({ length: 12 }, (_, i) => task('every', i));
    const progress = new Map<number, ChildProgress[]>();
    const results = await Promise.all(tasks.map((t) => executor.execute(t, { onProgress: (p) => progress.set(t.childId, [...(progress.get(t.childId) ?? []), p]) })));
    assert.deepEqual(results.map((r) => r.childId), tasks.map((t) => t.childId));
    assert.deepEqual(results.map((r) => r.reward), tasks.map((t) => fakeReward(t.genotype)));
    assert.ok(results.every((r) => r.status === 'ok' && r.attempts === 1));
    const trained = trainers.flatMap((t) => t.trained.map((x) => x.childId)).sort((a, b) => a - b);
    assert.deepEqual(trained, tasks.map((t) => t.childId), 'each child trained once');
    assert.ok(trainers.every((t) => t.trained.length > 0), `both trainers worked: ${trainers.map((t) => t.trained.length)}`);
    assert.deepEqual(new Set(results.map((r) => r.trainer)), new Set(['t-a', 't-b']));
    // Progress reached the executes it belongs to (core subscription: every one here, nothing was lost on one machine).
    for (const t of tasks) assert.equal(progress.get(t.childId)?.[0]?.validationAccuracy, fakeReward(t.genotype));
    await drained(controller, 'every'); // acks follow the results
  } finally {
    for (const t of trainers) await t.stop();
    await executor.close();
  }
});

test('executor - a trainer that dies mid-child: another gets it after ack_wait with attempt 2', async () => {
  const controller = await nats.connect('controller-2');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const doomedBus = await nats.connect('doomed');
  const doomed = await TrainerConsumer.start(doomedBus, { trainerId: 'doomed', ackWaitMs: 1000, pullExpiresMs: 5000, log: () => {} });
  try {
    const taken = doomed.next();
    const pending = executor.execute(task('redeliver', 1));
    const d = await taken;
    assert.equal(d?.task.childId, 1);
    assert.equal(d?.attempt, 1);
    assert.deepEqual(await queueStats(controller), { pending: 0, inFlight: 1 });
    const diedAt = Date.now();
    await doomedBus.nc.close(); // killed: no ack, no nak
    const rescuer = await startTrainer('rescuer', { ackWaitMs: 1000 });
    try {
      const r = await pending;
      const waited = Date.now() - diedAt;
      assert.equal(r.trainer, 'rescuer');
      assert.equal(r.attempts, 2);
      assert.deepEqual(rescuer.trained, [{ childId: 1, attempt: 2 }]);
      assert.ok(waited >= 700, `redelivered after the ack deadline, ${waited} ms`);
    } finally {
      await rescuer.stop();
    }
  } finally {
    await executor.close();
  }
});

test('executor - when every allowed attempt vanished, the child fails with the reason', async () => {
  const controller = await nats.connect('controller-3');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const doomedBus = await nats.connect('doomed-2');
  const doomed = await TrainerConsumer.start(doomedBus, { trainerId: 'doomed-2', ackWaitMs: 1000, maxAttempts: 1, pullExpiresMs: 5000, log: () => {} });
  assert.equal(doomed.maxAttempts, 1);
  const taken = doomed.next();
  const pending = executor.execute(task('exhausted', 5));
  assert.equal((await taken)?.attempt, 1);
  await doomedBus.nc.close();
  const next = await startTrainer('after', { ackWaitMs: 1000, maxAttempts: 1 });
  try {
    const r = await pending;
    assert.equal(r.status, 'failed');
    assert.equal(r.trainer, 'after');
    assert.match(r.reason ?? '', /no trainer finished it in 1 attempts/);
    assert.deepEqual(next.trained, [], 'the extra delivery is answered, not trained');
    await drained(controller, 'exhausted');
  } finally {
    await next.stop();
    await executor.close();
  }
});

test('executor - an undecodable task is dead-lettered with its reason and never redelivered', async () => {
  const bus = await nats.connect('poison');
  const garbage = new Uint8Array([0x12, 0x03, 0x61, 0x62]); // field 2 (child_id) claims 3 bytes, 2 follow
  await bus.js.publish(taskSubject('poison'), garbage);
  const trainer = await startTrainer('poison-eater', { ackWaitMs: 1000, maxAttempts: 5 });
  try {
    let dead = null;
    for (let i = 0; i < 100 && !dead; i++) {
      dead = await bus.jsm.streams.getMessage(STREAM_DLQ, { last_by_subj: 'nas.dlq.tasks' });
      if (!dead) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(dead, 'a dead letter arrived');
    assert.deepEqual(dead.data, garbage);
    assert.match(dead.header.get(DLQ_HEADERS.reason), /undecodable message on 'nas\.tasks\.poison': \(message\): not a nas\.v1\.ChildTask/);
    assert.equal(dead.header.get(DLQ_HEADERS.subject), taskSubject('poison'));
    assert.equal(dead.header.get(DLQ_HEADERS.by), 'poison-eater');
    await new Promise((r) => setTimeout(r, 1500)); // past ack_wait: a termed message does not come back
    assert.equal(await queued(bus, 'poison'), 0);
    assert.deepEqual(trainer.trained, []);
    const info = await bus.jsm.streams.info(STREAM_DLQ);
    assert.equal(info.state.messages, 1, 'dead-lettered once');
  } finally {
    await trainer.stop();
  }
});

test('executor - a restarted controller re-executing its children queues nothing twice and gets stored results', async () => {
  const t = task('restart', 3);
  const first = await nats.connect('controller-before');
  const before = new JetStreamExecutor(first, { log: () => {} });
  const lost = before.execute(t);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await queued(first, 'restart'), 1);
  await before.close();
  await assert.rejects(lost, ExecutorClosedError);

  const second = await nats.connect('controller-after');
  const after = new JetStreamExecutor(second, { log: () => {} });
  const again = after.execute(t);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await queued(second, 'restart'), 1, 'the duplicate window absorbed the re-dispatch');
  const trainer = await startTrainer('restart-trainer', { ackWaitMs: 1000 });
  try {
    const r = await again;
    assert.equal(r.reward, fakeReward(t.genotype));
    assert.equal(trainer.trained.length, 1);
  } finally {
    await trainer.stop();
  }
  // A third controller finds the stored result at once, with no trainer running.
  const third = new JetStreamExecutor(await nats.connect('controller-third'), { log: () => {} });
  const stored = await third.execute(t);
  assert.deepEqual(stored, await again);
  assert.equal(await queued(second, 'restart'), 0);
  await Promise.all([after.close(), third.close()]);
});

test('executor - an aborted execute rejects, marks the child cancelled, and a later execute trains it anew', async () => {
  const controller = await nats.connect('controller-cancel');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const board = await CancelBoard.open(controller);
  const t = task('cancel', 8);
  const abort = new AbortController();
  const pending = executor.execute(t, { signal: abort.signal });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await queued(controller, 'cancel'), 1);
  abort.abort(new Error('search cancelled by the user'));
  await assert.rejects(pending, (e: unknown) => e instanceof ChildAbortedError && e.reason === 'search cancelled by the user');
  await executor.close(); // waits for the marker to be written
  assert.equal(await board.reasonFor('cancel', 8), 'search cancelled by the user');

  // A trainer takes the queued task, sees the marker, answers 'cancelled' without training.
  const trainer = await startTrainer('cancel-trainer', { ackWaitMs: 1000 });
  try {
    await drained(controller, 'cancel');
    assert.deepEqual(trainer.trained, []);
    // Executing it again clears the marker and queues it anew (the stored 'cancelled' result is not reused).
    const executor2 = new JetStreamExecutor(controller, { log: () => {} });
    const r: ChildResult = await executor2.execute(t);
    assert.equal(r.status, 'ok');
    assert.deepEqual(trainer.trained, [{ childId: 8, attempt: 1 }]);
    assert.equal(await board.reasonFor('cancel', 8), undefined);
    await executor2.close();
  } finally {
    await trainer.stop();
  }
});

test('executor - an execute aborted before it published queues nothing', async () => {
  const controller = await nats.connect('controller-early');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const abort = new AbortController();
  abort.abort(new Error('too late'));
  await assert.rejects(executor.execute(task('early', 1), { signal: abort.signal }), ChildAbortedError);
  const abort2 = new AbortController();
  const p = executor.execute(task('early', 2), { signal: abort2.signal });
  abort2.abort(new Error('at once'));
  await assert.rejects(p, ChildAbortedError);
  await executor.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await queued(controller, 'early'), 0);
  assert.equal(await (await CancelBoard.open(controller)).reasonFor('early', 2), undefined);
});

test('executor - bad messages on a followed search\'s results subjects are dead-lettered once each with the reason; the children still get their results', async () => {
  const bus = await nats.connect('bad-results');
  const executor = new JetStreamExecutor(bus, { log: () => {}, by: 'controller-x' });
  const trainer = await startTrainer('bad-results-trainer', { ackWaitMs: 1000 });
  try {
    const a = task('badres', 1);
    const b = task('badres', 2);
    // Child 2's subject already holds garbage when its execute looks for a stored result,
    // and the results consumer (made for child 1) has met the same message: one dead letter.
    const pendingA = executor.execute(a);
    await new Promise((r) => setTimeout(r, 150));
    const stale = await bus.js.publish(resultSubject('badres', 2), new Uint8Array([0x0a, 0x05, 0x61]));
    const wrongChild = await bus.js.publish(resultSubject('badres', 1), encodeChildResult({ childId: 9, status: 'ok', reward: 0.5, validationByEpoch: [0.5], trainSeconds: 1, paramCount: 1, multAdds: 1 }, { searchId: 'badres' }));
    await new Promise((r) => setTimeout(r, 150));
    const [ra, rb] = await Promise.all([pendingA, executor.execute(b)]);
    assert.equal(ra.reward, fakeReward(a.genotype));
    assert.equal(rb.reward, fakeReward(b.genotype));
    let letters: Array<{ seq: string; reason: string; by: string; subject: string }> = [];
    for (let i = 0; i < 100 && letters.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 30));
      letters = [];
      const info = await bus.jsm.streams.info(STREAM_DLQ);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await bus.jsm.streams.getMessage(STREAM_DLQ, { seq }).catch(() => null);
        if (m?.subject === 'nas.dlq.results') {
          letters.push({ seq: m.header.get(DLQ_HEADERS.streamSequence), reason: m.header.get(DLQ_HEADERS.reason), by: m.header.get(DLQ_HEADERS.by), subject: m.header.get(DLQ_HEADERS.subject) });
        }
      }
    }
    await new Promise((r) => setTimeout(r, 200)); // a second letter for the same message would arrive now
    const again = await bus.jsm.streams.info(STREAM_DLQ, { subjects_filter: 'nas.dlq.results' });
    assert.equal(again.state.subjects?.['nas.dlq.results'], 2, 'each bad message once');
    letters.sort((x, y) => Number(x.seq) - Number(y.seq));
    assert.deepEqual(letters.map((l) => [Number(l.seq), l.subject, l.by]), [[stale.seq, resultSubject('badres', 2), 'controller-x'], [wrongChild.seq, resultSubject('badres', 1), 'controller-x']]);
    assert.match(letters[0]!.reason, /undecodable message on 'nas\.results\.badres\.2': \(message\): not a nas\.v1\.ChildResult/);
    assert.match(letters[1]!.reason, /search_id\/child_id: "badres\.9" does not belong on this subject/);
  } finally {
    await trainer.stop();
    await executor.close();
  }
});

test('executor - a task the genotype check rejects with a plain error (an impossible block count) is dead-lettered; the trainer takes the next task', async () => {
  const bus = await nats.connect('num-blocks');
  const good = task('blocks', 1);
  const wire = pb.ChildTask.decode(encodeChildTask(good).data);
  wire.recipe!.numBlocks = 0;
  const bad = await bus.js.publish(taskSubject('blocks'), pb.ChildTask.encode(wire).finish());
  await bus.js.publish(taskSubject('blocks'), encodeChildTask(good).data);
  const consumer = await TrainerConsumer.start(bus, { trainerId: 'blocks-trainer', pullExpiresMs: 1000, log: () => {} });
  const d = await consumer.next();
  assert.equal(d?.task.childId, 1, 'the good task after the bad one');
  await d!.ack();
  consumer.close();
  const dead = await bus.jsm.streams.getMessage(STREAM_DLQ, { last_by_subj: 'nas.dlq.tasks' });
  assert.equal(Number(dead!.header.get(DLQ_HEADERS.streamSequence)), bad.seq);
  assert.equal(dead!.header.get(DLQ_HEADERS.reason), "undecodable message on 'nas.tasks.blocks': recipe.num_blocks: must be an integer in 1..16, got 0");
});

test('executor - a task redelivered after its result was published (the trainer died before acking) is acknowledged, not trained again', async () => {
  const bus = await nats.connect('late-ack');
  const t = task('lateack', 4);
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const result = executor.execute(t);
  // The first trainer publishes the result and vanishes without acking.
  const first = await TrainerConsumer.start(await nats.connect('late-ack-a'), { trainerId: 'late-a', ackWaitMs: 1000, maxAttempts: 3, pullExpiresMs: 1000, log: () => {} });
  const d = await first.next();
  assert.equal(d?.task.childId, 4);
  assert.equal(d!.attempt, 1);
  await publishChildResult(bus, t, { childId: 4, status: 'ok', reward: 0.75, validationByEpoch: [0.75], trainSeconds: 1, paramCount: 1, multAdds: 1, trainer: 'late-a', attempts: 1 }, { generation: d!.generation });
  first.close();
  assert.equal((await result).reward, 0.75);
  // The second trainer gets the redelivery after the 1 s deadline and lets it go.
  const lines: string[] = [];
  const second = await TrainerConsumer.start(await nats.connect('late-ack-b'), { trainerId: 'late-b', ackWaitMs: 1000, maxAttempts: 3, pullExpiresMs: 1000, log: (l) => lines.push(l) });
  const giveUp = AbortSignal.timeout(3500);
  assert.equal(await second.next(giveUp), null, 'nothing to train');
  second.close();
  assert.equal(await queued(bus, 'lateack'), 0, 'the redelivery was acknowledged');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /child 4 of lateack came back \(delivery 2\) after late-a had published its result; acknowledged without training it again/);
  await executor.close();
});
