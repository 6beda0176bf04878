import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectBus, ensureStreams, JetStreamExecutor, type BusConnection } from '@nasnet/bus';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';
import { Rng } from '@nasnet/random';
import { childDeadlineReason, defaultRecipe, withChildDeadline, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import { runTrainerLoop, type TrainFunction } from '../src/index.js';

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

function task(searchId: string, childId: number, epochs: number): ChildTask {
  const genotype = sampleGenotype(new Rng(childId));
  return { searchId, childId, genotype, hash: genotypeHash(genotype), recipe: { ...defaultRecipe(), epochs }, dataset: 'synthetic', seed: childId, phase: 'search' };
}

/** One epoch per 200 ms, honouring the signal like runChildTask (it throws once aborted). */
const slowTrain: TrainFunction = async (t, { signal }) => {
  const curve: number[] = [];
  for (let e = 1; e <= t.recipe.epochs; e++) {
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, 200);
      signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
    });
    curve.push(0.5);
  }
  return { childId: t.childId, status: 'ok', reward: 0.5, validationByEpoch: curve, trainSeconds: 0.2 * curve.length, paramCount: 10, multAdds: 10 };
};

test('child deadline - a child past the operator deadline fails with that reason and its trainer takes the next child', async () => {
  const controller = await connect('ctl-deadline');
  const executor = new JetStreamExecutor(controller, { log: () => {} });
  const trainerBus = await connect('tr-deadline');
  const stop = new AbortController();
  const lines: string[] = [];
  const done = runTrainerLoop({ bus: trainerBus, trainerId: 'tr-deadline', train: slowTrain, signal: stop.signal, pullExpiresMs: 1000, ackWaitMs: 2000, log: (l) => lines.push(l) });
  await new Promise((r) => setTimeout(r, 150));

  // The deadline travels in the task (ChildTask.max_seconds), stamped by the controller's executor.
  const bounded = withChildDeadline(executor, 1);
  // 600 epochs x 200 ms = 2 minutes: only the deadline can end it within the test.
  const long = await bounded.execute(task('deadline', 1, 600), {});
  const next = await bounded.execute(task('deadline', 2, 2), {});
  stop.abort();
  const stats = await done;
  await executor.close();

  assert.equal(long.status, 'failed');
  assert.equal(long.reason, childDeadlineReason(1));
  assert.equal(long.attempts, 1, 'not retried: the deadline is final');
  assert.equal(long.trainer, 'tr-deadline');
  assert.deepEqual([next.status, next.reward, next.trainer], ['ok', 0.5, 'tr-deadline']);
  assert.equal(stats.failed, 1);
  assert.equal(stats.trained, 1);
  assert.ok(lines.some((l) => l.includes(childDeadlineReason(1))), lines.join('\n'));
});
