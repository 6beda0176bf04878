import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@nasnet/config';
import { defaultTrainerProfiles } from '@nasnet/launcher';
import { DEFAULT_SEARCH_LIMITS } from '@nasnet/search';
import { controllerConfigFromEnv, VARIABLES } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'controller-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NATS = { NATS_URL: 'nats://nats:4222' };

function fails(env: Record<string, string>, variable: string, message: RegExp): void {
  assert.throws(() => controllerConfigFromEnv(env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.match(e.message, message);
    return true;
  });
}

test('controller config - defaults', () => {
  assert.deepEqual(controllerConfigFromEnv(NATS), {
    nats: { url: 'nats://nats:4222' }, host: '0.0.0.0', grpcPort: 50051, httpPort: 8080, tokens: [], launcher: 'none',
    profiles: defaultTrainerProfiles(), limits: DEFAULT_SEARCH_LIMITS, trainerEnv: {},
  });
});

test('controller config - every variable parsed: tokens from both variables, TLS files, the launcher and its settings', () => {
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, '# who may submit\nci ci-token\nalice alice-token\n');
  const [cert, key, ca, template] = ['cert.pem', 'key.pem', 'ca.pem', 'job.yaml'].map((f) => {
    writeFileSync(join(dir, f), f);
    return join(dir, f);
  }) as [string, string, string, string];
  const c = controllerConfigFromEnv({
    ...NATS, NATS_USER: 'controller', NATS_PASS: 'pw', HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_PORT: '-1',
    CONTROLLER_TOKEN: 'op-token', CONTROLLER_TOKENS_FILE: tokens, TLS_CERT: cert, TLS_KEY: key, TLS_CLIENT_CA: ca,
    NASNET_LAUNCHER: 'kubernetes', NASNET_NAMESPACE: 'nasnet', NASNET_TRAINER_TEMPLATE: template, MAX_ACTIVE_SEARCHES: '8',
  });
  assert.deepEqual(c, {
    nats: { url: 'nats://nats:4222', user: 'controller', pass: 'pw' }, host: '127.0.0.1', grpcPort: 0, httpPort: -1,
    tokens: [{ name: 'default', token: 'op-token' }, { name: 'ci', token: 'ci-token' }, { name: 'alice', token: 'alice-token' }],
    tls: { cert, key, clientCa: ca }, launcher: 'kubernetes', namespace: 'nasnet', trainerTemplate: template, maxActiveSearches: 8,
    profiles: defaultTrainerProfiles(), limits: DEFAULT_SEARCH_LIMITS, trainerEnv: {},
  });
});

test('controller config - a bad value is refused naming the variable, its value and what was expected', () => {
  fails({}, 'NATS_URL', /^NATS_URL=\(unset\): expected .*nats:\/\/nats:4222 \(required\)$/);
  fails({ ...NATS, GRPC_PORT: '50051x' }, 'GRPC_PORT', /^GRPC_PORT="50051x": expected a TCP port, 0 to 65535/);
  fails({ ...NATS, GRPC_PORT: '-1' }, 'GRPC_PORT', /^GRPC_PORT="-1"/);
  fails({ ...NATS, HTTP_PORT: '70000' }, 'HTTP_PORT', /-1: none/);
  fails({ ...NATS, NASNET_LAUNCHER: 'docker' }, 'NASNET_LAUNCHER', /^NASNET_LAUNCHER="docker": expected one of kubernetes, local, none$/);
  fails({ ...NATS, NASNET_NAMESPACE: 'Nas_Net' }, 'NASNET_NAMESPACE', /expected a Kubernetes namespace name/);
  fails({ ...NATS, NASNET_TRAINER_TEMPLATE: join(dir, 'missing.yaml') }, 'NASNET_TRAINER_TEMPLATE', /existing trainer Job template \(YAML\) \(ENOENT\)/);
  fails({ ...NATS, MAX_ACTIVE_SEARCHES: '0' }, 'MAX_ACTIVE_SEARCHES', /expected an integer from 1 to 100000/);
  fails({ ...NATS, CONTROLLER_TOKENS_FILE: join(dir, 'no-tokens') }, 'CONTROLLER_TOKENS_FILE', /ENOENT/);
  fails({ ...NATS, TLS_CERT: join(dir, 'nothing.pem'), TLS_KEY: join(dir, 'nothing.pem') }, 'TLS_CERT', /ENOENT/);
  fails({ ...NATS, CONTROLLER_TOKEN: 'a b' }, 'CONTROLLER_TOKEN', /^CONTROLLER_TOKEN=\(hidden, 3 characters\)/);
});

test('controller config - reads exactly the variables it declares', () => {
  const read = new Set<string>();
  const env = new Proxy({ ...NATS } as Record<string, string | undefined>, { get: (t, k) => { read.add(String(k)); return t[String(k)]; } });
  controllerConfigFromEnv(env);
  assert.deepEqual([...read].sort(), VARIABLES.map((v) => v.name).sort());
  assert.ok(VARIABLES.find((v) => v.name === 'NATS_URL')?.required);
  assert.deepEqual(VARIABLES.filter((v) => v.required).map((v) => v.name), ['NATS_URL']);
});

test('controller process - a bad variable stops it before it connects: one line naming it, exit 2', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1', NASNET_LAUNCHER: 'docker' }, encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, '[controller] NASNET_LAUNCHER="docker": expected one of kubernetes, local, none\n');
});
