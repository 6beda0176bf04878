import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@nasnet/config';
import { trainerConfigFromEnv, VARIABLES } from '../src/config.js';

const host = { hostname: 'node-7', pid: 42 };
const NATS = { NATS_URL: 'nats://nats:4222' };

function fails(env: Record<string, string>, variable: string, message?: RegExp): void {
  assert.throws(() => trainerConfigFromEnv(env, host), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.ok(e.message.startsWith(`${variable}=`), e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('trainer config - defaults, with NATS_URL required', () => {
  assert.deepEqual(trainerConfigFromEnv(NATS, host), {
    nats: { url: 'nats://nats:4222' }, trainerId: 'node-7-42', maxAttempts: 5, ackWaitMs: 30_000, heartbeatMs: 10_000, connectAttempts: 10, connectDelayMs: 500, backend: 'auto',
    stdinLifeline: false,
  });
  fails({}, 'NATS_URL', /^NATS_URL=\(unset\): expected .* \(required\)$/);
  fails({ NATS_URL: 'http://nats:4222' }, 'NATS_URL', /"http:\/\/nats:4222"/);
});

test('trainer config - every variable parsed and checked, naming the bad one', () => {
  const c = trainerConfigFromEnv({
    ...NATS, NATS_USER: 'trainer', NATS_PASS: 'pw', TRAINER_ID: 'pod-a', SEARCH_ID: 's-1', MAX_DELIVER: '3', ACK_WAIT_MS: '60000',
    HEARTBEAT_MS: '500', WASM_HEAP_LIMIT_MB: '512', NAS_BACKEND: 'wasm', NATS_TOKEN: 't', NATS_CONNECT_ATTEMPTS: '3', NATS_CONNECT_DELAY_MS: '0',
    TRAINER_STDIN_LIFELINE: 'true',
  }, host);
  assert.deepEqual(c, {
    nats: { url: 'nats://nats:4222', user: 'trainer', pass: 'pw' }, natsToken: 't', trainerId: 'pod-a', searchId: 's-1',
    maxAttempts: 3, ackWaitMs: 60_000, heartbeatMs: 500, connectAttempts: 3, connectDelayMs: 0, wasmHeapLimitMb: 512, backend: 'wasm',
    stdinLifeline: true,
  });
  fails({ ...NATS, TRAINER_STDIN_LIFELINE: 'maybe' }, 'TRAINER_STDIN_LIFELINE');
  fails({ ...NATS, MAX_DELIVER: 'five' }, 'MAX_DELIVER', /"five": expected an integer >= 1$/);
  fails({ ...NATS, ACK_WAIT_MS: '10' }, 'ACK_WAIT_MS', /expected an integer >= 1000/);
  fails({ ...NATS, TRAINER_ID: 'a b' }, 'TRAINER_ID');
  fails({ ...NATS, WASM_HEAP_LIMIT_MB: '32' }, 'WASM_HEAP_LIMIT_MB', /expected an integer >= 64/);
  fails({ ...NATS, NATS_CONNECT_ATTEMPTS: '0' }, 'NATS_CONNECT_ATTEMPTS', /expected an integer >= 1/);
  fails({ ...NATS, NAS_BACKEND: 'gpu' }, 'NAS_BACKEND', /"gpu": expected one of auto, tensorflow, webgpu, wasm, cpu$/);
  fails({ ...NATS, NATS_PASS: 'secret-pw' }, 'NATS_USER');
});

test('trainer config - reads exactly the variables it declares (those our code parses)', () => {
  const read = new Set<string>();
  const env = new Proxy({ ...NATS } as Record<string, string | undefined>, { get: (t, k) => { read.add(String(k)); return t[String(k)]; } });
  trainerConfigFromEnv(env, host);
  const ours = VARIABLES.filter((v) => v.readBy === undefined).map((v) => v.name).sort();
  assert.deepEqual([...read].sort(), ours);
  assert.equal(new Set(VARIABLES.map((v) => v.name)).size, VARIABLES.length, 'no variable declared twice');
});

test('trainer process - a bad variable stops it before anything starts: one line naming it, exit 2', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1', MAX_DELIVER: 'five' }, encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'trainer: MAX_DELIVER="five": expected an integer >= 1\n');
});
