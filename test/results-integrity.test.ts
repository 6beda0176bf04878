import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildResult, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import {
  connectBus, DLQ_HEADERS, encodeChildResult, ensureStreams, JetStreamExecutor, publishChildResult, resultSubject, ResultSubjectTakenError,
  STREAM_DLQ, STREAM_RESULTS, streamConfigs, type BusConnection,
} from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { runTrainerLoop } from '@nasnet/child-trainer';
import { DiscardPolicy, JetStreamApiError } from '@nats-io/jetstream';
import { fakeTrain, syntheticReward } from './support/fake-train.js';

/**
 * Issue 11, "results that cannot be overwritten or forged": against a real
 * nats-server, the controller's JetStreamExecutor and real trainer loops
 * (runTrainerLoop with a fake training function). A child's result subject
 * is written once; a result with another genotype's hash or a reward
 * outside [0, 1] is dead-lettered with the reason, counted, and the child
 * is queued again under a fresh generation, which a trainer answers.
 */
const nats = await startNatsServer();
const connections: BusConnection[] = [];
after(async () => {
  for (const c of connections) await c.nc.close().catch(() => {});
  await nats.stop();
});

async function connect(name: string): Promise<BusConnection> {
  const bus = await connectBus(nats.url, { name, log: () => {} });
  connections.push(bus);
  return bus;
}

const admin = await connect('admin');
await ensureStreams(admin.jsm);

function task(searchId: string, childId: number): ChildTask {
  const genotype = sampleGenotype(new Rng(7000 + childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs: 1 }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

const ok = (t: ChildTask, reward: number): ChildResult => ({
  childId: t.childId, status: 'ok', reward, validationByEpoch: [Math.min(1, Math.max(0, reward))], trainSeconds: 1, paramCount: 1, multAdds: 1, trainer: 'forger', attempts: 1,
});

/** A trainer loop of its own connection, training with fakeTrain; returns what it trained and a stop. */
async function startTrainer(id: string) {
  const bus = await connect(id);
  const stop = new AbortController();
  const trained: Array<{ childId: number }> = [];
  const lines: string[] = [];
  const done = runTrainerLoop({
    bus, trainerId: id, signal: stop.signal, heartbeatMs: 60_000, pullExpiresMs: 1000, ackWaitMs: 5000, log: (l) => lines.push(l),
    train: fakeTrain({ delayMs: () => 20, onStart: (t) => trained.push({ childId: t.childId }) }),
  });
  return { trained, lines, async stop() { stop.abort(); await done; } };
}

/** The dead letters on nas.dlq.results whose subject starts with `prefix`. */
async function deadLetters(bus: BusConnection, prefix: string): Promise<Array<{ subject: string; reason: string }>> {
  const out: Array<{ subject: string; reason: string }> = [];
  const info = await bus.jsm.streams.info(STREAM_DLQ);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await bus.jsm.streams.getMessage(STREAM_DLQ, { seq }).catch(() => null);
    if (m?.subject !== 'nas.dlq.results') continue;
    const subject = m.header.get(DLQ_HEADERS.subject);
    if (subject.startsWith(prefix)) out.push({ subject, reason: m.header.get(DLQ_HEADERS.reason) });
  }
  return out;
}

test('results - a second message on a child\'s result subject is refused by the server, a retry under the same Nats-Msg-Id is not', async () => {
  const bus = await connect('write-once');
  const t = task('once', 1);
  await publishChildResult(bus, t, ok(t, 0.5), { generation: 1, msgId: 'once-1' });
  // The same publish again (a trainer whose PubAck was lost): deduplicated, no error.
  await publishChildResult(bus, t, ok(t, 0.5), { generation: 1, msgId: 'once-1' });
  // Anything else on that subject: refused, whoever sends it.
  await assert.rejects(publishChildResult(bus, t, ok(t, 0.9), { generation: 1 }), ResultSubjectTakenError);
  await assert.rejects(bus.js.publish(resultSubject('once', 1, 1), encodeChildResult(ok(t, 1), { searchId: 'once', genotypeHash: t.hash })),
    (err: unknown) => err instanceof JetStreamApiError && /maximum messages per subject exceeded/.test(err.message));
  const stored = await bus.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: resultSubject('once', 1, 1) });
  assert.equal(stored?.seq !== undefined, true);
  const info = await bus.jsm.streams.info(STREAM_RESULTS, { subjects_filter: resultSubject('once', 1, 1) });
  assert.equal(info.state.subjects?.[resultSubject('once', 1, 1)], 1, 'one message on the subject');
  // The next generation is a subject of its own.
  await publishChildResult(bus, t, ok(t, 0.25), { generation: 2 });
});

