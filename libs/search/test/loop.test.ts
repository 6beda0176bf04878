import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { NASNET_A, type Genotype } from '@nasnet/search-space';
import { createStrategy, type SearchStrategy } from '@nasnet/controller';
import { SearchLoop, normalizeSpec, SearchSpecError, type ChildExecutor, type ChildTask, type ChildResult, type SearchState } from '../src/index.js';

/** Reward is a known function of the genotype; children finish after seeded random delays, out of order. */
function objective(g: Genotype): number {
  let s = 0;
  for (const cell of [g.normal, g.reduction]) for (const b of cell.blocks) s += b.ops.filter((o) => o.startsWith('sep')).length + (b.combine === 'add' ? 1 : 0);
  return s / 30;
}

function syntheticExecutor(delaySeed: number, calls: ChildTask[] = []): ChildExecutor {
  const rng = new Rng(delaySeed);
  return {
    async execute(task, { signal }): Promise<ChildResult> {
      calls.push(task);
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, rng.int(4));
        signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new Error('aborted')); }, { once: true });
      });
      const r = objective(task.genotype);
      const curve = Array.from({ length: task.recipe.epochs }, (_, e) => r * (e + 1) / task.recipe.epochs);
      return { childId: task.childId, status: 'ok', reward: r, validationByEpoch: curve, trainSeconds: 0.01, paramCount: 1, multAdds: 1 };
    },
  };
}

const baseSpec = { strategy: 'ppo' as const, seed: 4, budget: { architectures: 60, concurrency: 4 }, recipe: { epochs: 3 }, controller: { batchSize: 10, learningRate: 0.01, lstmUnits: 24 } };

test('search loop - trains exactly the budget and is reproducible whatever the finishing order', async () => {
  const runs: SearchState[] = [];
  for (const delaySeed of [1, 2]) {
    const calls: ChildTask[] = [];
    const loop = new SearchLoop(normalizeSpec(baseSpec), { searchId: 's', executor: syntheticExecutor(delaySeed, calls) });
    const state = await loop.run();
    assert.equal(state.outcome, 'succeeded');
    const trained = state.entries.filter((e) => e.duplicateOf === undefined);
    assert.equal(trained.length, 60);
    assert.equal(calls.length, 60, 'every distinct architecture trained once');
    assert.equal(new Set(calls.map((c) => c.hash)).size, 60, 'no canonical duplicate trained twice');
    assert.equal(state.updates.length, Math.floor(state.observed / 10));
    runs.push(state);
  }
  assert.deepEqual(runs[0]!.entries.map((e) => e.hash), runs[1]!.entries.map((e) => e.hash));
  assert.deepEqual(runs[0]!.strategy, runs[1]!.strategy);
});

test('search loop - a search stopped after k children resumes exactly as an uninterrupted run', async () => {
  const full = await new SearchLoop(normalizeSpec(baseSpec), { searchId: 's', executor: syntheticExecutor(7) }).run();
  for (const k of [5, 23]) {
    let snapshot: SearchState | undefined;
    const first = new SearchLoop(normalizeSpec(baseSpec), {
      searchId: 's', executor: syntheticExecutor(8),
      onCheckpoint: (s) => { if (!snapshot && s.observed >= k) { snapshot = s; first.cancel('simulated crash'); } },
    });
    await first.run();
    assert.ok(snapshot, 'snapshot taken');
    assert.ok(snapshot.entries.some((e) => e.state === 'running'), 'children were in flight at the snapshot');
    const resumed = await new SearchLoop(snapshot.spec, { searchId: 's', executor: syntheticExecutor(9), state: JSON.parse(JSON.stringify(snapshot)) }).run();
    assert.deepEqual(resumed.entries.map((e) => e.hash), full.entries.map((e) => e.hash), `k=${k}: same genotypes`);
    assert.deepEqual(resumed.strategy, full.strategy, `k=${k}: same policy weights, optimizer, baseline and rng`);
    assert.deepEqual(resumed.entries.map((e) => e.result?.reward), full.entries.map((e) => e.result?.reward));
  }
});

