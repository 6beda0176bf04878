import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelBoard, connectBus, ensureStreams, JetStreamExecutor, MemoryEventBus, STREAM_TASKS, taskSubject,
  type BusConnection, type BusEvent,
} from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildProgress, type ChildResult, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import { runTrainerLoop, type TrainerLoopOptions, type TrainerLoopStats, type TrainFunction } from '../src/index.js';

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

function task(searchId: string, childId: number, epochs = 2): ChildTask {
  const genotype = sampleGenotype(new Rng(childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

/** A trainer without tensors: one progress report per epoch, reward = childId / 100, waits `msPerEpoch`, honours the signal. */
function fakeTrain(msPerEpoch = 5): TrainFunction {
  return async (t, { onProgress, signal }) => {
    const curve: number[] = [];
    for (let e = 1; e <= t.recipe.epochs; e++) {
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const timer = setTimeout(resolve, msPerEpoch);
        signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
      });
      curve.push((t.childId / 100) * (e / t.recipe.epochs));
      onProgress({ childId: t.childId, epoch: e, epochs: t.recipe.epochs, step: 1, stepsPerEpoch: 1, loss: 1 / e, trainAccuracy: 0.5, imagesPerSec: 100, validationAccuracy: curve.at(-1)! });
    }
    return { childId: t.childId, status: 'ok', reward: curve.at(-1)!, validationByEpoch: curve, trainSeconds: 0.01, paramCount: 1000, multAdds: 5000 };
  };
}

interface Loop {
  stop(): Promise<TrainerLoopStats>;
  done: Promise<TrainerLoopStats>;
}

async function startLoop(trainerId: string, options: Partial<TrainerLoopOptions> = {}): Promise<Loop> {
  const bus = await connect(trainerId);
  const stop = new AbortController();
  const done = runTrainerLoop({ bus, trainerId, train: fakeTrain(), signal: stop.signal, pullExpiresMs: 1000, ackWaitMs: 2000, log: () => {}, ...options });
  // Let the loop create its consumer and start pulling before tasks are published.
  await new Promise((r) => setTimeout(r, 150));
  // Stopping closes the connection too, like a trainer process exiting: the
  // pull it left waiting dies with it instead of catching the next test's task.
  return { done, async stop() { stop.abort(); const stats = await done; await bus.nc.close(); return stats; } };
}

async function collectEvents(bus: BusConnection, searchId: string): Promise<{ events: BusEvent[]; close(): Promise<void> }> {
  const { NatsEventBus } = await import('@nasnet/bus');
  const events: BusEvent[] = [];
  const sub = await new NatsEventBus(bus).subscribe((e) => events.push(e), { searchId });
  return { events, close: () => sub.close() };
}

test('trainer loop - two trainers answer every child once, with attempts, progress and results', async () => {
  const controller = await connect('ctl-1');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const watch = await collectEvents(controller, 'loop');
  const loops = [await startLoop('tr-1'), await startLoop('tr-2')];
  const progress: ChildProgress[] = [];
  const tasks = Array.from({ length: 8 }, (_, i) => task('loop', i + 1));
  const results = await Promise.all(tasks.map((t) => executor.execute(t, { onProgress: (p) => progress.push(p) })));
  const stats = await Promise.all(loops.map((l) => l.stop()));
  await executor.close();
  await watch.close();

  assert.deepEqual(results.map((r) => [r.childId, r.status, r.reward, r.attempts]), tasks.map((t) => [t.childId, 'ok', t.childId / 100, 1]));
  assert.deepEqual(results.map((r) => r.validationByEpoch), tasks.map((t) => [t.childId / 200, t.childId / 100]));
  assert.equal(stats[0]!.trained + stats[1]!.trained, 8);
  assert.ok(stats.every((s) => s.trained > 0), `both trained: ${JSON.stringify(stats)}`);
  assert.deepEqual(new Set(results.map((r) => r.trainer)), new Set(['tr-1', 'tr-2']));
  const attempts = watch.events.filter((e) => e.kind === 'child_attempt');
  assert.deepEqual(attempts.map((e) => (e.kind === 'child_attempt' ? e.childId : -1)).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(attempts.every((e) => e.kind === 'child_attempt' && e.attempt === 1 && !e.redelivered));
  assert.equal(watch.events.filter((e) => e.kind === 'child_progress').length, 16);
  assert.equal(progress.length, 16, 'progress reached the executes');
});

test('trainer loop - a child that throws is retried with back-off, then fails at the last attempt with the reason', async () => {
  const controller = await connect('ctl-2');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const watch = await collectEvents(controller, 'throws');
  const calls: number[] = [];
  const flaky: TrainFunction = async () => {
    calls.push(Date.now());
    throw new Error(`boom ${calls.length}`);
  };
  // One back-off value equal to ack_wait: nak delays are exact (see TrainerConsumerOptions.backoffMs on 2.9 servers).
  const loop = await startLoop('tr-flaky', { train: flaky, maxAttempts: 3, backoffMs: [2000], retryDelayMs: (attempt) => attempt * 100 });
  const failed = await executor.execute(task('throws', 1, 1));
  const stats = await loop.stop();
  await executor.close();
  await watch.close();

  assert.equal(failed.status, 'failed');
  assert.equal(failed.attempts, 3);
  assert.equal(failed.reason, 'attempt 3 of 3 failed: boom 3');
  assert.deepEqual(stats, { trained: 0, failed: 1, retried: 2, cancelled: 0, handedBack: 0 });
  assert.ok(calls[1]! - calls[0]! >= 90 && calls[2]! - calls[1]! >= 190, `back-off 100 ms then 200 ms: ${calls[1]! - calls[0]!}, ${calls[2]! - calls[1]!}`);
  const attempts = watch.events.flatMap((e) => (e.kind === 'child_attempt' ? [[e.attempt, e.redelivered]] : []));
  assert.deepEqual(attempts, [[1, false], [2, true], [3, true]]);
  assert.equal(await queuedCount(controller, 'throws'), 0, 'termed');
});

async function queuedCount(bus: BusConnection, searchId: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const info = await bus.jsm.streams.info(STREAM_TASKS, { subjects_filter: taskSubject(searchId) });
    const n = info.state.subjects?.[taskSubject(searchId)] ?? 0;
    if (n === 0) return 0;
    await new Promise((r) => setTimeout(r, 20));
  }
  return -1;
}

test('trainer loop - a long child stays with its trainer past ack_wait (working())', async () => {
  const controller = await connect('ctl-3');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const watch = await collectEvents(controller, 'long');
  const a = await startLoop('tr-long', { ackWaitMs: 1000, train: fakeTrain(1200) });
  const b = await startLoop('tr-idle', { ackWaitMs: 1000 });
  const r = await executor.execute(task('long', 4, 2)); // 2.4 s of training, ack_wait 1 s
  await Promise.all([a.stop(), b.stop()]);
  await executor.close();
  await watch.close();
  assert.equal(r.status, 'ok');
  assert.equal(r.attempts, 1);
  assert.equal(watch.events.filter((e) => e.kind === 'child_attempt').length, 1, 'never redelivered');
});

test('trainer loop - cancelling a search stops its running child and skips its queued ones', async () => {
  const controller = await connect('ctl-4');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const started: number[] = [];
  const slow: TrainFunction = (t, hooks) => { started.push(t.childId); return fakeTrain(60_000)(t, hooks); };
  const loop = await startLoop('tr-cancel', { train: slow });
  const pending = [1, 2, 3].map((id) => executor.execute(task('doomed', id, 1)));
  while (started.length === 0) await new Promise((r) => setTimeout(r, 20));
  await executor.cancelSearch('doomed', 'user asked');
  const results: ChildResult[] = await Promise.all(pending);
  const stats = await loop.stop();
  await executor.close();
  assert.deepEqual(results.map((r) => [r.childId, r.status, r.reason]), [[1, 'cancelled', 'user asked'], [2, 'cancelled', 'user asked'], [3, 'cancelled', 'user asked']]);
  assert.equal(started.length, 1, `only the running child was started: ${started}`);
  assert.equal(stats.cancelled, 3);
  await (await CancelBoard.open(controller)).clear('doomed');
});

test('trainer loop - stopping hands the current child back at once and another trainer finishes it', async () => {
  const controller = await connect('ctl-5');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const first = await startLoop('tr-leaving', { train: fakeTrain(60_000), ackWaitMs: 30_000 });
  const watch = await collectEvents(controller, 'handover');
  const pending = executor.execute(task('handover', 6, 1));
  while (!watch.events.some((e) => e.kind === 'child_attempt')) await new Promise((r) => setTimeout(r, 20));
  const stoppedAt = Date.now();
  const stats = await first.stop();
  assert.equal(stats.handedBack, 1);
  const second = await startLoop('tr-staying', { ackWaitMs: 30_000 });
  const r = await pending;
  assert.ok(Date.now() - stoppedAt < 10_000, 'redelivered at once, not after the 30 s ack_wait');
  assert.equal(r.trainer, 'tr-staying');
  assert.equal(r.attempts, 2);
  await second.stop();
  await executor.close();
  await watch.close();
});

test('trainer loop - heartbeats go to nas.events.system, busy while training', async () => {
  const events = new MemoryEventBus();
  const beats: BusEvent[] = [];
  await events.subscribe((e) => beats.push(e));
  const loop = await startLoop('tr-hb', { heartbeatMs: 100, events });
  await new Promise((r) => setTimeout(r, 350));
  await loop.stop();
  const hb = beats.filter((e) => e.kind === 'trainer_heartbeat');
  assert.ok(hb.length >= 3, `${hb.length} heartbeats`);
  assert.ok(hb.every((e) => e.kind === 'trainer_heartbeat' && e.trainer === 'tr-hb' && !e.busy));
});
