import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectBus, ensureStreams, JetStreamExecutor, type BusConnection } from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { normalizeSpec, SearchLoop, type ChildExecutor, type SearchState } from '@nasnet/search';
import { runTrainerLoop, type TrainFunction } from '../src/index.js';

let server: NatsTestServer;
const connections: BusConnection[] = [];
before(async () => { server = await startNatsServer(); });
after(async () => {
  for (const c of connections) await c.nc.close().catch(() => {});
  await server.stop();
});

async function connect(name: string): Promise<BusConnection> {
  const bus = await connectBus(server.url, { name, log: () => {} });
  connections.push(bus);
  await ensureStreams(bus.jsm, { storage: 'memory' });
  return bus;
}

/** Reward from the genotype alone: the share of separable convs in both cells, so any executor gives the same. */
const train: TrainFunction = async (t, { onProgress }) => {
  const ops = [...t.genotype.normal.blocks, ...t.genotype.reduction.blocks].flatMap((b) => b.ops);
  const reward = ops.filter((op) => op.startsWith('sep_conv')).length / ops.length;
  onProgress({ childId: t.childId, epoch: 1, epochs: 1, step: 1, stepsPerEpoch: 1, loss: 1, trainAccuracy: reward, imagesPerSec: 1, validationAccuracy: reward });
  await new Promise((r) => setTimeout(r, 5 + (t.childId % 3) * 10)); // finish out of order
  return { childId: t.childId, status: 'ok', reward, validationByEpoch: [reward], trainSeconds: 0, paramCount: 1, multAdds: 1 };
};

const spec = normalizeSpec({ dataset: 'synthetic', strategy: 'evolution', seed: 11, budget: { architectures: 16, concurrency: 3 }, recipe: { epochs: 1 } });
// Evolution proposes from earlier rewards: equal runs mean rewards were fed back in the same order.
const summary = (s: SearchState) => s.entries.map((e) => [e.childId, e.hash, e.result?.status, e.result?.reward]);

test('search over the bus - a SearchLoop on JetStreamExecutor matches the same search run in-process', async () => {
  const local: ChildExecutor = { execute: (t, hooks) => train(t, { onProgress: hooks.onProgress ?? (() => {}), signal: new AbortController().signal }) };
  const expected = await new SearchLoop(spec, { searchId: 'local', executor: local }).run();

  const controller = await connect('controller');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const stop = new AbortController();
  const trainers = await Promise.all(['a', 'b'].map((id) => connect(id)));
  const loops = trainers.map((bus, i) => runTrainerLoop({ bus, trainerId: 'ab'[i]!, train, signal: stop.signal, pullExpiresMs: 1000, log: () => {} }));
  let progress = 0;
  const state = await new SearchLoop(spec, { searchId: 'bus', executor, onEvent: (e) => { if (e.type === 'child_progress') progress++; } }).run();
  stop.abort();
  const stats = await Promise.all(loops);
  await executor.close();
  assert.equal(stats[0]!.trained + stats[1]!.trained, state.entries.filter((e) => e.duplicateOf === undefined).length);
  assert.equal(state.outcome, 'succeeded');
  assert.deepEqual(summary(state), summary(expected));
  assert.ok(state.entries.filter((e) => e.duplicateOf === undefined).every((e) => e.result?.trainer === 'a' || e.result?.trainer === 'b'));
  assert.ok(progress > 0);
});
