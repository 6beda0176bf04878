import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, EventLog, metricValue, until } from './support/cluster.js';

/**
 * Issue 6, item 3: nats-server restarted mid-search (SIGTERM, then started
 * again on the same port with the same JetStream store, as a rolling
 * restart does). Every service reconnects on its own and the search
 * completes with its budget; the streams, the durable work queue and the
 * KV state come back from disk.
 */
const cluster = await Cluster.start();
after(() => cluster.close());

const BUDGET = 6;

test('faults - nats-server restarted mid-search: controller, trainers and metrics reconnect and the search completes with its budget', { timeout: 180_000 }, async () => {
  const events = await EventLog.follow(cluster.bus);
  after(() => events.close());
  await cluster.startController();
  await cluster.startMetrics();
  // An ack deadline that outlasts the outage plus a reconnect (2 s apart): in-flight children stay with their trainers.
  await cluster.startTrainersReady(events, ['trainer-a', 'trainer-b'], { ACK_WAIT_MS: '15000' });
  const searchId = await cluster.submit([
    'name: faults-nats', 'dataset: synthetic', 'strategy: ppo', 'seed: 44',
    `budget: {maxArchitectures: ${BUDGET}, maxConcurrentChildren: 2}`,
    'recipe: {epochs: 2, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 16, validationSize: 64, learningRate: 0.05}',
    'controller: {batchSize: 2, lstmUnits: 16}',
  ]);

  // Restart once two children are stored as done and another is on a trainer.
  const before = await cluster.waitForStored(searchId, (s) => {
    const done = s.loop?.entries.filter((e) => e.state === 'done').length ?? 0;
    const started = new Set(events.attempts(searchId).map((a) => a.childId));
    return done >= 2 && (s.loop?.entries.some((e) => e.state === 'running' && started.has(e.childId)) ?? false);
  }, 120_000, 'two children done and one in flight');
  const doneBefore = before.loop!.entries.filter((e) => e.state === 'done').length;
  const restartAt = Date.now();
  // Down for 2 s, as a pod being replaced is: results finished meanwhile wait for the server.
  await cluster.nats.restart(2000);
  const upAt = Date.now();

  const final = await cluster.waitForStored(searchId, (s) => s.runState !== 'running' && s.runState !== 'pending', 150_000, 'the search to end after the restart');
  assert.equal(final.runState, 'succeeded', `${final.message ?? ''}\n${cluster.diagnostics()}`);
  const trained = final.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
  assert.equal(trained.length, BUDGET);
  assert.equal(new Set(trained.map((e) => e.hash)).size, BUDGET);
  assert.ok(trained.every((e) => e.result?.status === 'ok'), `every child trained: ${JSON.stringify(trained.map((e) => [e.childId, e.result?.status, e.result?.reason]))}\n${cluster.diagnostics()}`);

  // Every service noticed the restart, reconnected and is still running.
  for (const s of cluster.services) {
    assert.equal(s.proc.exitCode, null, `${s.name} still runs\n${s.output().slice(-2000)}`);
    assert.match(s.output(), /nats: disconnected/, `${s.name} saw the server go`);
    assert.match(s.output(), /nats: reconnected/, `${s.name} reconnected`);
  }
  // ... and went on working over the restarted server: trainers beat and trained, the controller published.
  const afterUp = events.events.filter((e) => e.timeMs >= upAt);
  for (const id of ['trainer-a', 'trainer-b']) assert.ok(afterUp.some((e) => e.kind === 'trainer_heartbeat' && e.trainer === id), `${id} heartbeats after the restart`);
  assert.ok(afterUp.some((e) => e.kind === 'child_attempt' && e.searchId === searchId), 'children were trained after the restart');
  assert.ok(afterUp.some((e) => e.kind === 'search' && e.searchId === searchId && e.event.type === 'child_finished'), 'the controller reported children after the restart');

  // The metrics service followed the event stream across the restart.
  const text = await until(async () => {
    const t = await cluster.scrape();
    return metricValue(t, 'nasnet_children_trained_total', { search: searchId }) === BUDGET ? t : undefined;
  }, 20_000, () => `metrics to count ${BUDGET} children\n${cluster.diagnostics()}`);
  assert.equal(metricValue(text, 'nasnet_searches', { state: 'succeeded' }), 1);
  // No child was trained twice: in-flight children stayed with their trainers, and a result whose
  // publish met the outage was published again once the server was back, not trained again.
  const again = events.attempts(searchId).filter((a) => a.redelivered).map((a) => a.childId);
  assert.deepEqual(again, [], `children trained again after the restart\n${cluster.diagnostics()}`);
  const secs = trained.map((e) => e.result!.trainSeconds);
  process.stderr.write(`faults-nats: restarted with ${doneBefore} children done; server down ${upAt - restartAt} ms; search done ${Date.now() - upAt} ms after; children trained in ${Math.min(...secs).toFixed(1)}-${Math.max(...secs).toFixed(1)} s\n`);
});
