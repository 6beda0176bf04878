import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, readBoolean, readDirectory, readEnum, readExistingFile, readInteger, readPort, readString, readUrl,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nasnet-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts fn throws a ConfigError for `variable` with exactly this message. */
function rejects(fn: () => unknown, variable: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.equal(e.message, message);
    return true;
  });
}

test('config strings - unset and blank mean unset; required and pattern are checked; secrets are never echoed', () => {
  assert.equal(readString({}, 'A'), undefined);
  assert.equal(readString({ A: '   ' }, 'A', { default: 'd' }), 'd');
  assert.equal(readString({ A: ' kept as written ' }, 'A'), ' kept as written ');
  rejects(() => readString({}, 'A', { required: true }), 'A', 'A=(unset): expected a non-empty string (required)');
  rejects(() => readString({ A: 'x y' }, 'A', { pattern: /^\S+$/, expected: 'one word' }), 'A', 'A="x y": expected one word');
  rejects(() => readString({ PASS: 'hunter 2' }, 'PASS', { pattern: /^\S+$/, expected: 'one word', secret: true }), 'PASS', 'PASS=(hidden, 8 characters): expected one word');
  const e = new ConfigError('X', 'v', 'w', { cause: new Error('root') });
  assert.equal((e.cause as Error).message, 'root');
  assert.equal(e.value, 'v');
  assert.equal(e.expected, 'w');
});

test('config integers and ports - ranges, signs and garbage', () => {
  assert.equal(readInteger({ N: ' 42 ' }, 'N', { min: 1 }), 42);
  assert.equal(readInteger({}, 'N', { default: 7 }), 7);
  assert.equal(readInteger({}, 'N'), undefined);
  assert.equal(readInteger({ N: '-3' }, 'N'), -3);
  rejects(() => readInteger({ N: '4.5' }, 'N', { min: 1 }), 'N', 'N="4.5": expected an integer >= 1');
  rejects(() => readInteger({ N: '1e3' }, 'N', { min: 1, max: 100 }), 'N', 'N="1e3": expected an integer from 1 to 100');
  rejects(() => readInteger({ N: '101' }, 'N', { min: 1, max: 100 }), 'N', 'N="101": expected an integer from 1 to 100');
  rejects(() => readInteger({ N: '99999999999999999999' }, 'N'), 'N', 'N="99999999999999999999": expected an integer');
  rejects(() => readInteger({}, 'N', { required: true, max: 3 }), 'N', 'N=(unset): expected an integer <= 3 (required)');
  assert.equal(readPort({}, 'P', 8080), 8080);
  assert.equal(readPort({ P: '0' }, 'P', 8080), 0);
  assert.equal(readPort({ P: '65535' }, 'P', 8080), 65535);
  assert.equal(readPort({ P: '-1' }, 'P', 8080, { allowNone: true }), -1);
  rejects(() => readPort({ P: '-1' }, 'P', 8080), 'P', 'P="-1": expected a TCP port, 0 to 65535 (0: any free port)');
  rejects(() => readPort({ P: '65536' }, 'P', 8080), 'P', 'P="65536": expected a TCP port, 0 to 65535 (0: any free port)');
  rejects(() => readPort({ P: 'http' }, 'P', 8080, { allowNone: true }), 'P', 'P="http": expected a TCP port, 0 to 65535 (0: any free port, -1: none)');
});

test('config enums and booleans - exact words, named alternatives', () => {
  const kinds = ['kubernetes', 'local', 'none'] as const;
  assert.equal(readEnum({}, 'K', kinds, 'none'), 'none');
  assert.equal(readEnum({}, 'K', kinds), undefined);
  assert.equal(readEnum({ K: ' local ' }, 'K', kinds, 'none'), 'local');
  rejects(() => readEnum({ K: 'Local' }, 'K', kinds, 'none'), 'K', 'K="Local": expected one of kubernetes, local, none');
  for (const yes of ['1', 'true', 'YES', 'on']) assert.equal(readBoolean({ B: yes }, 'B', false), true);
  for (const no of ['0', 'false', 'No', 'off']) assert.equal(readBoolean({ B: no }, 'B', true), false);
  assert.equal(readBoolean({}, 'B', true), true);
  rejects(() => readBoolean({ B: 'maybe' }, 'B', true), 'B', 'B="maybe": expected true or false (also 1/0, yes/no, on/off)');
});

test('config files and directories - a file must exist and be a file; a directory must be absolute', () => {
  const file = join(dir, 'cert.pem');
  writeFileSync(file, 'x');
  mkdirSync(join(dir, 'sub'));
  assert.equal(readExistingFile({ F: file }, 'F'), file);
  assert.equal(readExistingFile({}, 'F'), undefined);
  rejects(() => readExistingFile({ F: join(dir, 'missing.pem') }, 'F', { what: 'PEM file' }), 'F', `F=${JSON.stringify(join(dir, 'missing.pem'))}: expected the path of an existing PEM file (ENOENT)`);
  rejects(() => readExistingFile({ F: join(dir, 'sub') }, 'F'), 'F', `F=${JSON.stringify(join(dir, 'sub'))}: expected the path of an existing file (it is not a regular file)`);
  rejects(() => readExistingFile({}, 'F', { required: true }), 'F', 'F=(unset): expected the path of an existing file (required)');
  assert.equal(readDirectory({ D: '/data/' }, 'D'), '/data');
  assert.equal(readDirectory({ D: '/' }, 'D'), '/');
  rejects(() => readDirectory({ D: 'data' }, 'D'), 'D', 'D="data": expected an absolute directory path');
});

test('config URLs - scheme and host checked, lists when allowed', () => {
  const nats = { protocols: ['nats', 'tls'], example: 'nats://nats:4222' };
  assert.equal(readUrl({ U: ' nats://nats:4222 ' }, 'U', nats), 'nats://nats:4222');
  assert.equal(readUrl({ U: 'nats://a:1, tls://b:2' }, 'U', { ...nats, list: true }), 'nats://a:1,tls://b:2');
  assert.equal(readUrl({}, 'U', { ...nats, default: 'nats://127.0.0.1:4222' }), 'nats://127.0.0.1:4222');
  rejects(() => readUrl({ U: 'nats://a:1,nats://b:2' }, 'U', nats), 'U', 'U="nats://a:1,nats://b:2": expected a URL starting with nats:// or tls:// such as nats://nats:4222');
  rejects(() => readUrl({ U: 'nats:4222' }, 'U', nats), 'U', 'U="nats:4222": expected a URL starting with nats:// or tls:// such as nats://nats:4222');
  rejects(() => readUrl({ U: 'http://nats:4222' }, 'U', nats), 'U', 'U="http://nats:4222": expected a URL starting with nats:// or tls:// such as nats://nats:4222');
  rejects(() => readUrl({ U: 'nats://a:1,' }, 'U', { ...nats, list: true }), 'U', 'U="nats://a:1,": expected comma-separated URLs starting with nats:// or tls:// such as nats://nats:4222');
  rejects(() => readUrl({}, 'U', { ...nats, required: true }), 'U', 'U=(unset): expected a URL starting with nats:// or tls:// such as nats://nats:4222 (required)');
});
