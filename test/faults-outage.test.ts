import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, EventLog } from './support/cluster.js';

/**
 * Issue 11, "Outages": nats-server gone for 60 s in the middle of a search
 * (stopped, then started again on the same port with the same JetStream
 * store). The controller process and two trainer processes keep running:
 * their publishes (tasks, results, events, dead letters) and lookups retry
 * with back-off (withBusRetry) instead of failing a child, so the search
 * succeeds with its whole budget and every child is trained exactly once.
 *
 * The trainers' ack deadline (120 s) outlasts the outage by more than the
 * trainers' working() period (a third of it): the deadline runs from the
 * last working() that reached the server, and a trainer calls working()
 * again as soon as it reconnects. A shorter deadline would let the
 * restarted server hand a child in training to another trainer, which is
 * JetStream's at-least-once delivery (not a loss, but a second training).
 */
const cluster = await Cluster.start();
after(() => cluster.close());

const BUDGET = 6;
const OUTAGE_MS = 60_000;

test('faults - a 60-second NATS outage mid-search fails no child and loses nothing: every child trained exactly once, the search succeeds', { timeout: 420_000 }, async () => {
  const events = await EventLog.follow(cluster.bus);
  after(() => events.close());
  await cluster.startController();
  await cluster.startTrainersReady(events, ['trainer-a', 'trainer-b'], { ACK_WAIT_MS: '120000' });
  const searchId = await cluster.submit([
    'name: faults-outage', 'dataset: synthetic', 'strategy: ppo', 'seed: 45',
    `budget: {maxArchitectures: ${BUDGET}, maxConcurrentChildren: 2}`,
    'recipe: {epochs: 2, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 16, validationSize: 64, learningRate: 0.05}',
    'controller: {batchSize: 2, lstmUnits: 16}',
  ]);

  // Go down once a child is stored as done and another is on a trainer.
  const before = await cluster.waitForStored(searchId, (s) => {
    const done = s.loop?.entries.filter((e) => e.state === 'done').length ?? 0;
    const started = new Set(events.attempts(searchId).map((a) => a.childId));
    return done >= 1 && (s.loop?.entries.some((e) => e.state === 'running' && started.has(e.childId)) ?? false);
  }, 180_000, 'a child done and one in flight');
  const doneBefore = before.loop!.entries.filter((e) => e.state === 'done').length;
  await cluster.nats.restart(OUTAGE_MS);

  const final = await cluster.waitForStored(searchId, (s) => s.runState !== 'running' && s.runState !== 'pending', 240_000, 'the search to end after the outage');
  assert.equal(final.runState, 'succeeded', `${final.message ?? ''}\n${cluster.diagnostics()}`);
  assert.ok(doneBefore < BUDGET, 'the outage came in the middle of the search');
  const trained = final.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
  assert.equal(trained.length, BUDGET);
  assert.ok(trained.every((e) => e.result?.status === 'ok'),
    `no child failed: ${JSON.stringify(trained.map((e) => [e.childId, e.result?.status, e.result?.reason]))}\n${cluster.diagnostics()}`);
  // Exactly once: one training attempt per child, on the first delivery (events are retried through the outage too).
  await events.waitFor(EventLog.searchEnded(searchId), 60_000, () => `the search's final state event\n${cluster.diagnostics()}`);
  for (const e of trained) {
    const attempts = events.attempts(searchId).filter((a) => a.childId === e.childId);
    assert.equal(attempts.length, 1, `child ${e.childId} attempts: ${JSON.stringify(attempts)}\n${cluster.diagnostics(6000)}`);
    assert.equal(e.result?.attempts, 1, `child ${e.childId} answered on its first delivery`);
  }
  // Every process lived through it, saw the server go and come back.
  for (const s of cluster.services) {
    assert.equal(s.proc.exitCode, null, `${s.name} still runs\n${s.output().slice(-2000)}`);
    assert.match(s.output(), /nats: disconnected/, `${s.name} saw the server go`);
    assert.match(s.output(), /nats: reconnected/, `${s.name} reconnected`);
  }
});
