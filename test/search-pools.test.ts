import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, KvStateStore, listSearchQueues, NatsEventBus, type BusEvent } from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { readStoredSearch } from '@nasnet/controller-service';
import { freePort, runNasctl as nasctl, startService, type ServiceProcess } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'nas-pools-'));
const nats = await startNatsServer();
const services: ServiceProcess[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.stop('SIGKILL')));
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

function spec(name: string, memory: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, [
    `name: ${name}`, 'dataset: synthetic', 'strategy: random', 'seed: 5',
    'budget: {maxArchitectures: 3, maxConcurrentChildren: 1}',
    'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 3, validationSize: 32}',
    `resources: {memory: ${memory}}`,
  ].join('\n'));
  return path;
}

test('search pools - two searches at once, each with its own trainers and memory: every child trained by its own search\'s trainer, both progress together, trainers exit 0 and launches stop at the end', { timeout: 600_000 }, async () => {
  const grpcPort = await freePort();
  const token = 'pools-token';
  const controller = startService('controller', 'services/controller/src/main.ts', {
    NATS_URL: nats.url, GRPC_PORT: String(grpcPort), HTTP_PORT: '-1', HOST: '127.0.0.1', CONTROLLER_TOKEN: token, NASNET_LAUNCHER: 'local',
  });
  services.push(controller);
  await controller.waitFor(/ready: gRPC (\d+)/);

  const bus = await connectBus(nats.url, { name: 'pools-check', log: () => {} });
  const events: BusEvent[] = [];
  const sub = await new NatsEventBus(bus).subscribe((e) => events.push(e), { log: () => {} });
  try {
    const server = ['--server', `127.0.0.1:${grpcPort}`, '--token', token];
    // Submitted at once: with one queue for all, the second search would wait for the first's trainers.
    const [small, large] = await Promise.all([
      nasctl(['search', 'submit', spec('small', '1Gi'), '--watch', '--json', ...server]),
      nasctl(['search', 'submit', spec('large', '2Gi'), '--watch', '--json', ...server]),
    ]);
    const why = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}\ncontroller:\n${controller.output().slice(-6000)}`;
    assert.equal(small.code, 0, why(small));
    assert.equal(large.code, 0, why(large));
    const idOf = (r: { stdout: string }) => JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{'))!).searchId as string;
    const ids = { small: idOf(small), large: idOf(large) };

    // Every child of each search was trained by a trainer launched for that search.
    const store = await KvStateStore.open<unknown>(bus);
    for (const id of Object.values(ids)) {
      const stored = await readStoredSearch(store, id);
      assert.equal(stored?.runState, 'succeeded');
      const trained = stored!.loop!.entries.filter((e) => e.duplicateOf === undefined);
      assert.equal(trained.length, 3);
      assert.deepEqual(trained.map((e) => [e.result?.status, e.result?.trainer?.startsWith(`local-${id}-`)]), Array(3).fill(['ok', true]),
        JSON.stringify(trained.map((e) => e.result)));
    }

    // Each search's trainers ran with its own memory: the heap limit follows the launch's memory limit.
    const out = controller.output();
    assert.match(out, new RegExp(`trainer local-${ids.small}-0 \\(launched for search ${ids.small}\\): .*wasm heap limit 640 MiB \\(pod memory limit 1024 MiB\\)`));
    assert.match(out, new RegExp(`trainer local-${ids.large}-0 \\(launched for search ${ids.large}\\): .*wasm heap limit 1536 MiB \\(pod memory limit 2048 MiB\\)`));

    // Both progressed at the same time: each took a child before the other ended.
    const ended = (id: string) => events.findIndex((e) => e.kind === 'search_state' && e.searchId === id && e.state !== 'running');
    const firstAttempt = (id: string) => events.findIndex((e) => e.kind === 'child_attempt' && e.searchId === id);
    for (const [a, b] of [[ids.small, ids.large], [ids.large, ids.small]] as const) {
      assert.ok(firstAttempt(a) >= 0 && ended(b) >= 0 && firstAttempt(a) < ended(b), `search ${a} trained a child before ${b} ended`);
    }
    // And no trainer of one search took a child of the other.
    for (const e of events) if (e.kind === 'child_attempt') assert.ok(e.trainer.startsWith(`local-${e.searchId}-`), `${e.trainer} took a child of ${e.searchId}`);

    // At the end: the trainers saw their queue go and exited 0, the launch was stopped, no queue is left.
    for (const id of Object.values(ids)) {
      await controller.waitFor(new RegExp(`trainer local-${id}-0: search ${id} ended \\(its work queue is gone\\); stopping`), 60_000);
      await controller.waitFor(new RegExp(`search ${id}: trainers local/${id}#\\d+ finished: 1 exited 0, 0 failed, 0 running`), 60_000);
      await controller.waitFor(new RegExp(`search ${id}: trainers local/${id}#\\d+ stopped`), 60_000);
    }
    assert.deepEqual(await listSearchQueues(bus), []);
  } finally {
    await sub.close();
    await bus.close();
  }
  assert.equal(await controller.stop('SIGTERM'), 0);
});
