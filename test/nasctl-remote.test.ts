import { MemoryStateStore } from '@nasnet/bus';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildExecutor } from '@nasnet/search';
import { SearchManager, startControllerServer, type StoredSearch } from '@nasnet/controller-service';
import { main, type CliIO } from '../services/nasctl/src/main.js';
import { nasctlConfigFromEnv } from '../services/nasctl/src/config.js';

const store = new MemoryStateStore<StoredSearch>();
const manager = new SearchManager({
  store,
  executorFor: (): ChildExecutor => ({
    execute: async (task) => ({ childId: task.childId, status: 'ok', reward: (task.childId % 7) / 10, validationByEpoch: [0.1], trainSeconds: 0, paramCount: 1000, multAdds: 2000 }),
  }),
});
const server = await startControllerServer({ manager, port: 0, token: 'tok' });
const dir = mkdtempSync(join(tmpdir(), 'nasctl-'));
after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

function io(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}
const conn = ['--server', `127.0.0.1:${server.port}`, '--token', 'tok'];

test('nasctl remote - submit a YAML spec and watch it to the end, then list, top and get', async () => {
  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, 'name: from-yaml\ndataset: synthetic\nstrategy: random\nseed: 2\nbudget:\n  maxArchitectures: 9\n  maxConcurrentChildren: 3\n');
  const sub = io();
  assert.equal(await main(['search', 'submit', spec, '--watch', '--json', ...conn], sub), 0, sub.stderr.join('\n'));
  const { searchId } = JSON.parse(sub.stdout.find((l) => l.startsWith('{'))!);
  assert.match(sub.stdout.at(-1)!, new RegExp(`search ${searchId} succeeded: 9 children finished, best validation accuracy 0.6000`));

  const list = io();
  assert.equal(await main(['search', 'list', '--state', 'succeeded', ...conn], list), 0);
  assert.ok(list.stdout.some((l) => l.startsWith(searchId) && /succeeded\s+random\s+9\/9\s+0.6000\s+from-yaml/.test(l)), list.stdout.join('\n'));

  const top = io();
  assert.equal(await main(['search', 'top', searchId, '-k', '2', ...conn], top), 0);
  assert.match(top.stdout[0]!, /^#1 {2}child 6 {2}validation accuracy 0.6000 {2}1.00K params/);
  assert.ok(top.stdout.some((l) => /b0 = /.test(l)), 'cells drawn');

  const get = io();
  assert.equal(await main(['search', 'get', searchId, ...conn], get), 0);
  assert.equal(JSON.parse(get.stdout.join('\n')).state, 'SEARCH_STATE_SUCCEEDED');
});

test('nasctl remote - server errors and bad flags are named', async () => {
  const missing = io();
  assert.equal(await main(['search', 'get', 'no-such', ...conn], missing), 1);
  assert.match(missing.stderr.join('\n'), /NOT_FOUND: search 'no-such' not found/);
  const unauth = io();
  assert.equal(await main(['search', 'list', '--server', `127.0.0.1:${server.port}`, '--token', 'wrong'], unauth), 1);
  assert.match(unauth.stderr.join('\n'), /UNAUTHENTICATED/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ dataset: 'synthetic', budget: { maxArchitectures: 0, maxConcurrentChildren: 100000 } }));
  const invalid = io();
  assert.equal(await main(['search', 'submit', bad, ...conn], invalid), 1);
  assert.match(invalid.stderr.join('\n'), /INVALID_ARGUMENT: spec\.budget\.max_concurrent_children: must be between 1 and 10000/);
  const state = io();
  assert.equal(await main(['search', 'list', '--state', 'sleeping', ...conn], state), 2);
  assert.match(state.stderr.join('\n'), /--state must be one of pending, running/);
});
