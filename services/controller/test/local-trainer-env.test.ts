import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalProcessLauncher, type LaunchStatus } from '@nasnet/launcher';
import { controllerConfigFromEnv } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'controller-trainer-env-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const DUMP = fileURLToPath(new URL('./fixtures/env-dump.mjs', import.meta.url));

test('local trainers - a locally launched trainer gets only what it needs: no API token, not the controller\'s NATS password', async () => {
  // The controller's environment as an operator sets it, with secrets a trainer must never see.
  const env = {
    NATS_URL: 'nats://127.0.0.1:4222', NATS_USER: 'controller', NATS_PASS: 'controller-secret',
    CONTROLLER_TOKEN: 'api-token', NASNET_LAUNCHER: 'local', TRAINER_NATS_USER: 'trainer', TRAINER_NATS_PASS: 'trainer-secret',
    PATH: '/usr/local/bin:/usr/bin:/bin', NODE_OPTIONS: '--max-old-space-size=512', HOME: '/home/operator', AWS_SECRET_ACCESS_KEY: 'cloud-secret',
  };
  const config = controllerConfigFromEnv(env);
  // What run.ts builds for NASNET_LAUNCHER=local: the config's trainer environment, the bus URL.
  const launcher = new LocalProcessLauncher({ entry: DUMP, execArgv: [], stdio: 'ignore', env: config.trainerEnv, natsUrl: config.nats.url });
  const out = join(dir, 'env.json');
  const handle = await launcher.launch({ searchId: 's-env', trainers: 1, gpusPerTrainer: 0, backend: 'wasm', env: { DUMP_TO: out } });
  const final = await new Promise<LaunchStatus>((resolve) => handle.watch((s) => { if (s.done) resolve(s); }));
  assert.equal(final.outcome, 'succeeded');

  const seen = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
  assert.deepEqual(seen, {
    PATH: env.PATH, NODE_OPTIONS: env.NODE_OPTIONS, NATS_URL: env.NATS_URL, NATS_USER: 'trainer', NATS_PASS: 'trainer-secret',
    SEARCH_ID: 's-env', TRAINER_ID: 'local-s-env-0', NAS_BACKEND: 'wasm', DUMP_TO: out,
    // Standard input is its lifeline: it stops when this process is gone, however it ends.
    TRAINER_STDIN_LIFELINE: 'true',
    // Its share of this machine's cores (one trainer: all of them), as a pod gets its CPU request.
    POD_CPU_REQUEST: String(Math.max(1, availableParallelism())),
  });
  assert.ok(!Object.values(seen).some((v) => v === 'api-token' || v === 'controller-secret' || v === 'cloud-secret'));
});
