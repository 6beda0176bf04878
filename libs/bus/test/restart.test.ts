import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildTask } from '@nasnet/search';
import { genotypeHash, sampleGenotype } from '@nasnet/search-space';
import {
  connectBus, ensureStreams, JetStreamExecutor, NatsEventBus, publishChildResult, TrainerConsumer,
  type BusConnection,
} from '../src/index.js';
import { startNatsServer, type NatsTestServer } from '../src/testing.js';

// One server whose streams are on disk (as in production), restarted by each test.
let server: NatsTestServer;
const open: BusConnection[] = [];
before(async () => { server = await startNatsServer(); });
after(async () => {
  for (const c of open) await c.nc.close().catch(() => {});
  await server.stop();
});

/** Resolves once `bus` has reconnected (call before the restart). */
function reconnected(bus: BusConnection): Promise<void> {
  return (async () => {
    for await (const s of bus.nc.status()) if (s.type === 'reconnect') return;
  })();
}

async function connect(name: string): Promise<BusConnection> {
  const bus = await connectBus(server.url, { name, log: () => {}, reconnectTimeWaitMs: 100 });
  open.push(bus);
  await ensureStreams(bus.jsm);
  return bus;
}

test('restart - an event subscription delivers every event published after a nats-server restart, none twice', async () => {
  const pub = await connect('restart-pub');
  const sub = await connect('restart-sub');
  const got: number[] = [];
  const lines: string[] = [];
  const subscription = await new NatsEventBus(sub).subscribe((e) => { if (e.kind === 'queue') got.push(e.pending); }, { deliverAll: true, log: (l) => lines.push(l) });
  const events = new NatsEventBus(pub);
  const publish = (i: number) => events.publish({ kind: 'queue', timeMs: Date.now(), pending: i, inFlight: 0 });
  for (let i = 0; i < 5; i++) await publish(i);
  const back = reconnected(pub);
  await server.restart();
  await back;
  // Publish until the server takes them again (JetStream may need a moment after "ready").
  for (let i = 5; i < 10; i++) {
    for (let tries = 0; ; tries++) {
      try { await publish(i); break; } catch (err) { if (tries > 50) throw err; await new Promise((r) => setTimeout(r, 100)); }
    }
  }
  for (let i = 0; i < 100 && got.length < 10; i++) await new Promise((r) => setTimeout(r, 50));
  await subscription.close();
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(lines.some((l) => /following NAS_EVENTS \(nas\.events\.>\) again after a reconnect, from sequence 6/.test(l)), lines.join('\n'));
});

test('restart - a pending execute gets the result a trainer publishes after a nats-server restart', async () => {
  const bus = await connect('restart-controller');
  const task = (childId: number): ChildTask => {
    const genotype = sampleGenotype(new Rng(childId));
    return { searchId: 'restarted', childId, genotype, hash: genotypeHash(genotype), recipe: defaultRecipe(), dataset: 'synthetic', seed: childId, phase: 'search' };
  };
  const result = (childId: number, reward: number) => ({ childId, status: 'ok' as const, reward, validationByEpoch: [reward], trainSeconds: 1, paramCount: 1, multAdds: 1 });
  const executor = new JetStreamExecutor(bus, { log: () => {} });
  const trainerBus = await connect('restart-trainer');
  const consumer = await TrainerConsumer.start(trainerBus, { trainerId: 'restart-trainer', pullExpiresMs: 1000, log: () => {} });
  // Child 1's result reaches the executor before the restart, child 2's after it.
  const first = executor.execute(task(1));
  const second = executor.execute(task(2));
  const d1 = await consumer.next();
  await publishChildResult(trainerBus, d1!.task, result(d1!.task.childId, 0.5), { generation: d1!.generation });
  await d1!.ack();
  assert.equal((await first).reward, 0.5);
  const d2 = await consumer.next();
  const back = reconnected(trainerBus);
  await server.restart();
  await back;
  for (let tries = 0; ; tries++) {
    try {
      await publishChildResult(trainerBus, d2!.task, result(2, 0.625), { generation: d2!.generation });
      break;
    } catch (err) {
      if (tries > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const r2 = await Promise.race([second, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no result within 10 s of the restart')), 10_000))]);
  assert.equal(r2.reward, 0.625);
  await d2!.ack();
  consumer.close();
  await executor.close();
});
