import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '@nats-io/jwt';
import {
  createNatsOperator, credsInboxPrefix, credsUserName, formatSigner, mintServiceCreds, mintTrainerCreds, natsOperatorConfig, natsPermissions,
  NatsCredentialsError, parseSigner, trainerPermissions, trainerPermissionTemplate,
} from '@nasnet/bus';

function jwtOf(creds: string): string {
  return /-----BEGIN NATS USER JWT-----\n(\S+)\n/.exec(creds)![1]!;
}

test('accounts - an operator setup: the account\'s signing key is scoped to the trainer template, JetStream on, the config names JWTs and public keys only', async () => {
  const setup = await createNatsOperator();
  type Scoped = { kind: string; key: string; role: string; template: { pub: { allow: string[] }; sub: { allow: string[] } } };
  const account = decode<{ signing_keys: Scoped[]; limits: Record<string, unknown> }>(setup.account.jwt);
  assert.equal(account.sub, setup.account.publicKey);
  assert.equal(account.nats.limits!.disk_storage, -1, 'JetStream enabled for the account');
  const conf = natsOperatorConfig(setup);
  assert.match(conf, /^resolver: MEMORY$/m);
  assert.ok(conf.includes(setup.account.jwt) && conf.includes(setup.systemAccount.jwt));
  assert.ok(!conf.includes(setup.signingSeed) && !conf.includes(setup.accountSeed), 'no seed in the server config');
  const [scoped] = account.nats.signing_keys!;
  assert.equal(scoped!.kind, 'user_scope');
  assert.deepEqual(scoped!.template.pub.allow, trainerPermissionTemplate().publish);
  assert.deepEqual(scoped!.template.sub.allow, trainerPermissionTemplate().subscribe);
  const creds = await mintServiceCreds({ account: setup.account.publicKey, accountSeed: setup.accountSeed }, 'metrics');
  const user = decode<{ issuer_account: string; pub: { allow: string[] }; sub: { allow: string[] } }>(jwtOf(creds));
  assert.equal(credsUserName(creds), 'metrics');
  assert.equal(user.nats.issuer_account, setup.account.publicKey);
  assert.equal(user.iss, setup.account.publicKey, 'services: signed by the account itself');
  assert.equal(credsInboxPrefix(creds), '_INBOX.metrics');
  assert.deepEqual(user.nats.pub!.allow, natsPermissions().metrics.publish);
  assert.deepEqual(user.nats.sub!.allow, natsPermissions().metrics.subscribe);
});

test('accounts - a trainer user is a scoped user tagged with its search; its expanded permissions name that search only and create no consumer', async () => {
  const setup = await createNatsOperator();
  const signer = parseSigner(formatSigner({ account: setup.account.publicKey, signingSeed: setup.signingSeed }));
  const creds = await mintTrainerCreds(signer, 'run-7', { expiresInSeconds: 3600 });
  const user = decode<{ pub?: unknown; sub?: unknown; tags: string[] }>(jwtOf(creds));
  assert.equal(credsUserName(creds), 'trainer-run-7');
  assert.equal(credsInboxPrefix(creds), '_INBOX.trainer.run-7');
  assert.ok(user.exp! > Date.now() / 1000, 'expires in the future');
  assert.deepEqual(user.nats.tags, ['search:run-7', 'queue:trainers-run-7']);
  assert.equal(user.nats.pub, undefined, 'no permissions of its own: the key\'s template gives them');
  const p = trainerPermissions('run-7');
  assert.deepEqual(p.subscribe, ['_INBOX.trainer.run-7.>']);
  assert.ok(trainerPermissionTemplate().publish.every((s) => !/\{\{/.test(s) || /(^|\.)\{\{tag\((search|queue)\)\}\}(\.|$)/.test(s)), 'placeholders fill whole subject tokens');
  for (const s of p.publish) {
    assert.doesNotMatch(s, /CONSUMER\.(DURABLE\.)?CREATE\.NAS_TASKS|CONSUMER\.DELETE\.NAS_TASKS|STREAM\.(CREATE|UPDATE|DELETE|PURGE)|^nas\.tasks|^\$KV\./, `${s} is not for a trainer`);
    if (/^nas\.(results|events)\./.test(s)) assert.match(s, /^nas\.(results\.run-7\.>|events\.run-7|events\.system)$/);
    if (/NAS_TASKS\.trainers/.test(s) || /NAS_RESULTS\./.test(s)) assert.match(s, /trainers-run-7|nas\.results\.run-7\./);
  }
  assert.throws(() => trainerPermissions('a.b'), /search id/);
  assert.throws(() => trainerPermissions('x>'), /search id/);
  await assert.rejects(mintTrainerCreds(signer, 'Upper'), /lower-case/);
});

test('accounts - a bad signer file or creds text is refused with what was wrong', () => {
  assert.throws(() => parseSigner('{', 'signer.json'), (e: unknown) => e instanceof NatsCredentialsError && /signer\.json: expected JSON/.test(e.message));
  assert.throws(() => parseSigner('{"account":"x","signingSeed":"SAxx"}', 'f'), /"account" must be an account public key/);
  assert.throws(() => parseSigner(`{"account":"A${'A'.repeat(55)}","signingSeed":"SU${'A'.repeat(56)}"}`, 'f'), /"signingSeed" must be an account seed/);
  assert.throws(() => credsUserName('user:password'), (e: unknown) => e instanceof NatsCredentialsError && /not a NATS \.creds file/.test(e.message));
});