test('results - ensureStreams turns a NAS_RESULTS made by an older build (last message per subject kept) into a write-once stream', async () => {
  const server = await startNatsServer();
  try {
    const bus = await connectBus(server.url, { name: 'upgrade', log: () => {} });
    try {
      const want = streamConfigs().find((c) => c.name === STREAM_RESULTS)!;
      // As the build before write-once results made it.
      const { discard_new_per_subject: _d, ...older } = want;
      await bus.jsm.streams.add({ ...older, discard: DiscardPolicy.Old });
      await bus.js.publish('nas.results.up.1.1', new Uint8Array([1]));
      await bus.js.publish('nas.results.up.1.1', new Uint8Array([2])); // the old stream replaces it
      const report = await ensureStreams(bus.jsm);
      assert.equal(report[STREAM_RESULTS], 'updated');
      const config = (await bus.jsm.streams.info(STREAM_RESULTS)).config;
      assert.equal(config.discard, DiscardPolicy.New);
      assert.equal(config.discard_new_per_subject, true);
      await assert.rejects(bus.js.publish('nas.results.up.1.1', new Uint8Array([3])), /maximum messages per subject exceeded/);
      assert.equal((await ensureStreams(bus.jsm))[STREAM_RESULTS], 'unchanged');
    } finally {
      await bus.close();
    }
  } finally {
    await server.stop();
  }
});

test('results - forged results (wrong hash, reward 2.0, 1e300, negative, undecodable) are dead-lettered with the reason and counted; each child is queued again under a fresh generation and trained once', async () => {
  const controller = await connect('forged-controller');
  const forger = await connect('forger');
  const S = 'forged';
  const tasks = [1, 2, 3, 4, 5, 6].map((c) => task(S, c));
  const other = task(S, 99);
  // Stored before the controller looks (a trainer of the search forging answers before training):
  await forger.js.publish(resultSubject(S, 1, 1), encodeChildResult(ok(tasks[0]!, 0.99), { searchId: S, genotypeHash: other.hash }));
  await forger.js.publish(resultSubject(S, 2, 1), encodeChildResult(ok(tasks[1]!, 2.0), { searchId: S, genotypeHash: tasks[1]!.hash }));
  await forger.js.publish(resultSubject(S, 3, 1), encodeChildResult(ok(tasks[2]!, 1e300), { searchId: S, genotypeHash: tasks[2]!.hash }));
  await forger.js.publish(resultSubject(S, 4, 1), encodeChildResult(ok(tasks[3]!, -0.5), { searchId: S, genotypeHash: tasks[3]!.hash }));
  await forger.js.publish(resultSubject(S, 5, 1), encodeChildResult(ok(tasks[4]!, Number.NaN), { searchId: S, genotypeHash: tasks[4]!.hash }));
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const trainer = await startTrainer('honest');
  try {
    const pending = tasks.map((t) => executor.execute(t));
    // Child 6: forged while its task waits (reward 2.0 with the right hash), met by the executor's results consumer.
    await new Promise((r) => setTimeout(r, 50));
    await forger.js.publish(resultSubject(S, 6, 1), encodeChildResult(ok(tasks[5]!, 2.0), { searchId: S, genotypeHash: tasks[5]!.hash })).catch((err: unknown) => {
      // The honest trainer was faster: its result holds the subject, and the server refused the forgery.
      assert.match(String(err), /maximum messages per subject exceeded/);
    });
    const results = await Promise.all(pending);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 'ok', `child ${tasks[i]!.childId}: ${r.reason ?? ''}`);
      assert.equal(r.reward, syntheticReward(tasks[i]!.genotype), `child ${tasks[i]!.childId} has its own reward`);
      assert.equal(r.trainer, 'honest');
    }
    // Children 1-5 were trained once each, under generation 2 (generation 1 holds the forgery).
    for (const c of [1, 2, 3, 4, 5]) {
      assert.equal(trainer.trained.filter((x) => x.childId === c).length, 1, `child ${c} trained once`);
      const stored = await controller.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: resultSubject(S, c, 2) });
      assert.ok(stored, `child ${c}'s generation 2 is stored`);
    }
    let letters: Array<{ subject: string; reason: string }> = [];
    for (let i = 0; i < 100; i++) {
      letters = await deadLetters(controller, `nas.results.${S}.`);
      if (letters.length >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const reason = (c: number) => letters.find((l) => l.subject === resultSubject(S, c, 1))?.reason ?? '(no dead letter)';
    assert.match(reason(1), /genotype hash .* is not the task's/);
    assert.match(reason(2), /reward 2 is not a number in \[0, 1\]/);
    assert.match(reason(3), /reward 1e\+300 is not a number in \[0, 1\]/);
    assert.match(reason(4), /reward -0\.5 is not a number in \[0, 1\]/);
    assert.match(reason(5), /reward: must be a finite number, got NaN/);
    const forged6 = letters.some((l) => l.subject === resultSubject(S, 6, 1));
    assert.equal(executor.rejectedResults, forged6 ? 6 : 5, `rejections counted once each: ${JSON.stringify(letters)}`);
    assert.equal(letters.length, executor.rejectedResults, 'one dead letter per refused result');
  } finally {
    await trainer.stop();
    await executor.close();
  }
});

