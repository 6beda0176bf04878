import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { DLQ_HEADERS, STREAM_DLQ, STREAM_EVENTS, STREAM_RESULTS, STREAM_TASKS } from '@nasnet/bus';
import { CIFAR10_RECORD_BYTES } from '@nasnet/data';
import { writeCifar10Folder } from '@nasnet/data/testing';
import type { StoredSearch } from '@nasnet/controller-service';
import { Cluster, EventLog, metricValue, until } from './support/cluster.js';
import { badMessageCorpus, headerLine, type BadMessage } from './support/fuzz.js';

/**
 * Issue 6, item 5: bad input on the bus while a controller, a trainer and
 * the metrics service run. 10,500 seeded bad messages (mutated ChildTask,
 * ChildResult and BusEvent bytes, random bytes, valid messages of one kind
 * on another kind's subject) go to the task queue, a followed search's
 * results subjects and the event subjects. No process crashes; every bad
 * task and every bad result is dead-lettered once with the decoder's exact
 * reason; every bad event is counted by the metrics service; the search
 * running meanwhile and the ones submitted after all complete. Then a
 * corrupt CIFAR-10 file and a child too large for the trainer's memory
 * each fail their own children with the reason, and nothing else.
 */
const cluster = await Cluster.start();
after(() => cluster.close());

const SEED = 6;
const COUNTS = { tasks: 4000, results: 3000, events: 3500 };
const TINY = 'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 4, validationSize: 64, learningRate: 0.05}';

interface Letter { kind: string; reason: string; subject: string; stream: string; seq: number; by: string; data: Uint8Array }

/** Every message in NAS_DLQ, read through an ordered consumer. */
async function deadLetters(expected: number): Promise<Letter[]> {
  const out: Letter[] = [];
  const consumer = await cluster.bus.js.consumers.get(STREAM_DLQ);
  const messages = await consumer.consume();
  const timer = setTimeout(() => void messages.close(), 30_000);
  for await (const m of messages) {
    out.push({
      kind: m.subject.slice('nas.dlq.'.length), reason: m.headers?.get(DLQ_HEADERS.reason) ?? '', subject: m.headers?.get(DLQ_HEADERS.subject) ?? '',
      stream: m.headers?.get(DLQ_HEADERS.stream) ?? '', seq: Number(m.headers?.get(DLQ_HEADERS.streamSequence)), by: m.headers?.get(DLQ_HEADERS.by) ?? '', data: m.data,
    });
    if (m.info.pending === 0 && out.length >= expected) break;
  }
  clearTimeout(timer);
  await messages.close();
  return out;
}

function searchDone(s: StoredSearch): boolean {
  return s.runState !== 'running' && s.runState !== 'pending';
}

