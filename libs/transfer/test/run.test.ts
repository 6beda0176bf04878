import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MODEL_JSON_FILE, WEIGHTS_FILE, loadModel, planNetwork } from '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { NASNET_A } from '@nasnet/search-space';
import { TrainingCancelledError } from '@nasnet/trainer';
import { NoSizeFitsError, TransferSpecError, planTransfer, runTransfer } from '../src/index.js';
import type { TransferJob, TransferProgressInfo } from '../src/index.js';
import { writeCifar10Folder } from '@nasnet/data/testing';
import { tempImageFolder } from './jpeg-files.js';

await initBackend('wasm', { log: () => {} });

// 40 training records, 8 held out for validation, 16 test records.
const cifarOptions = { cifar10: { strict: false, validationSize: 8 } };

test('runTransfer - trains NASNet-A 1@96 on a tiny CIFAR folder with the final recipe, tests it and exports a loadable model', async (t) => {
  const data = writeCifar10Folder(8, 16);
  const out = mkdtempSync(join(tmpdir(), 'nasnet-transfer-out-'));
  try {
    const progress: TransferProgressInfo[] = [];
    const job: TransferJob = {
      genotype: NASNET_A, layout: 'cifar', size: { cells: 1, initialFilters: 4 }, dataset: `cifar10:${data.dir}`,
      recipe: { epochs: 1, batchSize: 8 }, exportPath: join(out, 'model'), seed: 3, datasetOptions: cifarOptions,
    };
    const plan = await planTransfer(job);
    // Defaults are the paper's final recipe; cutout for CIFAR-10.
    assert.deepEqual(
      { ...plan.recipe },
      { epochs: 1, batchSize: 8, learningRate: 0.025, momentum: 0.9, weightDecay: 5e-4, auxHead: true, auxWeight: 0.4, dropPathKeepProb: 0.6, cutout: true, cutoutSize: 16, gradientClipNorm: 5, imageSize: 32, maxSteps: 0 },
    );
    const r = await runTransfer(job, { onProgress: (p) => progress.push(p), progressEverySteps: 2 });
    t.diagnostic(`${r.cells}@${r.filters}: ${r.paramCount} params, test ${r.testAccuracy}, validation ${r.validationAccuracy}, ${r.trainSeconds.toFixed(1)} s`);
    const net = planNetwork(NASNET_A, { layout: 'cifar', cells: 1, initialFilters: 4 });
    assert.deepEqual([r.cells, r.filters, r.initialFilters, r.paramCount, r.multAdds], [1, 96, 4, net.paramCount, net.multAdds]);
    assert.equal(r.trainedBy, 'trainChild');
    assert.equal(r.steps, 4);
    assert.ok(r.testAccuracy !== null && r.testAccuracy >= 0 && r.testAccuracy <= 1);
    assert.equal(r.exportPath, join(out, 'model'));
    assert.deepEqual(progress.map((p) => p.step), [2, 4, 4]);
    assert.equal(progress.at(-1)!.validationAccuracy, r.validationAccuracy);
    assert.ok(existsSync(join(out, 'model', MODEL_JSON_FILE)) && existsSync(join(out, 'model', WEIGHTS_FILE)));
    const model = await loadModel(join(out, 'model'));
    const y = model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor | tf.Tensor[];
    const logits = Array.isArray(y) ? y[0]! : y;
    assert.deepEqual(logits.shape, [2, 10]);
    assert.ok(Array.from(await logits.data()).every(Number.isFinite));
    tf.dispose(y);
    model.dispose();
  } finally {
    data.cleanup();
    rmSync(out, { recursive: true, force: true });
  }
});

test('runTransfer - the ImageNet layout trains on an image folder (train/ + val/) through the search trainer', async () => {
  const f = tempImageFolder();
  try {
    f.write({ sub: 'train', classes: { a: 6, b: 6 } });
    f.write({ sub: 'val', classes: { a: 2, b: 2 } });
    const job: TransferJob = {
      genotype: NASNET_A, layout: 'imagenet', size: { cells: 1, initialFilters: 8 }, dataset: `imagefolder:${f.root}`,
      // 32-pixel inputs leave a 2x2 map before the second reduction: too small for the auxiliary head's 5x5 pool.
      recipe: { epochs: 2, batchSize: 4, imageSize: 32, auxHead: false, maxSteps: 2 }, seed: 1,
    };
    const r = await runTransfer(job);
    const net = planNetwork(NASNET_A, { layout: 'imagenet', cells: 1, initialFilters: 8, imageSize: 32, numClasses: 2 });
    assert.deepEqual([r.cells, r.filters, r.paramCount, r.multAdds], [1, 192, net.paramCount, net.multAdds]);
    assert.equal(r.trainedBy, 'trainChild');
    assert.equal(r.steps, 2, 'maxSteps 2 over 2 epochs: one step each');
    assert.equal(r.validationByEpoch.length, 2);
    assert.ok(r.testAccuracy !== null, 'val/ is the test split');
    assert.equal(r.exportPath, null);
    await assert.rejects(runTransfer({ ...job, recipe: { ...job.recipe, auxHead: true } }), (e: unknown) => e instanceof TransferSpecError && e.field === 'recipe.auxHead');
  } finally {
    f.cleanup();
  }
});

test('runTransfer - an aborted signal stops training with TrainingCancelledError', async () => {
  const data = writeCifar10Folder(8, 4);
  try {
    const abort = new AbortController();
    await assert.rejects(
      runTransfer(
        { genotype: NASNET_A, size: { cells: 1, initialFilters: 2 }, dataset: `cifar10:${data.dir}`, recipe: { epochs: 50, batchSize: 8 }, datasetOptions: cifarOptions },
        { signal: abort.signal, progressEverySteps: 1, onProgress: () => abort.abort(new Error('test')) },
      ),
      TrainingCancelledError,
    );
  } finally {
    data.cleanup();
  }
});

test('planTransfer - sizes a budget and names the field of every bad spec', async () => {
  const data = writeCifar10Folder(8, 4);
  try {
    const base: TransferJob = { genotype: NASNET_A, dataset: `cifar10:${data.dir}` };
    const p = await planTransfer({ ...base, size: { budgetParams: 3_366_000 } });
    assert.deepEqual([p.size.cells, p.size.filters, p.sizedBy], [6, 768, 'budgetParams']);
    const d = await planTransfer(base);
    assert.deepEqual([d.size.cells, d.size.filters, d.sizedBy, d.exportPath], [6, 768, 'default', null]);
    const field = async (job: TransferJob, name: string) =>
      assert.rejects(planTransfer(job), (e: unknown) => e instanceof TransferSpecError && e.field === name && e.message.includes(name));
    await field({ ...base, recipe: { batchSize: 0 } }, 'recipe.batchSize');
    await field({ ...base, recipe: { imageSize: 64 } }, 'recipe.imageSize');
    await field({ ...base, recipe: { dropPathKeepProb: 0 } }, 'recipe.dropPathKeepProb');
    await field({ ...base, dataset: 'imagenet:/x' }, 'dataset');
    await field({ ...base, layout: 'mobile' as never }, 'layout');
    await field({ ...base, size: { cells: 2, filters: 100 } }, 'size.filters');
    await field({ ...base, size: { cells: 0, initialFilters: 4 } }, 'size.cells');
    await field({ ...base, genotype: { ...NASNET_A, normal: { ...NASNET_A.normal, concat: [9] } } }, 'genotype.normal.concat[0]');
    await assert.rejects(planTransfer({ ...base, size: { budgetMultAdds: 1000 } }), NoSizeFitsError);
  } finally {
    data.cleanup();
  }
});
