import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@nasnet/config';
import { trainerConfigFromEnv, wasmThreadsFor } from '../src/config.js';

const host = { hostname: 'pod', pid: 1 };
const threads = (env: Record<string, string>, available: number) =>
  wasmThreadsFor(trainerConfigFromEnv({ NATS_URL: 'nats://nats:4222', ...env }, host), available);

test('trainer config - a child trains on the pod\'s CPU request, never on more cores than the process may use', () => {
  assert.equal(threads({ POD_CPU_REQUEST: '2' }, 64), 2, 'a 2-core pod on a 64-core node: 2 threads, not 64');
  assert.equal(threads({ POD_CPU_REQUEST: '4' }, 2), 2, 'never more than the cores the process sees');
  assert.equal(threads({}, 16), 8, 'outside a pod: the cores it may use, at most the engine\'s 8');
  assert.equal(threads({}, 1), 1);
});

test('trainer config - NAS_THREADS wins, and a bad value names the variable', () => {
  assert.equal(threads({ NAS_THREADS: '3', POD_CPU_REQUEST: '1' }, 2), 3);
  for (const bad of ['0', '9', 'two', '1.5']) {
    assert.throws(() => threads({ NAS_THREADS: bad }, 2), (err: Error) => err instanceof ConfigError && /NAS_THREADS/.test(err.message), bad);
  }
  assert.throws(() => threads({ POD_CPU_REQUEST: '0' }, 2), /POD_CPU_REQUEST/);
});
