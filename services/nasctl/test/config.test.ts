import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@nasnet/config';
import { nasctlConfigFromEnv, VARIABLES } from '../src/config.js';
import { main } from '../src/main.js';

test('nasctl config - defaults, every variable parsed, bad values named', () => {
  assert.deepEqual(nasctlConfigFromEnv({}), { server: '127.0.0.1:50051', transferServer: '127.0.0.1:50052', debug: false, backend: 'auto' });
  assert.deepEqual(
    nasctlConfigFromEnv({ NASCTL_SERVER: 'ctl:443', NASCTL_TRANSFER_SERVER: 'xfer:50052', NASCTL_TOKEN: 'tok', NASCTL_DEBUG: '1', NAS_BACKEND: 'wasm' }),
    { server: 'ctl:443', transferServer: 'xfer:50052', token: 'tok', debug: true, backend: 'wasm' },
  );
  const fails = (env: Record<string, string>, variable: string, message: RegExp) => assert.throws(() => nasctlConfigFromEnv(env), (e: unknown) =>
    e instanceof ConfigError && e.variable === variable && message.test(e.message));
  fails({ NASCTL_SERVER: 'ctl' }, 'NASCTL_SERVER', /^NASCTL_SERVER="ctl": expected host:port/);
  fails({ NASCTL_DEBUG: 'sometimes' }, 'NASCTL_DEBUG', /expected true or false/);
  fails({ NAS_BACKEND: 'gpu' }, 'NAS_BACKEND', /expected one of auto, tensorflow, webgpu, wasm, cpu/);
  fails({ NASCTL_TOKEN: 'a b' }, 'NASCTL_TOKEN', /^NASCTL_TOKEN=\(hidden, 3 characters\)/);
});

test('nasctl config - reads exactly the variables it declares', () => {
  const read = new Set<string>();
  nasctlConfigFromEnv(new Proxy({} as Record<string, string | undefined>, { get: (t, k) => { read.add(String(k)); return t[String(k)]; } }));
  assert.deepEqual([...read].sort(), VARIABLES.map((v) => v.name).sort());
});

test('nasctl config - main() reports a bad variable in one line and exits 2', async () => {
  const saved = process.env.NASCTL_DEBUG;
  process.env.NASCTL_DEBUG = 'perhaps';
  const err: string[] = [];
  try {
    assert.equal(await main(['describe'], { out: () => {}, err: (l) => err.push(l), isTTY: false }), 2);
  } finally {
    if (saved === undefined) delete process.env.NASCTL_DEBUG; else process.env.NASCTL_DEBUG = saved;
  }
  assert.deepEqual(err, ['nasctl: NASCTL_DEBUG="perhaps": expected true or false (also 1/0, yes/no, on/off)']);
});
