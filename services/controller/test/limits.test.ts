import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { MemoryStateStore } from '@nasnet/bus';
import { buildTrainerJob, defaultTrainerJobTemplate, GPU_RESOURCE } from '@nasnet/launcher';
import * as pb from '@nasnet/proto';
import { DEFAULT_SEARCH_LIMITS, type ChildExecutor, type SearchLimits } from '@nasnet/search';
import { controllerConfigFromEnv } from '../src/config.js';
import { SearchManager, startControllerServer, type Launcher, type SearchManagerOptions, type StoredSearch } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'controller-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Children that finish at once (or after `delayMs`), each with a validation curve of `epochs` points. */
const quick = (epochs = 1, delayMs = 0): ChildExecutor => ({
  execute: async (t) => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return { childId: t.childId, status: 'ok', reward: 0.5, validationByEpoch: Array.from({ length: epochs }, (_, i) => 0.5 + i * 1e-6), trainSeconds: 0, paramCount: 1, multAdds: 1 };
  },
});
/** Children that train until the search stops them. */
const never: ChildExecutor = {
  execute: (t, { signal }) => new Promise((resolve) => signal?.addEventListener('abort', () => resolve({ childId: t.childId, status: 'cancelled', reward: 0, validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0 }), { once: true })),
};

interface Served {
  manager: SearchManager;
  launches: Parameters<Launcher['launch']>[0][];
  submit(spec: Partial<pb.SearchSpec>): Promise<pb.SubmitSearchResponse>;
  refused(spec: Partial<pb.SearchSpec>): Promise<ServiceError>;
  close(): Promise<void>;
}

/** A real SearchService on port 0 over a manager with the given operator settings; trainers are recorded, not started. */
async function serve(options: Partial<SearchManagerOptions>, executor: ChildExecutor = quick()): Promise<Served> {
  const launches: Parameters<Launcher['launch']>[0][] = [];
  const manager = new SearchManager({
    store: new MemoryStateStore<StoredSearch>(), executorFor: () => executor, checkpointEveryMs: 0,
    launcher: { launch: async (req) => { launches.push(req); return { stop: async () => {} }; } },
    ...options,
  });
  const server = await startControllerServer({ manager, port: 0 });
  const client = new pb.SearchServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const submit = (over: Partial<pb.SearchSpec>) => new Promise<pb.SubmitSearchResponse>((resolve, reject) => {
    const spec = pb.SearchSpec.fromPartial({ dataset: 'synthetic', budget: { maxArchitectures: 4, maxConcurrentChildren: 2 }, controller: { batchSize: 2, lstmUnits: 8 }, ...over });
    client.submitSearch({ spec, requestId: '' }, new Metadata(), (err, res) => (err ? reject(err) : resolve(res)));
  });
  return {
    manager, launches, submit,
    refused: (over) => submit(over).then(() => assert.fail('accepted'), (err: ServiceError) => err),
    close: async () => { client.close(); await manager.shutdown(); await server.close(); },
  };
}

function fieldOf(err: ServiceError): string | undefined {
  return err.metadata?.get('field')[0] as string | undefined;
}

