import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'nas-up-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NASCTL = 'services/nasctl/bin/nasctl.mjs';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('nasctl up - --help explains the command; without nats-server on PATH it says so and exits 1', () => {
  const help = spawnSync(process.execPath, [NASCTL, 'up', '--help'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: nasctl up \[options\]/);
  assert.match(help.stdout, /Ctrl-C \(or SIGTERM\) stops them all/);
  const missing = spawnSync(process.execPath, [NASCTL, 'up'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: join(dir, 'empty') } });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nats-server was not found on PATH .*apt-get install nats-server/);
  const bad = spawnSync(process.execPath, [NASCTL, 'up', '--grpc-port', 'many'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--grpc-port "many": expected a TCP port/);
});

test('nasctl up - starts NATS, controller, metrics and transfer with a fresh token; a search submitted with nasctl runs on local trainers; Ctrl-C stops everything', { timeout: 600_000 }, async () => {
  const up = spawn(process.execPath, [NASCTL, 'up', '--dir', join(dir, 'state')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  up.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  up.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((r) => up.once('close', (code) => r(code)));
  try {
    for (let i = 0; i < 1200 && !/nasctl search submit/.test(out); i++) {
      if (up.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /nasnet is up/, `${out}\n${err}`);
    const server = /controller\s+(127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const token = /token\s+(\S+)/.exec(out)![1]!;
    assert.ok(token.length >= 40, 'a long random token');
    const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 4);
    const metricsUrl = /metrics\s+(http:\S+)/.exec(out)![1]!;
    assert.match(await (await fetch(metricsUrl)).text(), /nasnet_/);

    writeFileSync(join(dir, 'spec.yaml'), [
      'name: up', 'dataset: synthetic', 'strategy: random', 'seed: 3',
      'budget: {maxArchitectures: 2, maxConcurrentChildren: 1}',
      'recipe: {epochs: 1, batchSize: 16, initialFilters: 4, cellsPerStack: 1, maxSteps: 2, validationSize: 32}',
    ].join('\n'));
    const submit = spawnSync(process.execPath, [NASCTL, 'search', 'submit', join(dir, 'spec.yaml'), '--watch', '--json', '--server', server, '--token', token],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    assert.equal(submit.status, 0, `${submit.stdout}\n${submit.stderr}`);
    assert.match(submit.stdout, /succeeded: 2 children finished/);
    const wrongToken = spawnSync(process.execPath, [NASCTL, 'search', 'list', '--server', server, '--token', 'not-the-token'], { cwd: ROOT, encoding: 'utf8' });
    assert.notEqual(wrongToken.status, 0, 'the token is required');
    assert.match(wrongToken.stderr, /unauthenticated|token/i);
    const searchId = JSON.parse(submit.stdout.split('\n').find((l) => l.startsWith('{'))!).searchId as string;
    assert.match(readFileSync(join(dir, 'state', 'logs', 'controller.log'), 'utf8'), new RegExp(`trainer local-${searchId}-0 \\(launched for search ${searchId}\\)`));

    up.kill('SIGINT');
    assert.equal(await exited, 0, err);
    assert.match(err, /nasctl up: SIGINT, stopping the services[\s\S]*nasctl up: stopped/);
    assert.deepEqual(pids.filter(alive), [], 'every service process is gone');
  } finally {
    if (up.exitCode === null) up.kill('SIGKILL');
  }
});
