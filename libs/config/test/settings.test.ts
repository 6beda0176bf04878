import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, describeVariables, natsSettingsFromEnv, parseTokens, readTokenFile, tlsFilesFromEnv, TokenFileError, tokensFromEnv,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nasnet-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('token files - name/token lines, comments and blank lines; errors name the file and line', () => {
  const text = '# callers of the controller\n\nalice  s3cret-a\n\tbob\ts3cret-b  \r\n# the end\n';
  assert.deepEqual(parseTokens(text, 'tokens.txt'), [{ name: 'alice', token: 's3cret-a' }, { name: 'bob', token: 's3cret-b' }]);
  const bad = (t: string, line: number, reason: RegExp) => assert.throws(() => parseTokens(t, '/etc/tokens'), (e: unknown) => {
    assert.ok(e instanceof TokenFileError);
    assert.equal(e.file, '/etc/tokens');
    assert.equal(e.line, line);
    assert.ok(e.message.startsWith(`/etc/tokens line ${line}: `), e.message);
    assert.match(e.message, reason);
    return true;
  });
  bad('alice a\njustonefield\n', 2, /expected "name token" .*found 1 field/);
  bad('alice a b\n', 1, /found 3 field/);
  bad('# c\nal/ice tok\n', 2, /name "al\/ice" must be/);
  bad('alice a\nalice b\n', 2, /name "alice" is already used on line 1/);
  bad('alice same\nbob same\n', 2, /the token of "bob" is the same as the one on line 1/);
  // The token never appears in the message.
  assert.throws(() => parseTokens('alice same-token-value\nbob same-token-value\n', 'f'), (e: Error) => !e.message.includes('same-token-value'));

  assert.deepEqual(readTokenFile(file('ok.txt', 'ci token-1\n')), [{ name: 'ci', token: 'token-1' }]);
  assert.throws(() => readTokenFile(file('empty.txt', '# nobody yet\n')), (e: unknown) => e instanceof TokenFileError && e.line === 0 && /holds no "name token" line/.test(e.message));
  assert.throws(() => readTokenFile(join(dir, 'missing.txt')), (e: unknown) => e instanceof TokenFileError && /cannot read it \(ENOENT\)/.test(e.message) && e.cause !== undefined);
});

test('tokens from the environment - the single token is "default", the file adds named ones, conflicts are refused', () => {
  const names = { token: 'X_TOKEN', file: 'X_TOKENS_FILE' };
  const tokens = file('tokens.txt', 'alice ta\nbob tb\n');
  assert.deepEqual(tokensFromEnv({}, names), []);
  assert.deepEqual(tokensFromEnv({ X_TOKEN: 't0' }, names), [{ name: 'default', token: 't0' }]);
  assert.deepEqual(tokensFromEnv({ X_TOKEN: 't0', X_TOKENS_FILE: tokens }, names), [
    { name: 'default', token: 't0' }, { name: 'alice', token: 'ta' }, { name: 'bob', token: 'tb' },
  ]);
  const refused = (env: Record<string, string>, variable: string, message: RegExp) => assert.throws(() => tokensFromEnv(env, names), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.variable, variable);
    assert.match(e.message, message);
    return true;
  });
  refused({ X_TOKEN: 'two words' }, 'X_TOKEN', /^X_TOKEN=\(hidden, 9 characters\): expected a token without spaces$/);
  refused({ X_TOKEN: 'ta', X_TOKENS_FILE: tokens }, 'X_TOKEN', /^X_TOKEN=\(hidden, 2 characters\): expected a token not also listed in X_TOKENS_FILE$/);
  refused({ X_TOKEN: 't0', X_TOKENS_FILE: file('dflt.txt', 'default td\n') }, 'X_TOKENS_FILE', /no token named "default" while X_TOKEN is set/);
  const broken = file('broken.txt', 'alice ta\nbob\n');
  refused({ X_TOKENS_FILE: broken }, 'X_TOKENS_FILE', new RegExp(`^X_TOKENS_FILE="${broken}": expected a file of "name token" lines; ${broken} line 2: expected "name token"`));
  refused({ X_TOKENS_FILE: join(dir, 'nope') }, 'X_TOKENS_FILE', /expected the path of an existing token file \(ENOENT\)/);
});

test('NATS settings - NATS_URL required, a password needs a user', () => {
  assert.deepEqual(natsSettingsFromEnv({ NATS_URL: 'nats://n:4222' }), { url: 'nats://n:4222' });
  assert.deepEqual(natsSettingsFromEnv({ NATS_URL: 'nats://a:1,nats://b:2', NATS_USER: ' metrics ', NATS_PASS: ' pw ' }), { url: 'nats://a:1,nats://b:2', user: 'metrics', pass: ' pw ' });
  assert.throws(() => natsSettingsFromEnv({}), (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_URL' && /^NATS_URL=\(unset\): .*\(required\)$/.test(e.message));
  assert.throws(() => natsSettingsFromEnv({ NATS_URL: 'n:4222' }), (e: unknown) => e instanceof ConfigError && e.variable === 'NATS_URL' && e.message.startsWith('NATS_URL="n:4222": expected comma-separated URLs starting with nats://'));
  assert.throws(() => natsSettingsFromEnv({ NATS_URL: 'nats://n:4222', NATS_PASS: 'pw' }), (e: unknown) => e instanceof ConfigError && e.message === 'NATS_USER=(unset): expected a NATS user name when NATS_PASS is set');
});

test('server TLS - certificate and key together, the client CA needs them, every file must exist', () => {
  const cert = file('c.pem', 'cert');
  const key = file('k.pem', 'key');
  const ca = file('ca.pem', 'ca');
  assert.equal(tlsFilesFromEnv({}), undefined);
  assert.deepEqual(tlsFilesFromEnv({ TLS_CERT: cert, TLS_KEY: key }), { cert, key });
  assert.deepEqual(tlsFilesFromEnv({ TLS_CERT: cert, TLS_KEY: key, TLS_CLIENT_CA: ca }), { cert, key, clientCa: ca });
  const refused = (env: Record<string, string>, variable: string, message: RegExp) => assert.throws(() => tlsFilesFromEnv(env), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.variable, variable);
    assert.match(e.message, message);
    return true;
  });
  refused({ TLS_CERT: cert }, 'TLS_KEY', /^TLS_KEY=\(unset\): expected a private key file to go with TLS_CERT$/);
  refused({ TLS_KEY: key }, 'TLS_CERT', /^TLS_CERT=\(unset\): expected a certificate file to go with TLS_KEY$/);
  refused({ TLS_CLIENT_CA: ca }, 'TLS_CERT', /mutual TLS needs server TLS/);
  refused({ TLS_CERT: join(dir, 'none.pem'), TLS_KEY: key }, 'TLS_CERT', /expected the path of an existing PEM certificate file \(ENOENT\)/);
});

test('describeVariables - one markdown row per variable, in order, pipes escaped', () => {
  const md = describeVariables([
    { name: 'NATS_URL', required: true, meaning: 'Where NATS is.' },
    { name: 'PORT', required: false, default: '8080', meaning: 'a | b\nsecond line' },
  ]);
  assert.equal(md, [
    '| Variable | Required | Default | Meaning |',
    '| --- | --- | --- | --- |',
    '| `NATS_URL` | yes |  | Where NATS is. |',
    '| `PORT` | no | `8080` | a \\| b second line |',
    '',
  ].join('\n'));
});
