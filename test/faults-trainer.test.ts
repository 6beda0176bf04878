import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BusEvent } from '@nasnet/bus';
import { Cluster, EventLog, metricValue, ResultTap, until } from './support/cluster.js';

/**
 * Issue 6, item 1: a trainer killed in the middle of a child. The child
 * comes back to another trainer once its ack deadline (2 s here) passes,
 * is trained there once, and the search ends with exactly its budget of
 * distinct rewards, each child with one result.
 */
const cluster = await Cluster.start();
after(() => cluster.close());

const BUDGET = 5;

test('faults - a trainer SIGKILLed mid-child: the child is redelivered to the other trainer, trained once, and the search ends with its budget of distinct rewards', { timeout: 180_000 }, async () => {
  const started = Date.now();
  const events = await EventLog.follow(cluster.bus);
  const results = await ResultTap.open(cluster.bus);
  after(() => { results.close(); return events.close(); });
  await cluster.startController();
  await cluster.startMetrics();
  const [victim, survivor] = await cluster.startTrainersReady(events, ['trainer-a', 'trainer-b']);
  const readyAt = Date.now();

  // Children of 2 epochs x 16 steps of 16 synthetic 8x8 images at F=4, N=1:
  // about 2 s each on wasm, so a kill after epoch 1 lands mid-child.
  const searchId = await cluster.submit([
    'name: faults-trainer', 'dataset: synthetic', 'strategy: ppo', 'seed: 21',
    `budget: {maxArchitectures: ${BUDGET}, maxConcurrentChildren: 2}`,
    'recipe: {epochs: 2, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 16, validationSize: 64, learningRate: 0.05}',
    'controller: {batchSize: 2, lstmUnits: 16}',
  ]);

  // trainer-a finished epoch 1 of a child (its validation came in) and is now in epoch 2.
  const midway = await events.waitFor(
    (e): e is Extract<BusEvent, { kind: 'child_progress' }> => e.kind === 'child_progress' && e.searchId === searchId && e.trainer === 'trainer-a'
      && e.progress.epoch === 1 && e.progress.validationAccuracy !== undefined,
    90_000, () => `trainer-a to finish epoch 1 of a child\n${cluster.diagnostics()}`, EventLog.searchEnded(searchId),
  );
  const childId = midway.progress.childId;
  await victim.stop('SIGKILL');
  const killedAt = Date.now();
  assert.equal(victim.proc.signalCode, 'SIGKILL');
  assert.equal(results.of(searchId, childId).length, 0, 'trainer-a died before publishing a result for the child');

  const final = await cluster.waitForStored(searchId, (s) => s.runState !== 'running' && s.runState !== 'pending', 150_000, 'the search to end');
  const doneAt = Date.now();
  assert.equal(final.runState, 'succeeded', `${final.message ?? ''}\n${cluster.diagnostics()}`);

  // Budget: exactly BUDGET distinct architectures trained, each once, all ok.
  const loop = final.loop!;
  const trained = loop.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
  assert.equal(trained.length, BUDGET);
  assert.equal(new Set(trained.map((e) => e.hash)).size, BUDGET, 'distinct architectures');
  assert.ok(trained.every((e) => e.result?.status === 'ok'), JSON.stringify(trained.map((e) => [e.childId, e.result?.status, e.result?.reason])));
  assert.equal(loop.observed, loop.entries.filter((e) => e.phase === 'search').length, 'every reward observed');
  assert.equal(new Set(loop.entries.map((e) => e.childId)).size, loop.entries.length);

  // The killed child: trained again by trainer-b on its second delivery, one result in all.
  const entry = loop.entries[childId]!;
  assert.equal(entry.result!.trainer, 'trainer-b');
  assert.equal(entry.result!.attempts, 2);
  const attempts = events.attempts(searchId).filter((a) => a.childId === childId).map((a) => [a.trainer, a.attempt, a.redelivered]);
  assert.deepEqual(attempts, [['trainer-a', 1, false], ['trainer-b', 2, true]]);
  // Handed on once the 2 s ack deadline passed and trainer-b was free (it may have been busy with a child of its own).
  const redelivery = events.attempts(searchId).find((a) => a.childId === childId && a.attempt === 2)!;

  // Every child of the search has exactly one published result.
  for (const e of loop.entries) {
    const published = results.of(searchId, e.childId);
    if (e.duplicateOf !== undefined) continue; // answered from the reward cache, never queued
    assert.equal(published.length, 1, `child ${e.childId}: ${JSON.stringify(published)}`);
    assert.equal(published[0]!.status, 'ok');
  }

  // Metrics saw the redelivery and counted each child once.
  const text = await until(async () => {
    const t = await cluster.scrape();
    return metricValue(t, 'nasnet_children_trained_total', { search: searchId }) === BUDGET ? t : undefined;
  }, 15_000, () => `metrics to count ${BUDGET} children\n${cluster.diagnostics()}`);
  assert.ok((metricValue(text, 'nasnet_children_redelivered_total', { search: searchId }) ?? 0) >= 1, 'a redelivery was counted');
  assert.equal(metricValue(text, 'nasnet_children_failed_total', { search: searchId }), 0);

  // The survivors are still up.
  for (const s of [survivor, cluster.controller!, cluster.metrics!.proc]) assert.equal(s.proc.exitCode, null, `${s.name} still runs`);
  const secs = trained.map((e) => e.result!.trainSeconds);
  process.stderr.write(`faults-trainer: processes ready in ${readyAt - started} ms; kill of child ${childId} at +${killedAt - readyAt} ms, `
    + `redelivered after ${redelivery.timeMs - killedAt} ms; search done ${doneAt - killedAt} ms after the kill; children trained in ${Math.min(...secs).toFixed(1)}-${Math.max(...secs).toFixed(1)} s\n`);
});