test('search loop - isomorphic proposals reuse the cached reward and are never trained twice', async () => {
  // A strategy cycling through NASNet-A, the same cells with every add block's branches swapped, and one real variant.
  const swapped: Genotype = {
    normal: { ...NASNET_A.normal, blocks: NASNET_A.normal.blocks.map((b) => ({ ...b, inputs: [b.inputs[1], b.inputs[0]] as const, ops: [b.ops[1], b.ops[0]] as const })) },
    reduction: NASNET_A.reduction,
  };
  const variant: Genotype = { ...NASNET_A, normal: { ...NASNET_A.normal, blocks: [{ ...NASNET_A.normal.blocks[0]!, ops: ['conv3x3', 'sep_conv3x3'] as const }, ...NASNET_A.normal.blocks.slice(1)] } };
  const cycle = [NASNET_A, swapped, NASNET_A, variant];
  let k = 0;
  const observed: number[] = [];
  const strategy: SearchStrategy = {
    name: 'random',
    propose: () => ({ genotype: cycle[k++ % cycle.length]! }),
    observe: (_c, r) => { observed.push(r); return undefined; },
    exportState: () => ({ name: 'random', k }),
    importState: () => {},
  };
  const spec = normalizeSpec({ ...baseSpec, budget: { architectures: 2, concurrency: 3 } });
  const calls: ChildTask[] = [];
  const state = await new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(3, calls), strategy }).run();
  assert.equal(calls.length, 2, 'NASNet-A and the variant trained, the swapped twin reused');
  const dups = state.entries.filter((e) => e.duplicateOf !== undefined);
  assert.ok(dups.length >= 2, `${dups.length} duplicates`);
  for (const d of dups) assert.equal(d.result!.reward, state.entries[d.duplicateOf!]!.result!.reward);
  assert.equal(observed.length, state.entries.length, 'every proposal, cached or trained, gives the strategy a reward');
});

test('search loop - median early stopping curve and final retraining of the top K', async () => {
  const spec = normalizeSpec({ ...baseSpec, strategy: 'random', budget: { architectures: 12, concurrency: 2 }, earlyStopping: { enabled: true, minCompleted: 4, minEpochs: 1 }, finalPhase: { topK: 3, epochs: 9 } });
  const calls: ChildTask[] = [];
  const state = await new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(5, calls) }).run();
  const withCurve = calls.filter((c) => c.earlyStop);
  assert.ok(withCurve.length > 0 && !calls[0]!.earlyStop);
  assert.equal(withCurve[0]!.earlyStop!.medianByEpoch.length, 3);
  const final = calls.filter((c) => c.phase === 'final');
  assert.equal(final.length, 3);
  assert.ok(final.every((c) => c.recipe.epochs === 9));
  const best = state.entries.filter((e) => e.phase === 'search').sort((a, b) => b.result!.reward - a.result!.reward)[0]!;
  assert.equal(final[0]!.hash, best.hash);
  assert.equal(state.phase, 'done');
});

test('search loop - cancel aborts running children and ends cancelled', async () => {
  const spec = normalizeSpec({ ...baseSpec, budget: { architectures: 1000, concurrency: 3 } });
  const loop = new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(2), onEvent: (e) => { if (e.type === 'child_finished' && e.childId === 10) loop.cancel('user asked'); } });
  const state = await loop.run();
  assert.equal(state.outcome, 'cancelled');
  assert.equal(state.reason, 'user asked');
  assert.ok(state.entries.length < 30);
});

test('search loop - the executor is prepared for the search before its first child; a failed preparation does not stop the search', async () => {
  for (const fails of [false, true]) {
    const calls: ChildTask[] = [];
    const order: string[] = [];
    const inner = syntheticExecutor(3, calls);
    let release = () => {};
    const executor: ChildExecutor = {
      execute: (task, hooks) => { order.push(`execute ${task.childId}`); return inner.execute(task, hooks); },
      prepare: (searchId) => new Promise<void>((resolve, reject) => {
        order.push(`prepare ${searchId}`);
        release = () => (fails ? reject(new Error('bus away')) : resolve());
      }),
    };
    const loop = new SearchLoop(normalizeSpec({ ...baseSpec, strategy: 'random', budget: { architectures: 8, concurrency: 4 } }), { searchId: 'prep', executor });
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, ['prepare prep'], 'no child is proposed before the executor is ready');
    release();
    const state = await done;
    assert.equal(state.outcome, 'succeeded');
    assert.equal(calls.length, 8);
    assert.equal(order[1], 'execute 0');
  }
});

test('search spec - errors name the field', () => {
  assert.throws(() => normalizeSpec({ budget: { architectures: 0 } }), (e: unknown) => e instanceof SearchSpecError && e.field === 'budget.architectures' && /between 1 and/.test(e.message));
  assert.throws(() => normalizeSpec({ dataset: 'imagenet' }), /field 'dataset': 'imagenet' is not one of/);
  assert.throws(() => normalizeSpec({ strategy: 'magic' as never }), /field 'strategy'/);
  assert.throws(() => normalizeSpec({ recipe: { learningRate: Number.NaN } }), /field 'recipe.learningRate': must be a finite number/);
  assert.throws(() => normalizeSpec({ recipe: 5 as never }), /field 'recipe': must be an object/);
  assert.throws(() => normalizeSpec({ recipe: { checkpointCells: 'yes' as never } }),
    (e: unknown) => e instanceof SearchSpecError && e.field === 'recipe.checkpointCells' && /must be true or false, got "yes"/.test(e.message));
  assert.equal(normalizeSpec({}).controller.batchSize, 20);
  assert.equal(normalizeSpec({}).recipe.checkpointCells, false, 'cell checkpointing is off unless asked for');
  assert.equal(normalizeSpec({ recipe: { checkpointCells: true } }).recipe.checkpointCells, true);
});

