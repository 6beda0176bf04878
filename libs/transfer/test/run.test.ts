import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MODEL_JSON_FILE, WEIGHTS_FILE, loadModel, planNetwork, trainableParamCount } from '@nasnet/network';
import { initBackend } from '@nasnet/engine';
import { NASNET_A } from '@nasnet/search-space';
import { TrainingCancelledError } from '@nasnet/trainer';
import { NoSizeFitsError, TransferSpecError, planTransfer, runTransfer } from '../src/index.js';
import type { TransferJob, TransferOutcome, TransferProgressInfo } from '../src/index.js';
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
      {
        epochs: 1, batchSize: 8, learningRate: 0.025, momentum: 0.9, weightDecay: 5e-4, auxHead: true, auxWeight: 0.4, dropPathKeepProb: 0.6, cutout: true, cutoutSize: 16, gradientClipNorm: 5, imageSize: 32, maxSteps: 0,
        optimizer: 'sgd', lrSchedule: 'cosine', lrDecayRate: 0.97, lrDecayEpochs: 2.4, labelSmoothing: 0, denseDropoutKeepProb: 1,
        checkpointCells: false,
      },
    );
    const r = await runTransfer(job, { onProgress: (p) => progress.push(p), progressEverySteps: 2 });
    t.diagnostic(`${r.cells}@${r.filters}: ${r.paramCount} params, test ${r.testAccuracy}, validation ${r.validationAccuracy}, ${r.trainSeconds.toFixed(1)} s`);
    const net = planNetwork(NASNET_A, { layout: 'cifar', cells: 1, initialFilters: 4 });
    assert.deepEqual([r.cells, r.filters, r.initialFilters, r.paramCount, r.multAdds], [1, 96, 4, net.paramCount, net.multAdds]);
    assert.equal(r.trainedBy, 'trainChild');
    assert.equal(r.checkpointCells, false);
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

test('planTransfer - each layout gets its published recipe; imagenet-large plans NASNet-A Large 6@4032 (88,753,150 parameters)', async () => {
  const synthetic = (size: number, numClasses = 10) => ({ synthetic: { height: size, width: size, numClasses } });
  const mobile = await planTransfer({ genotype: NASNET_A, layout: 'imagenet', dataset: 'synthetic', datasetOptions: synthetic(224, 1000) });
  assert.deepEqual([mobile.size.cells, mobile.size.filters, mobile.size.paramCount, mobile.stemMultiplier], [4, 1056, 5_289_978, 1]);
  assert.deepEqual(
    { ...mobile.recipe },
    {
      epochs: 312, batchSize: 32, learningRate: 0.04, momentum: 0.9, weightDecay: 4e-5, auxHead: true, auxWeight: 0.4, dropPathKeepProb: 1,
      cutout: false, cutoutSize: 16, gradientClipNorm: 10, imageSize: 224, maxSteps: 0,
      optimizer: 'rmsprop', lrSchedule: 'exponential', lrDecayRate: 0.97, lrDecayEpochs: 2.4, labelSmoothing: 0.1, denseDropoutKeepProb: 0.5,
      checkpointCells: false,
    },
  );
  const large = await planTransfer({ genotype: NASNET_A, layout: 'imagenet-large', dataset: 'synthetic', datasetOptions: synthetic(331, 1000) });
  assert.deepEqual([large.size.cells, large.size.filters, large.size.initialFilters, large.size.paramCount, large.stemMultiplier], [6, 4032, 168, 88_753_150, 3]);
  assert.deepEqual(
    [large.recipe.batchSize, large.recipe.learningRate, large.recipe.weightDecay, large.recipe.dropPathKeepProb, large.recipe.optimizer, large.recipe.labelSmoothing],
    [16, 0.015, 5e-5, 0.7, 'rmsprop', 0.1],
  );
  // The stem multiplier is the job's when given: mobile stacking with the Large stem.
  const stem3 = await planTransfer({ genotype: NASNET_A, layout: 'imagenet', stemMultiplier: 3, size: { cells: 6, filters: 4032 }, dataset: 'synthetic', datasetOptions: synthetic(331, 1000) });
  assert.equal(stem3.size.paramCount, 88_753_150);
  // A recipe field given wins over the layout's default; bad ones are named.
  const sgd = await planTransfer({ genotype: NASNET_A, layout: 'imagenet', recipe: { optimizer: 'sgd', labelSmoothing: 0 }, dataset: 'synthetic', datasetOptions: synthetic(224, 1000) });
  assert.deepEqual([sgd.recipe.optimizer, sgd.recipe.labelSmoothing, sgd.recipe.lrSchedule], ['sgd', 0, 'exponential']);
  const field = async (job: Partial<TransferJob>, name: string) =>
    assert.rejects(planTransfer({ genotype: NASNET_A, dataset: 'synthetic', ...job }), (e: unknown) => e instanceof TransferSpecError && e.field === name);
  await field({ recipe: { optimizer: 'adam' as never } }, 'recipe.optimizer');
  await field({ recipe: { lrSchedule: 'step' as never } }, 'recipe.lrSchedule');
  await field({ recipe: { labelSmoothing: 1 } }, 'recipe.labelSmoothing');
  await field({ recipe: { denseDropoutKeepProb: 0 } }, 'recipe.denseDropoutKeepProb');
  await field({ stemMultiplier: 0 }, 'stemMultiplier');
});