test('results - a child whose every generation is refused fails with the reason after maxGenerations; nothing hangs', async () => {
  const controller = await connect('refused-controller');
  const forger = await connect('refused-forger');
  const S = 'refused';
  const t = task(S, 1);
  await forger.js.publish(resultSubject(S, 1, 1), encodeChildResult(ok(t, 3), { searchId: S, genotypeHash: t.hash }));
  const executor = new JetStreamExecutor(controller, { log: () => {}, maxGenerations: 2 });
  try {
    const pending = executor.execute(t);
    // Generation 2 is queued; the forger answers it before any trainer does.
    for (let i = 0; i < 100; i++) {
      const info = await controller.jsm.streams.info('NAS_TASKS', { subjects_filter: `nas.tasks.${S}` });
      if ((info.state.subjects?.[`nas.tasks.${S}`] ?? 0) >= 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await forger.js.publish(resultSubject(S, 1, 2), encodeChildResult(ok(t, 0.5), { searchId: S, genotypeHash: 'not-the-hash' }));
    const r = await pending;
    assert.equal(r.status, 'failed');
    assert.match(r.reason ?? '', /2 results refused, the last: result on 'nas\.results\.refused\.1\.2' rejected: genotype hash "not-the-hash" is not the task's/);
    assert.equal(executor.rejectedResults, 2);
  } finally {
    await executor.close();
  }
});

test('results - garbage stored under a child\'s subject before a controller restart: the restarted executor queues the next generation with a fresh id and the child completes', async () => {
  const S = 'garbage';
  const t = task(S, 3);
  // The first controller queues the child, then goes away before any trainer runs.
  const first = await connect('garbage-controller-1');
  const before = new JetStreamExecutor(first, { log: () => {} });
  const abandoned = before.execute(t);
  abandoned.catch(() => {});
  for (let i = 0; i < 100; i++) {
    const info = await first.jsm.streams.info('NAS_TASKS', { subjects_filter: `nas.tasks.${S}` });
    if ((info.state.subjects?.[`nas.tasks.${S}`] ?? 0) >= 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await before.close();
  await first.close();
  // Meanwhile garbage lands on the child's subject.
  const junk = await admin.js.publish(resultSubject(S, 3, 1), new Uint8Array([0xff, 0x00, 0x13, 0x37]));
  const second = await connect('garbage-controller-2');
  const executor = new JetStreamExecutor(second, { log: () => {} });
  const trainer = await startTrainer('garbage-trainer');
  try {
    const r = await Promise.race([
      executor.execute(t),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no result in 30 s: the child hangs\n${trainer.lines.join('\n')}`)), 30_000)),
    ]);
    assert.equal(r.status, 'ok');
    assert.equal(r.reward, syntheticReward(t.genotype));
    assert.ok(await second.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: resultSubject(S, 3, 2) }), 'generation 2 answered');
    const letters = await deadLetters(second, resultSubject(S, 3, 1));
    assert.equal(letters.length, 1);
    assert.match(letters[0]!.reason, /^undecodable message on 'nas\.results\.garbage\.3\.1': \(message\): not a nas\.v1\.ChildResult/);
    assert.equal(executor.rejectedResults, 1);
    // The generation 1 task (still queued) met the garbage when its trainer answered: the first answer stands.
    for (let i = 0; i < 100 && !trainer.lines.some((l) => /answered already/.test(l)); i++) await new Promise((r2) => setTimeout(r2, 50));
    assert.ok(trainer.lines.some((l) => /generation 1\) was answered already/.test(l)), trainer.lines.join('\n'));
    void junk;
  } finally {
    await trainer.stop();
    await executor.close();
  }
});
