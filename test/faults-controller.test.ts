import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeChildResult, STREAM_RESULTS, resultSubject } from '@nasnet/bus';
import type { StoredSearch } from '@nasnet/controller-service';
import { SearchLoop, type ChildResult, type SearchState } from '@nasnet/search';
import { Cluster, EventLog, ResultTap, sleep } from './support/cluster.js';

/**
 * Issue 6, item 2: the controller SIGKILLed mid-search, after some children
 * finished and while others train, then started again on the same NATS.
 * The search resumes from its stored state and ends with exactly its budget
 * of distinct children; no child is trained twice (no trainer died, so
 * each child has exactly one attempt and one result) and no reward is
 * counted twice (PPO updates = floor(rewards observed / batch)).
 */
const cluster = await Cluster.start();
after(() => cluster.close());

const BUDGET = 8;
const BATCH = 2;

type PpoState = { updates: number; buffer: unknown[]; baseline: number | null; weights: number[][]; rng: unknown; optimizer: unknown };
const ppo = (s: SearchState) => s.strategy as unknown as PpoState;

test('faults - the controller SIGKILLed mid-search resumes from its stored state: budget of distinct children, none trained twice, no reward counted twice', { timeout: 180_000 }, async () => {
  const events = await EventLog.follow(cluster.bus);
  const results = await ResultTap.open(cluster.bus);
  after(() => { results.close(); return events.close(); });
  const first = await cluster.startController('controller-1');
  // The production ack deadline: no trainer dies here, so none of its children may come back
  // (a trainer on a loaded 2-core machine can block its event loop for seconds in a step).
  await cluster.startTrainersReady(events, ['trainer-a', 'trainer-b'], { ACK_WAIT_MS: '30000' });

  // PPO updating every 2 rewards, so updates happen both before and after the kill.
  const searchId = await cluster.submit([
    'name: faults-controller', 'dataset: synthetic', 'strategy: ppo', 'seed: 33',
    `budget: {maxArchitectures: ${BUDGET}, maxConcurrentChildren: 2}`,
    'recipe: {epochs: 2, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 16, validationSize: 64, learningRate: 0.05}',
    `controller: {batchSize: ${BATCH}, lstmUnits: 16}`,
  ]);

  // Kill once a policy update is stored and a child the stored state lists as running is on a trainer.
  const stored = await cluster.waitForStored(searchId, (s) => {
    const loop = s.loop;
    if (!loop || loop.updates.length < 1) return false;
    const started = new Set(events.attempts(searchId).map((a) => a.childId));
    return loop.entries.some((e) => e.state === 'running' && started.has(e.childId) && results.of(searchId, e.childId).length === 0);
  }, 120_000, 'a stored policy update and a child in flight');
  await first.stop('SIGKILL');
  assert.equal(first.proc.signalCode, 'SIGKILL');
  // What the next controller resumes from: nothing writes the state while no controller runs.
  const atKill = (await cluster.stored(searchId))!;
  assert.equal(atKill.runState, 'running');
  const loopAtKill = atKill.loop!;
  assert.ok(loopAtKill.updates.length >= stored.loop!.updates.length, 'the state the next controller finds is at least as far as the one seen');
  const runningAtKill = loopAtKill.entries.filter((e) => e.state === 'running').map((e) => e.childId);
  assert.ok(runningAtKill.length >= 1, 'children were in flight');
  assert.ok(loopAtKill.entries.some((e) => e.state === 'done'), 'some children had finished');

  // Trainers go on meanwhile; a child finishing now is found in NAS_RESULTS by the next controller.
  await sleep(1500);
  const second = await cluster.startController('controller-2');
  await second.waitFor(/resuming search/, 30_000);
  const final = await cluster.waitForStored(searchId, (s) => s.runState !== 'running' && s.runState !== 'pending', 150_000, 'the resumed search to end');
  assert.equal(final.runState, 'succeeded', `${final.message ?? ''}\n${cluster.diagnostics()}`);
  const loop = final.loop!;

  // Exactly the budget of distinct architectures, all trained.
  const search = loop.entries.filter((e) => e.phase === 'search');
  const trained = search.filter((e) => e.duplicateOf === undefined);
  assert.equal(trained.length, BUDGET);
  assert.equal(new Set(trained.map((e) => e.hash)).size, BUDGET);
  assert.ok(trained.every((e) => e.result?.status === 'ok'), JSON.stringify(trained.map((e) => [e.childId, e.result?.status, e.result?.reason])));

  // No child trained twice: one attempt and one published result per child; each reward is its own architecture's.
  for (const e of trained) {
    const attempts = events.attempts(searchId).filter((a) => a.childId === e.childId);
    assert.equal(attempts.length, 1, `child ${e.childId} attempts: ${JSON.stringify(attempts)}; results ${JSON.stringify(results.of(searchId, e.childId))}\n${cluster.diagnostics(6000)}`);
    assert.equal(results.of(searchId, e.childId).length, 1, `child ${e.childId} results: ${JSON.stringify(results.of(searchId, e.childId))}`);
    // Generation 1: nothing was refused, so no child was queued a second time.
    const msg = await cluster.bus.jsm.streams.getMessage(STREAM_RESULTS, { last_by_subj: resultSubject(searchId, e.childId, 1) });
    const decoded = decodeChildResult(msg!.data, msg!.subject);
    assert.equal(decoded.genotypeHash, e.hash, `child ${e.childId}: the stored reward belongs to its architecture`);
    assert.equal(decoded.result.reward, e.result!.reward);
  }
  assert.equal(events.attempts(searchId).length, BUDGET);

  // What was stored before the kill is kept: children, their results and the policy updates.
  for (const before of loopAtKill.entries) {
    const after = loop.entries[before.childId]!;
    assert.equal(after.hash, before.hash, `child ${before.childId} is the same architecture`);
    if (before.state === 'done') assert.deepEqual(after.result, before.result);
  }
  assert.deepEqual(loop.updates.slice(0, loopAtKill.updates.length), loopAtKill.updates);

  // No reward counted twice: every observed reward went into exactly one PPO batch.
  const rewards = search.filter((e) => e.result!.status !== 'failed' && e.result!.status !== 'cancelled').length;
  assert.equal(loop.observed, search.length);
  assert.equal(ppo(loop).updates, Math.floor(rewards / BATCH));
  assert.equal(ppo(loop).buffer.length, rewards % BATCH);
  assert.deepEqual(loop.updates.map((u) => u.update), Array.from({ length: Math.floor(rewards / BATCH) }, (_, i) => i + 1));
  assert.ok(loop.updates.length > loopAtKill.updates.length, 'the resumed controller updated the policy too');

  // Exact resume: replaying the same rewards without any kill gives the same children, updates and policy.
  const replay = await replaySearch(final);
  assert.deepEqual(replay.entries.map((e) => [e.childId, e.hash, e.duplicateOf]), loop.entries.map((e) => [e.childId, e.hash, e.duplicateOf]));
  const noTime = (u: { updateMs: number }) => ({ ...u, updateMs: 0 });
  assert.deepEqual(replay.updates.map(noTime), loop.updates.map(noTime));
  assert.deepEqual(ppo(replay).weights, ppo(loop).weights, 'the policy weights after the resumed run equal an uninterrupted run\'s');
  assert.deepEqual(ppo(replay).optimizer, ppo(loop).optimizer, 'and so do the Adam moments');
  assert.deepEqual(ppo(replay).baseline, ppo(loop).baseline);
  assert.deepEqual(ppo(replay).rng, ppo(loop).rng);

  for (const s of cluster.services.filter((p) => p !== first)) assert.equal(s.proc.exitCode, null, `${s.name} still runs`);
  const secs = trained.map((e) => e.result!.trainSeconds);
  process.stderr.write(`faults-controller: killed with ${loopAtKill.entries.filter((e) => e.state === 'done').length} children done, `
    + `${runningAtKill.length} in flight (${runningAtKill.join(', ')}), ${loopAtKill.updates.length} update(s); final ${loop.updates.length} updates; children trained in ${Math.min(...secs).toFixed(1)}-${Math.max(...secs).toFixed(1)} s\n`);
});

/** Runs the search's spec again in process, answering each child with the result the real run recorded for it. */
async function replaySearch(final: StoredSearch): Promise<SearchState> {
  const recorded = new Map<number, ChildResult>(final.loop!.entries.map((e) => [e.childId, e.result!]));
  const loop = new SearchLoop(final.spec, {
    searchId: final.id,
    executor: {
      // Answer on a later turn, as a real executor does.
      execute: async (task) => {
        await sleep(0);
        const r = recorded.get(task.childId);
        if (!r) throw new Error(`the replay proposed child ${task.childId}, which the real run never had`);
        return r;
      },
    },
  });
  return loop.run();
}