test('trainer profiles - the operator file decides the image; an image or unknown profile in a request is refused, GPUs and memory only lowered', async () => {
  const file = join(dir, 'profiles.yaml');
  writeFileSync(file, [
    'default: cpu',
    'profiles:',
    '  cpu: { image: "registry.local/trainer:1", backend: wasm, cpu: "1", memory: 2Gi, maxMemory: 4Gi }',
    '  gpu: { image: "registry.local/trainer-gpu:1", backend: tensorflow, cpu: "4", memory: 16Gi, maxMemory: 24Gi, gpus: 1, maxGpus: 2 }',
  ].join('\n'));
  const { profiles } = controllerConfigFromEnv({ NATS_URL: 'nats://nats:4222', NASNET_PROFILES_FILE: file });
  const s = await serve({ profiles });
  try {
    const image = await s.refused({ resources: pb.TrainerResources.fromPartial({ image: 'evil/miner:latest' }) });
    assert.equal(image.code, status.INVALID_ARGUMENT);
    assert.equal(fieldOf(image), 'spec.resources.image');
    assert.match(image.details, /profile.*cpu, gpu/);
    const unknown = await s.refused({ resources: pb.TrainerResources.fromPartial({ profile: 'tpu' }) });
    assert.equal(unknown.code, status.INVALID_ARGUMENT);
    assert.equal(fieldOf(unknown), 'spec.resources.profile');
    assert.match(unknown.details, /unknown trainer profile 'tpu'; known profiles: cpu, gpu/);
    for (const [res, field, limit] of [[{ profile: 'gpu', gpus: 3 }, 'spec.resources.gpus', '2'], [{ profile: 'gpu', memory: '64Gi' }, 'spec.resources.memory', '24Gi'], [{ gpus: 1 }, 'spec.resources.gpus', '0']] as const) {
      const err = await s.refused({ resources: pb.TrainerResources.fromPartial(res) });
      assert.equal(err.code, status.RESOURCE_EXHAUSTED, JSON.stringify(res));
      assert.equal(fieldOf(err), field);
      assert.ok(err.details.includes(`(${limit})`), err.details);
    }
    assert.equal(s.launches.length, 0, 'nothing refused was launched');

    await s.submit({ resources: pb.TrainerResources.fromPartial({ profile: 'gpu', gpus: 2, memory: '20Gi' }) });
    await s.submit({});
    assert.deepEqual(s.launches.map(({ searchId: _, ...l }) => l), [
      { trainers: 2, gpusPerTrainer: 2, profile: 'gpu', image: 'registry.local/trainer-gpu:1', cpu: '4', memory: '20Gi', backend: 'tensorflow' },
      { trainers: 2, gpusPerTrainer: 0, profile: 'cpu', image: 'registry.local/trainer:1', cpu: '1', memory: '2Gi', backend: 'wasm' },
    ]);
    // The Job carries the profile's image and resources, whatever the caller sent.
    const job = buildTrainerJob(defaultTrainerJobTemplate(), s.launches[0]!, { namespace: 'nasnet' });
    const container = job.spec!.template.spec!.containers[0]!;
    assert.equal(container.image, 'registry.local/trainer-gpu:1');
    assert.equal(container.resources?.limits?.[GPU_RESOURCE], '2');
    assert.equal(container.resources?.limits?.memory, '20Gi');
    assert.equal(job.metadata?.annotations?.['nasnet.dev/trainer-profile'], 'gpu');
  } finally {
    await s.close();
  }
});

const LIMITS: SearchLimits = {
  ...DEFAULT_SEARCH_LIMITS, maxActiveSearches: 1, architectures: 100, concurrency: 4, epochs: 30, filters: 32, cells: 3, batchSize: 64, stateBytes: 120_000,
};

test('operator limits - each request over a limit is refused naming the field and the limit', async () => {
  const s = await serve({ limits: LIMITS });
  try {
    const cases: Array<[string, Partial<pb.SearchSpec>, status, string, string]> = [
      ['architectures', { budget: pb.SearchBudget.fromPartial({ maxArchitectures: 101, maxConcurrentChildren: 1 }) }, status.INVALID_ARGUMENT, 'spec.budget.max_architectures', 'limit of 100'],
      ['concurrency', { budget: pb.SearchBudget.fromPartial({ maxArchitectures: 4, maxConcurrentChildren: 5 }) }, status.RESOURCE_EXHAUSTED, 'spec.budget.max_concurrent_children', 'limit of 4'],
      ['epochs', { recipe: pb.ChildTrainingRecipe.fromPartial({ epochs: 31 }) }, status.INVALID_ARGUMENT, 'spec.recipe.epochs', 'limit of 30'],
      ['filters', { recipe: pb.ChildTrainingRecipe.fromPartial({ epochs: 1, initialFilters: 33 }) }, status.INVALID_ARGUMENT, 'spec.recipe.initial_filters', 'limit of 32'],
      ['cells', { recipe: pb.ChildTrainingRecipe.fromPartial({ epochs: 1, cellsPerStack: 4 }) }, status.INVALID_ARGUMENT, 'spec.recipe.cells_per_stack', 'limit of 3'],
      ['batch', { recipe: pb.ChildTrainingRecipe.fromPartial({ epochs: 1, batchSize: 65 }) }, status.INVALID_ARGUMENT, 'spec.recipe.batch_size', 'limit of 64'],
      // 90 children x 1536 bytes is above 120,000 bytes of state.
      ['state size', { budget: pb.SearchBudget.fromPartial({ maxArchitectures: 90, maxConcurrentChildren: 1 }) }, status.INVALID_ARGUMENT, 'spec.budget.max_architectures', 'the state limit is 120000'],
    ];
    for (const [name, spec, code, field, text] of cases) {
      const err = await s.refused(spec);
      assert.equal(err.code, code, `${name}: ${err.details}`);
      assert.equal(fieldOf(err), field, name);
      assert.ok(err.details.includes(text), `${name}: ${err.details}`);
    }
    // Active searches: one runs (its children never finish), the next is refused.
    const busy = await serve({ limits: LIMITS }, never);
    try {
      await busy.submit({});
      const err = await busy.refused({});
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /too many active searches \(limit 1\)/);
    } finally {
      await busy.close().catch(() => {});
    }
  } finally {
    await s.close();
  }
});

