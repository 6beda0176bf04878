import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@nasnet/config';
import { transferConfigFromEnv, VARIABLES } from '../src/config.js';
import { DEFAULT_TRANSFER_LIMITS } from '@nasnet/transfer';

const dir = mkdtempSync(join(tmpdir(), 'transfer-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NATS = { NATS_URL: 'nats://nats:4222' };

function fails(env: Record<string, string>, variable: string, message: RegExp): void {
  assert.throws(() => transferConfigFromEnv(env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.match(e.message, message);
    return true;
  });
}

test('transfer config - defaults, NATS_URL required (transfer state lives in JetStream KV)', () => {
  assert.deepEqual(transferConfigFromEnv(NATS), { nats: { url: 'nats://nats:4222' }, host: '0.0.0.0', port: 50052, tokens: [], maxConcurrent: 1, limits: DEFAULT_TRANSFER_LIMITS });
  fails({}, 'NATS_URL', /^NATS_URL=\(unset\): .*\(required\)$/);
});

test('transfer config - every variable parsed: tokens, TLS, backend, the controller to ask, data and export roots', () => {
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, 'ci ci-token\n');
  const [cert, key, ca] = ['cert.pem', 'key.pem', 'ca.pem'].map((f) => {
    writeFileSync(join(dir, f), f);
    return join(dir, f);
  }) as [string, string, string];
  const c = transferConfigFromEnv({
    ...NATS, NATS_USER: 'transfer', NATS_PASS: 'pw', TRANSFER_HOST: '127.0.0.1', TRANSFER_PORT: '0',
    TRANSFER_TOKEN: 'tt', TRANSFER_TOKENS_FILE: tokens, TLS_CERT: cert, TLS_KEY: key, TRANSFER_MAX_CONCURRENT: '2',
    NAS_BACKEND: 'wasm', CONTROLLER_ADDR: 'nasnet-controller:50051', CONTROLLER_TOKEN: 'ct', CONTROLLER_CA: ca,
    NASNET_DATA_DIR: '/data', NASNET_EXPORT_DIR: '/exports/',
  });
  assert.deepEqual(c, {
    nats: { url: 'nats://nats:4222', user: 'transfer', pass: 'pw' }, host: '127.0.0.1', port: 0,
    tokens: [{ name: 'default', token: 'tt' }, { name: 'ci', token: 'ci-token' }], tls: { cert, key }, maxConcurrent: 2, backend: 'wasm',
    controller: { address: 'nasnet-controller:50051', token: 'ct', tls: { ca } }, dataRoot: '/data', exportRoot: '/exports', limits: DEFAULT_TRANSFER_LIMITS,
  });
  // auto is the engine's default: nothing to pass on.
  assert.equal(transferConfigFromEnv({ ...NATS, NAS_BACKEND: 'auto' }).backend, undefined);
});

test('transfer config - a bad value is refused naming the variable', () => {
  fails({ ...NATS, TRANSFER_PORT: 'fifty' }, 'TRANSFER_PORT', /^TRANSFER_PORT="fifty": expected a TCP port/);
  fails({ ...NATS, TRANSFER_MAX_CONCURRENT: '0' }, 'TRANSFER_MAX_CONCURRENT', /expected an integer from 1 to 64/);
  fails({ ...NATS, NAS_BACKEND: 'tpu' }, 'NAS_BACKEND', /^NAS_BACKEND="tpu": expected one of auto, tensorflow, webgpu, wasm, cpu$/);
  fails({ ...NATS, CONTROLLER_ADDR: 'http://controller' }, 'CONTROLLER_ADDR', /expected host:port of the controller/);
  fails({ ...NATS, CONTROLLER_TOKEN: 'ct' }, 'CONTROLLER_ADDR', /^CONTROLLER_ADDR=\(unset\): expected the controller's host:port when CONTROLLER_TOKEN is set$/);
  fails({ ...NATS, CONTROLLER_ADDR: 'c:1', CONTROLLER_CA: join(dir, 'no-ca.pem') }, 'CONTROLLER_CA', /ENOENT/);
  fails({ ...NATS, NASNET_DATA_DIR: 'data' }, 'NASNET_DATA_DIR', /expected an absolute directory path/);
  fails({ ...NATS, NASNET_EXPORT_DIR: './out' }, 'NASNET_EXPORT_DIR', /expected an absolute directory path/);
  fails({ ...NATS, TLS_KEY: join(dir, 'key.pem') }, 'TLS_CERT', /to go with TLS_KEY/);
});

test('transfer config - reads exactly the variables it declares', () => {
  const read = new Set<string>();
  const env = new Proxy({ ...NATS } as Record<string, string | undefined>, { get: (t, k) => { read.add(String(k)); return t[String(k)]; } });
  transferConfigFromEnv(env);
  assert.deepEqual([...read].sort(), VARIABLES.map((v) => v.name).sort());
});