test('search loop - snapshots share frozen copies of finished children and copy the rest', async () => {
  const snapshots: SearchState[] = [];
  const loop = new SearchLoop(normalizeSpec({ ...baseSpec, budget: { architectures: 12, concurrency: 3 } }), {
    searchId: 's', executor: syntheticExecutor(3), onCheckpoint: (s) => snapshots.push(s),
  });
  const final = await loop.run();
  const early = snapshots.find((s) => s.entries.some((e) => e.state === 'done') && s.entries.some((e) => e.state === 'running'))!;
  assert.ok(early, 'a snapshot with finished and running children');
  const done = early.entries.find((e) => e.state === 'done')!;
  assert.equal(final.entries[done.childId], done, 'a finished child is one shared object in later snapshots');
  assert.ok(Object.isFrozen(done) && Object.isFrozen(done.result) && Object.isFrozen(done.genotype.normal.blocks[0]!.ops));
  assert.throws(() => { (done.result as { reward: number }).reward = 2; }, TypeError, 'shared copies cannot be changed by one holder');
  const running = early.entries.find((e) => e.state === 'running')!;
  assert.equal(Object.isFrozen(running), false);
  assert.notEqual(final.entries[running.childId], running, 'a child that was running is copied anew');
  assert.deepEqual(JSON.parse(JSON.stringify(final)), final, 'still plain JSON');
});

test('search loop - slow proposals are worked in slices, so the event loop turns while the window fills; the search is unchanged', async () => {
  const spec = normalizeSpec({ strategy: 'random', seed: 6, budget: { architectures: 12, concurrency: 8 } });
  const slow = (busyMs: number, counter: { proposals: number }): SearchStrategy => {
    const inner = createStrategy({ strategy: 'random', seed: spec.seed, numBlocks: spec.numBlocks });
    return {
      name: inner.name,
      propose() {
        const until = performance.now() + busyMs;
        while (performance.now() < until) { /* a slow policy's forward pass */ }
        counter.proposals++;
        return inner.propose();
      },
      observe: (c, r) => inner.observe(c, r),
      exportState: () => inner.exportState(),
      importState: (s) => inner.importState(s),
    };
  };
  const counter = { proposals: 0 };
  let proposalsAtFirstTurn = -1;
  const loop = new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(5), strategy: slow(20, counter) });
  setImmediate(() => { proposalsAtFirstTurn = counter.proposals; });
  const sliced = await loop.run();
  assert.ok(proposalsAtFirstTurn >= 1 && proposalsAtFirstTurn < 8, `the event loop turned after ${proposalsAtFirstTurn} of the 8 first proposals`);
  const fast = await new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(5), strategy: slow(0, { proposals: 0 }) }).run();
  assert.deepEqual(sliced.entries.map((e) => e.hash), fast.entries.map((e) => e.hash));
});

test('search loop - after a slow observe (a policy update), children proposed in a slice leave before the next observe; the search is unchanged', async () => {
  const spec = normalizeSpec({ strategy: 'random', seed: 7, budget: { architectures: 40, concurrency: 6 } });
  /** Children whose execute() call has been followed by the end of its task (when the NATS client writes out what was published). */
  const sent = new Set<number>();
  const executed: number[] = [];
  const inner = syntheticExecutor(9);
  const executor: ChildExecutor = {
    execute(task, hooks) {
      executed.push(task.childId);
      queueMicrotask(() => sent.add(task.childId));
      return inner.execute(task, hooks);
    },
  };
  let observes = 0;
  const waiting: number[] = [];
  const updating = (busyMs: number): SearchStrategy => {
    const s = createStrategy({ strategy: 'random', seed: spec.seed, numBlocks: spec.numBlocks });
    return {
      name: s.name,
      propose: () => s.propose(),
      observe(c, r) {
        // From the second observe on, every child executed so far must have had its turn.
        if (busyMs > 0 && ++observes > 1) waiting.push(...executed.filter((id) => !sent.has(id)));
        const until = performance.now() + busyMs;
        while (performance.now() < until) { /* a policy update */ }
        return s.observe(c, r);
      },
      exportState: () => s.exportState(),
      importState: (state) => s.importState(state),
    };
  };
  const slow = await new SearchLoop(spec, { searchId: 's', executor, strategy: updating(8) }).run();
  assert.ok(observes >= 40);
  assert.deepEqual(waiting, [], 'children proposed before an observe were still waiting for their turn');
  const fast = await new SearchLoop(spec, { searchId: 's', executor: syntheticExecutor(9), strategy: updating(0) }).run();
  assert.deepEqual(slow.entries.map((e) => e.hash), fast.entries.map((e) => e.hash));
});
