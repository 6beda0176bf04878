import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@nasnet/config';
import { effectiveWasmHeapLimitMb, trainerConfigFromEnv } from '../src/config.js';

const MiB = 1024 * 1024;
const HOST = { hostname: 'h', pid: 1 };

test('heap limit - the wasm heap follows the pod memory limit, a safe margin below it, and WASM_HEAP_LIMIT_MB only lowers it', () => {
  const at = (env: Record<string, string>) => effectiveWasmHeapLimitMb(trainerConfigFromEnv({ NATS_URL: 'nats://n:4222', ...env }, HOST));
  assert.equal(at({}), undefined, 'outside a pod: the engine default');
  assert.equal(at({ WASM_HEAP_LIMIT_MB: '700' }), 700);
  // 2 GiB pod: a quarter (512 MiB) stays for Node itself.
  assert.equal(at({ POD_MEMORY_LIMIT_BYTES: String(2048 * MiB) }), 1536);
  // 1 GiB pod: the 384 MiB floor is more than a quarter.
  assert.equal(at({ POD_MEMORY_LIMIT_BYTES: String(1024 * MiB) }), 640);
  assert.equal(at({ POD_MEMORY_LIMIT_BYTES: String(2048 * MiB), WASM_HEAP_LIMIT_MB: '1000' }), 1000);
  assert.equal(at({ POD_MEMORY_LIMIT_BYTES: String(2048 * MiB), WASM_HEAP_LIMIT_MB: '4000' }), 1536, 'never above what the pod allows');
  assert.throws(() => at({ POD_MEMORY_LIMIT_BYTES: String(400 * MiB) }), (err: Error) => err instanceof ConfigError && /POD_MEMORY_LIMIT_BYTES.*at least 448 MiB/.test(err.message));
  assert.throws(() => at({ POD_MEMORY_LIMIT_BYTES: 'lots' }), /POD_MEMORY_LIMIT_BYTES/);
});

test('heap limit - a trainer in a pod too small for any heap exits 2 (a configuration error: its Job fails at once) naming the variable', () => {
  const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry], {
    encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', NATS_URL: 'nats://127.0.0.1:1', POD_MEMORY_LIMIT_BYTES: String(256 * MiB) },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^trainer: .*POD_MEMORY_LIMIT_BYTES/m);
});