test('operator limits - a search past its wall time ends FAILED with that reason; its trainers get the deadline', async () => {
  const s = await serve({ limits: { ...LIMITS, searchWallSeconds: 1 } }, never);
  try {
    const { searchId } = await s.submit({});
    const done = await s.manager.finished(searchId);
    assert.equal(done.runState, 'failed');
    assert.match(done.message ?? '', /wall time limit of 1 s reached \(searchWallSeconds\)/);
    assert.equal(s.launches[0]!.deadlineSeconds, 1, 'the Job\'s activeDeadlineSeconds');
  } finally {
    await s.close();
  }
});

test('operator limits - a search whose stored state grows past stateBytes is stopped FAILED', async () => {
  // 20 children pass the estimate (20 x 1536 < 60,000), but each carries a 400-epoch curve (several KB stored).
  // Each takes 20 ms, as a real child takes a while: the search loop checkpoints after each result instead of
  // once for a burst of children that all finished in the same turn.
  const s = await serve({ limits: { ...LIMITS, maxActiveSearches: 4, stateBytes: 60_000 } }, quick(400, 20));
  try {
    const { searchId } = await s.submit({ budget: pb.SearchBudget.fromPartial({ maxArchitectures: 20, maxConcurrentChildren: 1 }) });
    const done = await s.manager.finished(searchId);
    assert.equal(done.runState, 'failed');
    assert.match(done.message ?? '', /stored state reached \d+ bytes, above the operator's limit of 60000 \(stateBytes\)/);
    assert.ok((done.loop?.entries.length ?? 0) < 20, 'stopped before the budget was spent');
  } finally {
    await s.close();
  }
});

test('confined paths - a search dataset outside the data root is refused without naming it; inside, it is resolved in the root', async () => {
  const root = join(dir, 'data');
  mkdirSync(join(root, 'cifar'), { recursive: true });
  mkdirSync(join(dir, 'secret'), { recursive: true });
  symlinkSync(join(dir, 'secret'), join(root, 'link-out'));
  const s = await serve({ dataRoot: root, limits: { ...LIMITS, maxActiveSearches: 10 } });
  try {
    for (const dataset of ['cifar10:/etc', 'cifar10:../../../x', `cifar10:${join(dir, 'secret')}`, 'cifar10:link-out', 'cifar10:cifar/../../secret']) {
      const err = await s.refused({ dataset });
      assert.equal(err.code, status.INVALID_ARGUMENT, dataset);
      assert.equal(fieldOf(err), 'spec.dataset');
      assert.match(err.details, /^spec\.dataset: must be a path inside the data directory/);
      assert.ok(!err.details.includes('/etc') && !err.details.includes('secret') && !err.details.includes(dir), err.details);
    }
    const ok = await s.submit({ dataset: 'cifar10:cifar' });
    assert.equal((await s.manager.get(ok.searchId)).spec.dataset, `cifar10:${realpathSync(join(root, 'cifar'))}`);
    await s.submit({ dataset: 'synthetic' });
  } finally {
    await s.close();
  }
});

test('operator files - a bad profiles or limits file stops the controller config naming the variable, the file and the field', async () => {
  const { ConfigError } = await import('@nasnet/config');
  const profiles = join(dir, 'bad-profiles.yaml');
  writeFileSync(profiles, 'profiles:\n  cpu: { image: x, memory: 1Gi, maxGpus: 99 }\n');
  const limits = join(dir, 'bad-limits.yaml');
  writeFileSync(limits, 'search:\n  concurrency: 0\n');
  for (const [env, variable, text] of [
    [{ NASNET_PROFILES_FILE: profiles }, 'NASNET_PROFILES_FILE', `trainer profiles ${profiles}: profiles.cpu.maxGpus: expected an integer from 0 to 64, got 99`],
    [{ NASNET_LIMITS_FILE: limits }, 'NASNET_LIMITS_FILE', `limits ${limits}: search.concurrency: expected an integer from 1 to 10000, got 0`],
  ] as const) {
    assert.throws(() => controllerConfigFromEnv({ NATS_URL: 'nats://nats:4222', ...env }), (e: unknown) => e instanceof ConfigError && e.variable === variable && e.message.includes(text), variable);
  }
});
