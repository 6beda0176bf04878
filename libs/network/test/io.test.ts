import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Genotype } from '@nasnet/search-space';
import { DilatedConv2d, DropPath, ModelLoadError, SamePaddingAvgPool2d, SeededDropout, buildNetwork, loadModel, saveModel, setTrainingStep } from '../src/index.js';
import { tfc, values } from './support.js';

/** Uses every custom layer: dilated conv, same-padded average pool, drop path; plus dropout and the aux head. */
const GENOTYPE: Genotype = {
  normal: {
    blocks: [
      { inputs: [0, 1], ops: ['dil_conv3x3', 'avg_pool3x3'], combine: 'add' },
      { inputs: [1, 2], ops: ['identity', 'sep_conv3x3'], combine: 'concat' },
    ],
    concat: [2, 3],
  },
  reduction: {
    blocks: [
      { inputs: [0, 1], ops: ['max_pool3x3', 'conv1x7_7x1'], combine: 'add' },
      { inputs: [2, 0], ops: ['avg_pool3x3', 'dil_conv3x3'], combine: 'add' },
    ],
    concat: [1, 3],
  },
};

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nasnet-network-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function build() {
  return buildNetwork(GENOTYPE, {
    cells: 1,
    initialFilters: 4,
    imageSize: 16,
    numClasses: 7,
    auxHead: true,
    denseDropout: 0.3,
    dropPathKeepProb: 0.7,
    totalSteps: 100,
    seed: 8,
  });
}

test('io - a saved model loads back with identical weights and predictions', async () => {
  await withTempDir(async (dir) => {
    const { model } = build();
    const x = tfc.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 4);
    const before = (model.predict(x) as tfc.Tensor[]).map((t) => t.dataSync().slice());
    assert.equal(before.length, 2);

    const result = await saveModel(model, dir);
    const bytes = result.modelArtifactsInfo.weightDataBytes ?? 0;
    assert.ok(bytes > 0);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
    assert.deepEqual(json.weightsManifest[0]?.paths, ['weights.bin']);
    assert.equal((await readFile(join(dir, 'weights.bin'))).byteLength, bytes);

    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
    const kinds = new Set(loaded.layers.map((l) => l.constructor.name));
    for (const cls of [DropPath, SeededDropout, SamePaddingAvgPool2d, DilatedConv2d]) assert.ok(kinds.has(cls.name), `no ${cls.name} after loading`);
    const originalWeights = model.getWeights();
    const loadedWeights = loaded.getWeights();
    assert.equal(loadedWeights.length, originalWeights.length);
    loadedWeights.forEach((w, i) => assert.deepEqual(w.dataSync(), originalWeights[i]?.dataSync()));

    const after = (loaded.predict(x) as tfc.Tensor[]).map((t) => t.dataSync().slice());
    assert.deepEqual(after, before);

    // Drop-path and dropout seeds travel in the layer configs: the same step draws the same masks.
    const dp = loaded.layers.find((l) => l instanceof DropPath) as DropPath;
    assert.equal(dp.keepProb, 0.7);
    assert.equal(dp.totalSteps, 100);
    setTrainingStep(model, 60);
    setTrainingStep(loaded, 60);
    const trainOriginal = await values((model.apply(x, { training: true }) as tfc.Tensor[])[0] as tfc.Tensor);
    const trainLoaded = await values((loaded.apply(x, { training: true }) as tfc.Tensor[])[0] as tfc.Tensor);
    assert.deepEqual(trainLoaded, trainOriginal);
  });
});

test('io - loading a missing folder or truncated weights fails with the file named', async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, 'nothing-here');
    await assert.rejects(loadModel(missing), (e: unknown) => e instanceof ModelLoadError && e.file === join(missing, 'model.json'));

    const { model } = build();
    await saveModel(model, dir);
    const weights = join(dir, 'weights.bin');
    const size = (await readFile(weights)).byteLength;
    await truncate(weights, size - 8);
    await assert.rejects(
      loadModel(dir),
      (e: unknown) => e instanceof ModelLoadError && e.file === weights && e.message.includes(`${size} bytes`) && e.message.includes(`${size - 8}`),
    );
  });
});