test('bus fuzz - 10,500 bad messages: no process crashes, every bad task and result is dead-lettered with its reason, every bad event counted, and searches still complete', { timeout: 240_000 }, async () => {
  const t0 = Date.now();
  const events = await EventLog.follow(cluster.bus);
  after(() => events.close());
  // The out-of-memory search below trains at batch 512, above the default operator limit (256).
  const limitsFile = join(cluster.scratch, 'limits.json');
  writeFileSync(limitsFile, JSON.stringify({ search: { batchSize: 1024 } }));
  await cluster.startController('controller', { NASNET_LIMITS_FILE: limitsFile });
  await cluster.startMetrics();
  // A 256 MiB wasm heap: the oversized child below fails on it quickly (a pod's memory limit would set this).
  const [trainer] = await cluster.startTrainersReady(events, ['trainer-f'], { ACK_WAIT_MS: '30000', WASM_HEAP_LIMIT_MB: '256' });

  // Search A runs through the fuzz: its later children queue behind the bad tasks.
  const a = await cluster.submit(['name: fuzz-a', 'dataset: synthetic', 'strategy: random', 'seed: 3', 'budget: {maxArchitectures: 3, maxConcurrentChildren: 1}', TINY]);
  // Bad results go to A's subjects, which the controller follows once A's first child is out.
  await until(async () => {
    for await (const c of cluster.bus.jsm.consumers.list(STREAM_RESULTS)) {
      if ([c.config.filter_subject, ...(c.config.filter_subjects ?? [])].includes(`nas.results.${a}.>`)) return true;
    }
    return undefined;
  }, 30_000, () => `the controller to follow the results of ${a}\n${cluster.diagnostics()}`);

  const { messages, drawn } = badMessageCorpus({ seed: SEED, ...COUNTS, liveSearchId: a });
  assert.equal(messages.length, COUNTS.tasks + COUNTS.results + COUNTS.events);
  const published = new Map<string, BadMessage>(); // `${stream}.${seq}` -> message
  const tPublish = Date.now();
  for (let i = 0; i < messages.length; i += 250) {
    await Promise.all(messages.slice(i, i + 250).map(async (m) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
      const ack = await cluster.bus.js.publish(m.subject, m.data, m.headers ? { headers: h } : undefined);
      published.set(`${ack.stream}.${ack.seq}`, m);
    }));
  }
  const publishMs = Date.now() - tPublish;

  // Every bad task and result dead-lettered exactly once.
  const want = COUNTS.tasks + COUNTS.results;
  let dlq = { messages: 0, subjects: {} as Record<string, number> };
  await until(async () => {
    const info = await cluster.bus.jsm.streams.info(STREAM_DLQ, { subjects_filter: 'nas.dlq.>' });
    dlq = { messages: info.state.messages, subjects: info.state.subjects ?? {} };
    return info.state.messages >= want ? true : undefined;
  }, 120_000, () => `${want} dead letters, have ${JSON.stringify(dlq)}\n${cluster.diagnostics(1500)}`, 500);
  const drainedMs = Date.now() - tPublish;
  const letters = await deadLetters(want);
  assert.equal(letters.length, want, 'one dead letter per bad task and result, no more');
  const seen = new Set<string>();
  for (const l of letters) {
    const key = `${l.stream}.${l.seq}`;
    const m = published.get(key);
    assert.ok(m, `dead letter for ${key} (${l.reason}) matches a message the test published`);
    assert.ok(!seen.has(key), `${key} dead-lettered once`);
    seen.add(key);
    assert.equal(l.kind, m.family, key);
    assert.equal(l.stream, m.family === 'tasks' ? STREAM_TASKS : STREAM_RESULTS);
    assert.equal(l.subject, m.subject);
    assert.equal(l.reason, headerLine(m.reason), `${key}: made by ${m.how}`);
    assert.equal(l.by, m.family === 'tasks' ? 'trainer-f' : 'controller');
    assert.ok(Buffer.from(l.data).equals(Buffer.from(m.data)), `${key}: the dead letter holds the message bytes`);
  }
  assert.equal(letters.filter((l) => l.kind === 'tasks').length, COUNTS.tasks);
  assert.equal(letters.filter((l) => l.kind === 'results').length, COUNTS.results);
  // Nothing bad is left in the work queue.
  assert.equal((await cluster.bus.jsm.consumers.info(STREAM_TASKS, 'trainers')).num_pending, 0);

  // Every bad event counted by the metrics service (and seen as undecodable by the test's own follower).
  await until(async () => {
    const text = await cluster.scrape();
    return metricValue(text, 'nasnet_bad_events_total') === COUNTS.events ? true : undefined;
  }, 30_000, () => `metrics to count ${COUNTS.events} bad events\n${cluster.diagnostics(1500)}`);
  assert.equal(events.undecodable.length, COUNTS.events);
  const eventsStored = (await cluster.bus.jsm.streams.info(STREAM_EVENTS)).state.messages;
  assert.ok(eventsStored > COUNTS.events, 'the bad events are in NAS_EVENTS with the good ones');

  const finalA = await cluster.waitForStored(a, searchDone, 60_000, 'search A to end');
  assert.equal(finalA.runState, 'succeeded');
  assert.ok(finalA.loop!.entries.every((e) => e.result?.status === 'ok'), JSON.stringify(finalA.loop!.entries.map((e) => e.result?.reason)));

  // After the fuzz: a child too large for the trainer's memory (D), a corrupt data file (C), and a valid search (B), in that order on one trainer.
  const cifar = writeCifar10Folder(3, 1, { under: cluster.scratch }).dir;
  const record = CIFAR10_RECORD_BYTES;
  truncateSync(join(cifar, 'data_batch_1.bin'), 2 * record + 1000); // cut off inside record 2
  const d = await cluster.submit(['name: fuzz-oom', 'dataset: synthetic', 'strategy: random', 'seed: 4', 'budget: {maxArchitectures: 1, maxConcurrentChildren: 1}',
    'recipe: {epochs: 1, batchSize: 512, initialFilters: 64, cellsPerStack: 1, maxSteps: 2, validationSize: 64, learningRate: 0.05}']);
  const c = await cluster.submit(['name: fuzz-cifar', `dataset: "cifar10:${cifar}"`, 'strategy: random', 'seed: 5', 'budget: {maxArchitectures: 2, maxConcurrentChildren: 2}', TINY]);
  const b = await cluster.submit(['name: fuzz-b', 'dataset: synthetic', 'strategy: ppo', 'seed: 6', 'budget: {maxArchitectures: 4, maxConcurrentChildren: 2}', TINY, 'controller: {batchSize: 2, lstmUnits: 16}']);
  const [finalD, finalC, finalB] = await Promise.all([d, c, b].map((id) => cluster.waitForStored(id, searchDone, 120_000, 'the search to end')));

  const [oom] = finalD.loop!.entries;
  assert.equal(oom!.result!.status, 'failed');
  assert.match(oom!.result!.reason!, /^wasm backend out of memory: a tensor of [0-9.]+ MiB does not fit \(heap [0-9.]+ MiB, limit 256\.0 MiB\)/);
  assert.equal(oom!.result!.attempts, 1, 'failed once, not retried');
  for (const e of finalC.loop!.entries) {
    assert.equal(e.result!.status, 'failed');
    assert.equal(e.result!.reason, `dataset file ${join(cifar, 'data_batch_1.bin')} is truncated at byte offset ${2 * record} (record 2): `
      + `${2 * record + 1000} bytes is not a whole number of ${record}-byte records; the last record has only 1000 bytes`);
  }
  // Searches whose every child failed end FAILED with the most common reason (issue 13), after their whole (small) budget.
  for (const [s, reason] of [[finalD, /wasm backend out of memory/], [finalC, /is truncated at byte offset/]] as const) {
    assert.equal(s.runState, 'failed', s.message);
    assert.match(s.message ?? '', /children (all )?failed/);
    assert.match(s.message ?? '', reason);
    assert.equal(s.loop!.entries.length, s.spec.budget.architectures);
  }
  assert.equal(finalB.runState, 'succeeded');
  const trainedB = finalB.loop!.entries.filter((e) => e.duplicateOf === undefined);
  assert.equal(trainedB.length, 4);
  assert.ok(trainedB.every((e) => e.result?.status === 'ok' && e.result.reward > 0), JSON.stringify(trainedB.map((e) => [e.result?.status, e.result?.reason])));
  // B's children came after the out-of-memory child on the same trainer process.
  const oomAt = events.attempts(d)[0]!.timeMs;
  assert.equal(events.attempts(b).length, 4);
  assert.ok(events.attempts(b).every((x) => x.trainer === 'trainer-f' && x.timeMs > oomAt));

  for (const s of cluster.services) assert.equal(s.proc.exitCode, null, `${s.name} still runs\n${s.output().slice(-2000)}`);
  assert.equal(trainer.proc.signalCode, null);
  process.stderr.write(`bus-fuzz: ${messages.length} bad messages (${drawn} drawn, ${drawn - messages.length} still valid and dropped) published in ${publishMs} ms; `
    + `all dead-lettered ${drainedMs} ms after the first; test ${Date.now() - t0} ms\n`);
});
