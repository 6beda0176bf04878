import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pb from '@nasnet/proto';
import { NASNET_A } from '@nasnet/search-space';
import { genotypeToProto } from '@nasnet/proto';
import { InvalidTransferRequestError, acceptSpec } from '../src/index.js';

// acceptSpec reads only the data set's shape: a 331x331, 1000-class synthetic set is planned, never generated.
const imagenetShape = { synthetic: { height: 331, width: 331, numClasses: 1000 } };
const spec = (over: Partial<pb.TransferSpec>) =>
  pb.TransferSpec.fromPartial({ source: { $case: 'genotype', value: genotypeToProto(NASNET_A) }, dataset: 'synthetic', ...over });

test('transfer spec - LAYOUT_IMAGENET_LARGE plans NASNet-A Large 6@4032 with its recipe; the filled spec says what was used', async () => {
  const a = await acceptSpec(spec({ layout: pb.Layout.LAYOUT_IMAGENET_LARGE }), { datasetOptions: imagenetShape });
  assert.deepEqual([a.plan.size.cells, a.plan.size.filters, a.plan.size.initialFilters, a.plan.size.paramCount], [6, 4032, 168, 88_753_150]);
  assert.equal(a.job.layout, 'imagenet-large');
  assert.equal(a.filled.layout, pb.Layout.LAYOUT_IMAGENET_LARGE);
  assert.equal(a.filled.stemMultiplier, 3);
  // The wire's NetworkSize.filters is F0; the paper's F is plan.size.filters (TransferStatus.penultimate_filters).
  assert.deepEqual(a.filled.size, { $case: 'fixed', value: { cells: 6, filters: 168 } });
  const r = a.filled.recipe!;
  assert.deepEqual(
    [r.optimizer, r.lrSchedule, r.lrDecayRate, r.lrDecayEpochs, r.labelSmoothing, r.denseDropoutKeepProb, r.batchSize, r.learningRate, r.weightDecay, r.dropPathKeepProb, r.gradClipNorm, r.auxWeight],
    [pb.Optimizer.OPTIMIZER_RMSPROP, pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_EXPONENTIAL, 0.97, 2.4, 0.1, 0.5, 16, 0.015, 5e-5, 0.7, 10, 0.4],
  );
});

test('transfer spec - stem_multiplier and recipe enums pass through; unset ones take the layout default', async () => {
  const a = await acceptSpec(spec({
    layout: pb.Layout.LAYOUT_IMAGENET, stemMultiplier: 3, size: { $case: 'fixed', value: { cells: 6, filters: 168 } },
    recipe: { optimizer: pb.Optimizer.OPTIMIZER_SGD, lrSchedule: pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE, labelSmoothing: 0 },
  }), { datasetOptions: imagenetShape });
  assert.equal(a.job.stemMultiplier, 3);
  assert.equal(a.plan.size.paramCount, 88_753_150, 'mobile stacking with the Large stem is the Large count');
  assert.deepEqual([a.filled.recipe!.optimizer, a.filled.recipe!.lrSchedule, a.filled.recipe!.labelSmoothing, a.filled.recipe!.weightDecay],
    [pb.Optimizer.OPTIMIZER_SGD, pb.LearningRateSchedule.LEARNING_RATE_SCHEDULE_COSINE, 0, 4e-5]);
  const mobile = await acceptSpec(spec({ layout: pb.Layout.LAYOUT_IMAGENET }), { datasetOptions: { synthetic: { height: 224, width: 224, numClasses: 1000 } } });
  assert.deepEqual([mobile.filled.stemMultiplier, mobile.plan.size.paramCount, mobile.filled.recipe!.optimizer], [1, 5_289_978, pb.Optimizer.OPTIMIZER_RMSPROP]);
  const cifar = await acceptSpec(spec({ size: { $case: 'fixed', value: { cells: 1, filters: 4 } } }));
  assert.deepEqual([cifar.filled.stemMultiplier, cifar.filled.recipe!.optimizer, cifar.filled.recipe!.auxHead], [3, pb.Optimizer.OPTIMIZER_SGD, false]);
  assert.match(cifar.plan.notices[0] ?? '', /auxiliary head off: the auxiliary head does not fit 8x8 inputs/);
});

test('transfer spec - bad recipe enums, smoothing and stem multipliers are named by their proto field', async () => {
  const field = async (over: Partial<pb.TransferSpec>, name: string) =>
    assert.rejects(acceptSpec(spec(over)), (e: unknown) => e instanceof InvalidTransferRequestError && e.field === name, name);
  await field({ stemMultiplier: 0 }, 'spec.stem_multiplier');
  await field({ recipe: { optimizer: 7 as pb.Optimizer } }, 'spec.recipe.optimizer');
  await field({ recipe: { lrSchedule: 9 as pb.LearningRateSchedule } }, 'spec.recipe.lr_schedule');
  await field({ recipe: { labelSmoothing: 1 } }, 'spec.recipe.label_smoothing');
  await field({ recipe: { denseDropoutKeepProb: 0 } }, 'spec.recipe.dense_dropout_keep_prob');
  await field({ recipe: { lrDecayRate: 0 } }, 'spec.recipe.lr_decay_rate');
  await field({ layout: 8 as pb.Layout }, 'spec.layout');
  await field({ recipe: { auxHead: true }, size: { $case: 'fixed', value: { cells: 1, filters: 4 } } }, 'spec.recipe.aux_head');
});

test('transfer spec - checkpoint_cells: unset is filled in as off, set passes to the job and the plan', async () => {
  const tiny = { size: { $case: 'fixed' as const, value: { cells: 1, filters: 4 } } };
  const unset = await acceptSpec(spec(tiny));
  assert.deepEqual([unset.job.recipe?.checkpointCells, unset.plan.recipe.checkpointCells, unset.filled.recipe?.checkpointCells], [undefined, false, false]);
  const on = await acceptSpec(spec({ ...tiny, recipe: { checkpointCells: true } }));
  assert.deepEqual([on.job.recipe?.checkpointCells, on.plan.recipe.checkpointCells, on.filled.recipe?.checkpointCells], [true, true, true]);
  // The filled spec survives the wire.
  assert.equal(pb.TransferSpec.decode(pb.TransferSpec.encode(on.filled).finish()).recipe?.checkpointCells, true);
});
