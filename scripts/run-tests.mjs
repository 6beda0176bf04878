#!/usr/bin/env node
// Runs every *.test.ts under libs/*/test, services/*/test and test/ with
// node's own test runner (through tsx). Arguments narrow the run to paths
// that start with one of them: `npm test -- libs/search-space`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const skip = new Set(['node_modules', '.git', '.nx', 'dist', '.gpu']);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) walk(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const roots = [];
for (const top of ['libs', 'services']) {
  for (const name of readdirSync(join(root, top))) {
    const testDir = join(root, top, name, 'test');
    try { if (statSync(testDir).isDirectory()) roots.push(testDir); } catch { /* no tests */ }
  }
}
roots.push(join(root, 'test'));

const filters = process.argv.slice(2);
let files = roots.flatMap((dir) => { try { return walk(dir, []); } catch { return []; } }).sort();
if (filters.length) files = files.filter((f) => filters.some((p) => f.startsWith(p.replace(/^\.\//, ''))));
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 1}`, ...files];
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });
process.exit(res.status ?? 1);
