import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectBus, inboxPrefixFor, isVariableSafePassword, natsAuthConfig, natsPasswordVariables,
  NATS_PASSWORD_VARIABLES, NATS_ROLES, NatsAuthConfigError,
} from '../src/index.js';
import { startNatsServer } from '../src/testing.js';

const SAFE = { controller: 'cControllerPass0001', trainer: 'tTrainerPass000002', metrics: 'mMetricsPass000003', transfer: 'xTransferPass00004' };
const serverEnv = Object.fromEntries(NATS_ROLES.map((r) => [NATS_PASSWORD_VARIABLES[r], SAFE[r]]));

test('auth - startNatsServer takes an authorization block whose passwords come from its environment', async () => {
  const server = await startNatsServer({ config: natsAuthConfig(natsPasswordVariables()), env: { ...process.env, ...serverEnv } });
  try {
    const bus = await connectBus(server.url, { name: 'auth-unit', user: 'metrics', pass: SAFE.metrics, log: () => {}, waitOnFirstConnect: false });
    try {
      // A JetStream API call the metrics user may make answers on its own inbox, _INBOX.metrics.
      assert.equal(typeof (await bus.jsm.getAccountInfo()).streams, 'number');
    } finally {
      await bus.close();
    }
    await assert.rejects(connectBus(server.url, { name: 'x', user: 'metrics', pass: SAFE.trainer, log: () => {}, waitOnFirstConnect: false }), /Authorization Violation/);
    // The shared _INBOX prefix is not the metrics user's: its replies could not arrive.
    await assert.rejects(
      connectBus(server.url, { name: 'y', user: 'metrics', pass: SAFE.metrics, inboxPrefix: '_INBOX', apiTimeoutMs: 2000, log: () => {}, waitOnFirstConnect: false }),
      /Permissions Violation for Subscription to "_INBOX\./,
    );
  } finally {
    await server.stop();
  }
});

test('auth - inboxPrefixFor uses the user name only when it is one subject token', () => {
  assert.equal(inboxPrefixFor('trainer'), '_INBOX.trainer');
  assert.equal(inboxPrefixFor(undefined), '_INBOX');
  assert.equal(inboxPrefixFor('a.b'), '_INBOX');
  assert.equal(inboxPrefixFor('*'), '_INBOX');
  assert.equal(inboxPrefixFor(''), '_INBOX');
});

test('auth - passwords isVariableSafePassword accepts survive nats-server\'s variable parsing; the ones it refuses may not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nats-auth-unit-'));
  try {
    const file = join(dir, 'nats.conf');
    writeFileSync(file, natsAuthConfig(natsPasswordVariables()));
    const accepts = (trainerPassword: string) => spawnSync('nats-server', ['-c', file, '-t'], {
      encoding: 'utf8', env: { ...process.env, ...serverEnv, NATS_TRAINER_PASSWORD: trainerPassword },
    }).status === 0;
    for (const p of ['Abcdefghijklmnop', 'p0123456789abcdefABCDEF', SAFE.trainer]) {
      assert.ok(isVariableSafePassword(p), p);
      assert.ok(accepts(p), `nats-server takes ${p}`);
    }
    // Digits (or an exponent) become a number, a space or a bracket breaks the parse: refused by both.
    for (const p of ['1234567890123456', '1e10abcdefghijkl', 'abcdefgh ijklmnop', '[abcdefghijklmnop']) {
      assert.equal(isVariableSafePassword(p), false, p);
      assert.equal(accepts(p), false, `nats-server refuses ${p}`);
    }
    assert.equal(isVariableSafePassword('Short1'), false, 'at least 16 characters');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('auth - natsAuthConfig quotes literal passwords and refuses what would break the file', () => {
  const text = natsAuthConfig({ ...SAFE, transfer: '$2a$11$hashFromNatsServerPasswd' });
  assert.match(text, /password: "\$2a\$11\$hashFromNatsServerPasswd"/);
  assert.match(text, /password: "cControllerPass0001"/);
  assert.match(text, /"\$JS\.API\.INFO"/, 'subjects are quoted, so $JS is no variable');
  assert.throws(() => natsAuthConfig({ ...SAFE, metrics: 'two words' }), (e: Error) => e instanceof NatsAuthConfigError && /user 'metrics'/.test(e.message));
  assert.throws(() => natsAuthConfig({ ...SAFE, trainer: '' }), /must not be empty/);
  assert.throws(() => natsAuthConfig({ ...SAFE, controller: { variable: '1BAD' } }), /variable name "1BAD"/);
  const { transfer: _t, ...three } = SAFE;
  assert.throws(() => natsAuthConfig(three as typeof SAFE), /user 'transfer': missing/);
});
