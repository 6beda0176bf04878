import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, KvStateStore } from '@nasnet/bus';
import { startNatsServer } from '@nasnet/bus/testing';
import { readStoredSearch } from '@nasnet/controller-service';
import { freePort, startService, ROOT, type ServiceProcess } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'nas-e2e-'));
const nats = await startNatsServer();
const services: ServiceProcess[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.stop('SIGKILL')));
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('distributed - nasctl submits over gRPC; controller, two trainers and metrics over NATS JetStream finish the search; KV, metrics and Prometheus agree', { timeout: 600_000 }, async () => {
  const grpcPort = await freePort();
  const metricsPort = await freePort();
  const token = 'e2e-token';
  const controller = startService('controller', 'services/controller/src/main.ts', {
    NATS_URL: nats.url, GRPC_PORT: String(grpcPort), HTTP_PORT: '-1', HOST: '127.0.0.1', CONTROLLER_TOKEN: token, NASNET_LAUNCHER: 'none',
  });
  services.push(controller);
  await controller.waitFor(/ready: gRPC (\d+)/);
  const metrics = startService('metrics', 'services/metrics/src/main.ts', { NATS_URL: nats.url, METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' });
  services.push(metrics);
  await metrics.waitFor(/serving http/);
  for (const id of ['trainer-a', 'trainer-b']) {
    const t = startService(id, 'services/child-trainer/src/main.ts', { NATS_URL: nats.url, TRAINER_ID: id, NAS_BACKEND: 'wasm' });
    services.push(t);
  }

  // A real Prometheus scrapes the metrics service during the search.
  const promPort = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nasnet\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
  const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  after(() => { prometheus.kill('SIGKILL'); });

  writeFileSync(join(dir, 'spec.yaml'), [
    'name: e2e', 'dataset: synthetic', 'strategy: ppo', 'seed: 11',
    'budget: {maxArchitectures: 6, maxConcurrentChildren: 2}',
    'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 4, validationSize: 64, learningRate: 0.05}',
    'controller: {batchSize: 3, lstmUnits: 32}',
  ].join('\n'));
  const nasctl = spawnSync(process.execPath, ['services/nasctl/bin/nasctl.mjs', 'search', 'submit', join(dir, 'spec.yaml'), '--watch', '--json',
    '--server', `127.0.0.1:${grpcPort}`, '--token', token], { cwd: ROOT, encoding: 'utf8', timeout: 480_000 });
  assert.equal(nasctl.status, 0, `nasctl failed:\n${nasctl.stdout}\n${nasctl.stderr}\ncontroller:\n${controller.output().slice(-3000)}\n${services.slice(2).map((s) => s.output().slice(-1500)).join('\n')}`);
  const searchId = JSON.parse(nasctl.stdout.split('\n').find((l) => l.startsWith('{'))!).searchId as string;
  assert.match(nasctl.stdout, new RegExp(`search ${searchId} succeeded: 6 children finished`));
  assert.match(nasctl.stderr, /on trainer-a/);
  assert.match(nasctl.stderr, /on trainer-b/, 'both trainers took children');

  // The search state in JetStream KV.
  const bus = await connectBus(nats.url, { name: 'e2e-check', log: () => {} });
  try {
    const store = await KvStateStore.open<unknown>(bus);
    const stored = await readStoredSearch(store, searchId);
    assert.equal(stored?.runState, 'succeeded');
    const trained = stored!.loop!.entries.filter((e) => e.phase === 'search' && e.duplicateOf === undefined);
    assert.equal(trained.length, 6);
    assert.ok(trained.every((e) => e.result?.status === 'ok' && e.result.reward > 0), `every child trained for real: ${JSON.stringify(trained.map((e) => [e.result?.status, e.result?.reward, e.result?.reason]))}\n${services.slice(2).map((s) => s.output().slice(-4000)).join('\n')}`);
    assert.equal(stored!.loop!.updates.length, 2, 'one PPO update per 3 rewards');
  } finally {
    await bus.close();
  }

  // The metrics service, directly and through Prometheus.
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(text, new RegExp(`nasnet_children_trained_total\\{search="${searchId}"\\} 6`));
  assert.match(text, /nasnet_searches\{state="succeeded"\} 1/);
  let value: string | undefined;
  for (let i = 0; i < 60 && value !== '6'; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const res = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=sum(nasnet_children_trained_total)`)).json() as { data?: { result?: Array<{ value: [number, string] }> } };
      value = res.data?.result?.[0]?.value[1];
    } catch { /* prometheus still starting */ }
  }
  assert.equal(value, '6', 'Prometheus scraped the number of children trained');
});