test('planTransfer - small images: a defaulted auxiliary head is dropped with a notice, an explicit one is refused', async () => {
  const plan = await planTransfer({ genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'synthetic' });
  assert.equal(plan.recipe.auxHead, false);
  assert.equal(plan.notices.length, 1);
  assert.match(plan.notices[0]!, /^auxiliary head off: the auxiliary head does not fit 8x8 inputs/);
  await assert.rejects(
    planTransfer({ genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'synthetic', recipe: { auxHead: true } }),
    (e: unknown) => e instanceof TransferSpecError && e.field === 'recipe.auxHead',
  );
  const fits = await planTransfer({ genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'mnist' });
  assert.deepEqual([fits.recipe.auxHead, fits.notices], [true, []]);
});

test('runTransfer - a 1@8 MNIST transfer trained with the aux head exports exactly the parameters planNetwork counts', async () => {
  const out = mkdtempSync(join(tmpdir(), 'nasnet-transfer-mnist-'));
  try {
    const r = await runTransfer({
      genotype: NASNET_A, size: { cells: 1, initialFilters: 8 }, dataset: 'mnist', recipe: { epochs: 1, batchSize: 8, maxSteps: 1 },
      exportPath: join(out, 'model'), seed: 2, datasetOptions: { mnist: { trainCount: 64, validationCount: 64 } },
    });
    const net = planNetwork(NASNET_A, { cells: 1, initialFilters: 8, imageSize: 28, channels: 1, numClasses: 10 });
    // The training network had the aux head (28 -> 7 pixels before the second reduction: it fits).
    assert.ok(planNetwork(NASNET_A, { cells: 1, initialFilters: 8, imageSize: 28, channels: 1, numClasses: 10, auxHead: true }).auxParamCount > 1_000_000);
    assert.equal(r.paramCount, net.paramCount);
    const manifest = JSON.parse(readFileSync(join(out, 'model', MODEL_JSON_FILE), 'utf8')).weightsManifest[0].weights as Array<{ name: string; shape: number[] }>;
    const count = (ws: typeof manifest) => ws.reduce((n, w) => n + w.shape.reduce((p, d) => p * d, 1), 0);
    assert.equal(count(manifest.filter((w) => !/moving_(mean|variance)/.test(w.name))), net.paramCount);
    assert.ok(!manifest.some((w) => w.name.startsWith('aux_')));
    const model = await loadModel(join(out, 'model'));
    assert.equal(trainableParamCount(model), net.paramCount);
    model.dispose();
    assert.equal(r.testAccuracy, null, 'the built-in MNIST has no test split');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('runTransfer - synthetic data has no test split either: testAccuracy null', async () => {
  const notices: string[] = [];
  const r = await runTransfer(
    { genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'synthetic', recipe: { epochs: 1, batchSize: 16, maxSteps: 1 } },
    { onNotice: (line) => notices.push(line) },
  );
  assert.equal(r.testAccuracy, null);
  assert.equal(notices.length, 1, 'the 8x8 images drop the default auxiliary head, and the run says so');
  assert.ok(r.validationAccuracy >= 0 && r.validationAccuracy <= 1);
});

test('runTransfer - recipe.checkpointCells reaches trainChild: cells recomputed, lower peak memory, the same training to float32 rounding', async (t) => {
  // tf.profile counts every kernel the engine runs and the most tensor bytes alive at once: with checkpointing each
  // cell's forward pass runs again in the backward pass (more kernels) and only the cells' inputs stay alive.
  const run = async (checkpointCells: boolean) => {
    const losses: number[] = [];
    let outcome: TransferOutcome | undefined;
    const profile = await tf.profile(async () => {
      outcome = await runTransfer(
        { genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'synthetic', seed: 5, recipe: { epochs: 1, batchSize: 16, maxSteps: 3, checkpointCells } },
        { onProgress: (p) => losses.push(p.loss), progressEverySteps: 1 },
      );
      return [];
    });
    return { outcome: outcome!, kernels: profile.kernels.length, peakBytes: profile.peakBytes, losses };
  };
  const plain = await run(false);
  const checkpointed = await run(true);
  t.diagnostic(`kernels ${plain.kernels} -> ${checkpointed.kernels}, peak tensor bytes ${plain.peakBytes} -> ${checkpointed.peakBytes}`);
  assert.deepEqual([plain.outcome.checkpointCells, checkpointed.outcome.checkpointCells], [false, true]);
  assert.ok(checkpointed.kernels > plain.kernels, 'the cells ran again in the backward pass');
  assert.ok(checkpointed.peakBytes < plain.peakBytes, 'fewer activations alive at once');
  assert.equal(checkpointed.outcome.steps, plain.outcome.steps);
  assert.equal(checkpointed.losses.length, plain.losses.length);
  // The first step's forward pass is the same computation; later steps differ by float32 rounding only (a cell
  // output's gradient is summed from its readers in another order, see @nasnet/trainer's checkpoint test).
  assert.equal(checkpointed.losses[0], plain.losses[0]);
  checkpointed.losses.forEach((loss, i) => assert.ok(Math.abs(loss - plain.losses[i]!) <= 1e-5 * Math.abs(plain.losses[i]!), `step ${i + 1}: ${loss} against ${plain.losses[i]}`));
});

test('planTransfer - recipe.checkpointCells is off by default and must be a boolean', async () => {
  const job = { genotype: NASNET_A, size: { cells: 1, initialFilters: 4 }, dataset: 'synthetic' } as const;
  assert.equal((await planTransfer(job)).recipe.checkpointCells, false);
  assert.equal((await planTransfer({ ...job, recipe: { checkpointCells: true } })).recipe.checkpointCells, true);
  await assert.rejects(planTransfer({ ...job, recipe: { checkpointCells: 'yes' as never } }),
    (e: unknown) => e instanceof TransferSpecError && e.field === 'recipe.checkpointCells' && /must be true or false, got "yes"/.test(e.message));
});
