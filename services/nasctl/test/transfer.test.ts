import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTransferServer } from '@nasnet/transfer-service';
import { main, type CliIO } from '../src/main.js';
import { nasctlConfigFromEnv } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'nasctl-transfer-'));
const server = await startTransferServer({ port: 0 });
after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

function io(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}
const conn = ['--server', `127.0.0.1:${server.port}`];

test('nasctl transfer - start NASNet-A at a fixed N@F, watch it train, get the exported model', { timeout: 300_000 }, async () => {
  const out = io();
  const code = await main(['transfer', 'start', '--genotype', 'nasnet-a', '--layout', 'cifar', '--cells', '1', '--initial-filters', '4',
    '--data', 'mnist', '--epochs', '1', '--max-steps', '2', '--batch', '16', '--export', join(dir, 'model'), '--watch', '--json', ...conn], out);
  assert.equal(code, 0, out.stderr.join('\n') + out.stdout.join('\n'));
  const started = JSON.parse(out.stdout.find((l) => l.startsWith('{'))!);
  assert.equal(started.cells, 1);
  assert.equal(started.filters, 4);
  assert.match(out.stdout.at(-1)!, /succeeded: test accuracy \d\.\d{4}, model in /);
  assert.ok(existsSync(join(dir, 'model', 'model.json')));
  const list = io();
  assert.equal(await main(['transfer', 'list', ...conn], list), 0);
  assert.ok(list.stdout.some((l) => l.startsWith(started.transferId) && /succeeded\s+1@4/.test(l)), list.stdout.join('\n'));
});

test('nasctl transfer - the paper F converts to F0; bad flags and unknown ids are named', async () => {
  const both = io();
  assert.equal(await main(['transfer', 'start', '--data', 'mnist', '--cells', '6', '--filters', '768', '--budget-params', '3300000', ...conn], both), 2);
  assert.match(both.stderr.join('\n'), /give one of --cells\/--filters, --budget-params, --budget-mult-adds/);
  const search = io();
  assert.equal(await main(['transfer', 'start', '--data', 'mnist', '--search', 's-1', '--cells', '6', '--filters', '768', ...conn], search), 2);
  assert.match(search.stderr.join('\n'), /with --search, give --initial-filters/);
  const missing = io();
  assert.equal(await main(['transfer', 'get', 'no-such-transfer', ...conn], missing), 1);
  assert.match(missing.stderr.join('\n'), /NOT_FOUND/);
});
