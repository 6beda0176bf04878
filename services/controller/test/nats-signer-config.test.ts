import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNatsOperator, formatSigner } from '@nasnet/bus';
import { ConfigError } from '@nasnet/config';
import { controllerConfigFromEnv } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'nasnet-signer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('controller config - NATS_SIGNER_FILE gives the signer that mints trainer users; a bad file stops the controller naming it; local trainers get NATS_CA only', async () => {
  const setup = await createNatsOperator();
  const good = join(dir, 'signer.json');
  writeFileSync(good, formatSigner({ account: setup.account.publicKey, signingSeed: setup.signingSeed }));
  const ca = join(dir, 'ca.crt');
  writeFileSync(ca, 'pem');
  const config = controllerConfigFromEnv({ NATS_URL: 'nats://n:4222', NATS_SIGNER_FILE: good, NATS_CA: ca, CONTROLLER_TOKEN: 't' });
  assert.equal(config.natsSigner?.account, setup.account.publicKey);
  assert.equal(config.trainerEnv.NATS_CA, ca, 'the trainers verify the same server');
  assert.equal(JSON.stringify(config.trainerEnv).includes(setup.signingSeed), false, 'the signing key stays with the controller');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"account": "nope"}');
  assert.throws(() => controllerConfigFromEnv({ NATS_URL: 'nats://n:4222', NATS_SIGNER_FILE: bad }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_SIGNER_FILE' && /account public key/.test(e.message));
});
