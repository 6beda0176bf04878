import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const committed = join(root, 'libs/proto/src/gen');

function listFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listFiles(path, base, out);
    else out.push(relative(base, path));
  }
  return out.sort();
}

test('proto-gen - committed libs/proto/src/gen matches what proto/ generates (lint passes too)', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'nasnet-proto-gen-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const out = join(tmp, 'gen');

  // Same script and buf.gen.yaml as `npm run proto:gen`, only the output folder differs.
  const res = spawnSync(process.execPath, [join(root, 'scripts/proto-gen.mjs'), '--out', out], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, `scripts/proto-gen.mjs failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);

  const fresh = listFiles(out);
  const current = listFiles(committed);
  assert.ok(fresh.length > 0, `generation into ${out} produced no files`);
  const stale = 'libs/proto/src/gen is stale; run `npm run proto:gen` and commit the result';
  assert.deepEqual(current, fresh, `${stale} (the set of generated files differs)`);
  for (const file of fresh) {
    const want = readFileSync(join(out, file));
    const have = readFileSync(join(committed, file));
    assert.ok(want.equals(have), `${stale} (libs/proto/src/gen/${file} differs from a fresh generation)`);
  }
});
