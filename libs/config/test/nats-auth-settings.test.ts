import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, natsSettingsFromEnv, NATS_VARIABLES } from '@nasnet/config';

const dir = mkdtempSync(join(tmpdir(), 'nasnet-config-nats-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const creds = join(dir, 'metrics.creds');
const ca = join(dir, 'ca.crt');
writeFileSync(creds, '-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');

test('nats settings - NATS_CREDS and NATS_CA name existing files; creds with a user, or a missing file, are refused naming the variable', () => {
  assert.deepEqual(natsSettingsFromEnv({ NATS_URL: 'nats://n:4222', NATS_CREDS: creds, NATS_CA: ca }), { url: 'nats://n:4222', creds, ca });
  assert.ok(['NATS_CREDS', 'NATS_CA'].every((n) => NATS_VARIABLES.some((v) => v.name === n)), 'every service lists them');
  assert.throws(() => natsSettingsFromEnv({ NATS_URL: 'nats://n:4222', NATS_CREDS: join(dir, 'none.creds') }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_CREDS');
  assert.throws(() => natsSettingsFromEnv({ NATS_URL: 'nats://n:4222', NATS_CA: join(dir, 'none.crt') }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_CA');
  assert.throws(() => natsSettingsFromEnv({ NATS_URL: 'nats://n:4222', NATS_CREDS: creds, NATS_USER: 'metrics', NATS_PASS: 'pw' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_CREDS' && /not both/.test(e.message));
});
