import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildExecutor } from '@nasnet/search';
import type { StateStore } from '@nasnet/bus';
import { readStoredSearch, SearchManager, type StoredSearch } from '../src/index.js';

/** A store whose writes take `writeMs`, recording how many ran at once and what each wrote. */
class SlowStore implements StateStore<unknown> {
  readonly map = new Map<string, string>();
  writes = 0;
  running = 0;
  maxRunning = 0;
  constructor(private readonly writeMs: number) {}
  async get(k: string) { const v = this.map.get(k); return v === undefined ? undefined : JSON.parse(v) as StoredSearch; }
  async put(k: string, v: unknown) {
    const json = JSON.stringify(v);
    // Saves of the search itself; the same save also writes its kept events under <id>=events=<k> and changed child segments under <id>=list=<k><slot>.
    if (!k.includes('=')) this.writes++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise((r) => setTimeout(r, this.writeMs));
    this.running--;
    this.map.set(k, json);
  }
  async delete(k: string) { this.map.delete(k); }
  async keys() { return [...this.map.keys()]; }
}

/** Child i takes delays[i] ms (the last value for the rest). */
const executor = (delays: number[]): ChildExecutor => ({
  async execute(task, { signal }) {
    const ms = delays[Math.min(task.childId, delays.length - 1)]!;
    await new Promise((resolve, reject) => { const t = setTimeout(resolve, ms); signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); }); });
    return { childId: task.childId, status: 'ok', reward: 0.5, validationByEpoch: [0.5], trainSeconds: 0.01, paramCount: 10, multAdds: 20 };
  },
});

test('controller - checkpoints of a slow store never pile up: one write at a time, at most one waiting, the final state last', async () => {
  const store = new SlowStore(40);
  let checkpoints = 0;
  const manager = new SearchManager({
    store, executorFor: () => executor([1]), checkpointEveryMs: 0,
    publish: (e) => { if (e.kind === 'search' && e.event.type === 'child_finished') checkpoints++; },
  });
  const s = await manager.submit({ dataset: 'synthetic', strategy: 'random', seed: 2, budget: { architectures: 80, concurrency: 4 } });
  const done = await manager.finished(s.id);
  assert.equal(done.runState, 'succeeded');
  assert.equal(store.maxRunning, 1, 'writes never overlap');
  // Every finished child made a checkpoint; a write of 40 ms waits 10 times that before the next.
  assert.ok(checkpoints >= 80);
  assert.ok(store.writes <= 8, `${store.writes} writes for ${checkpoints} checkpoints`);
  const saved = await readStoredSearch(store, s.id);
  assert.equal(saved!.runState, 'succeeded');
  assert.equal(saved!.loop!.entries.filter((e) => e.state === 'done').length, 80);
});

test('controller - a checkpoint put off by the interval is still written when nothing else happens', async () => {
  const store = new SlowStore(0);
  // Children 0 and 1 finish at once, child 2 trains for a long time: no checkpoint comes after child 1's.
  const manager = new SearchManager({ store, executorFor: () => executor([5, 10, 60_000]), checkpointEveryMs: 300 });
  const s = await manager.submit({ dataset: 'synthetic', strategy: 'random', seed: 3, budget: { architectures: 3, concurrency: 3 } });
  const deadline = Date.now() + 3000;
  let saved: StoredSearch | undefined;
  while (Date.now() < deadline) {
    saved = await readStoredSearch(store, s.id);
    if (saved?.loop?.entries.filter((e) => e.state === 'done').length === 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(saved?.loop?.entries.filter((e) => e.state === 'done').length, 2, 'the last progress reached the store');
  manager.cancel(s.id, 'test over');
  assert.equal((await manager.finished(s.id)).runState, 'cancelled');
});
