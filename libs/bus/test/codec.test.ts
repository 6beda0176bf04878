import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pb from '@nasnet/proto';
import { defaultRecipe, type ChildProgress, type ChildResult, type ChildTask } from '@nasnet/search';
import { genotypeHash, NASNET_A, sampleGenotype } from '@nasnet/search-space';
import { Rng } from '@nasnet/random';
import {
  BusDecodeError, BusEncodeError, decodeBusEvent, decodeChildProgress, decodeChildResult, decodeChildTask, encodeBusEvent,
  encodeChildProgress, encodeChildResult, encodeChildTask, HEADER_TRAIN_LIMIT, type BusEvent,
} from '../src/index.js';

function fullTask(): ChildTask {
  const genotype = sampleGenotype(new Rng(7), { numBlocks: 3 });
  return {
    searchId: 's-1', childId: 41, genotype, hash: genotypeHash(genotype),
    recipe: {
      ...defaultRecipe(), epochs: 3, batchSize: 16, initialFilters: 8, cells: 1, learningRate: 0.05, momentum: 0.8, weightDecay: 1e-4,
      dropPathKeepProb: 0.7, auxHead: true, gradientClipNorm: 2, maxStepsPerEpoch: 12, trainLimit: 1000, validationLimit: 200,
      checkpointCells: true,
    },
    dataset: 'cifar10:/data/cifar', seed: 4_000_000_000, phase: 'final',
    earlyStop: { minEpochs: 2, medianByEpoch: [0.25, 0.5, 0.625] }, exportDir: '/runs/s-1/child-41',
  };
}

const headerOf = (h: Record<string, string>) => (name: string) => h[name];

test('codec - a ChildTask with every field survives nas.v1 and back', () => {
  const task = fullTask();
  const wire = encodeChildTask(task);
  assert.deepEqual(wire.headers, {});
  // The body is a plain nas.v1.ChildTask any protobuf reader understands.
  const m = pb.ChildTask.decode(wire.data);
  assert.equal(m.childId, '41');
  assert.equal(m.recipe?.numBlocks, 3);
  assert.equal(m.recipe?.trainSize, 1000);
  assert.equal(m.genotype?.hash, task.hash);
  assert.deepEqual(decodeChildTask(wire.data, { subject: 'nas.tasks.s-1', header: headerOf(wire.headers) }), task);
});

test('codec - a minimal ChildTask round-trips without optional fields', () => {
  const task: ChildTask = { searchId: 'x', childId: 0, genotype: NASNET_A, hash: genotypeHash(NASNET_A), recipe: defaultRecipe(), dataset: 'mnist', seed: 0, phase: 'search' };
  const wire = encodeChildTask(task);
  assert.deepEqual(wire.headers, {});
  assert.deepEqual(decodeChildTask(wire.data, { subject: 'nas.tasks.x' }), task);
});

test('codec - recipe.checkpointCells travels as checkpoint_cells both ways; a task without the field decodes as off', () => {
  const subject = 'nas.tasks.s-1';
  for (const on of [true, false]) {
    const task = fullTask();
    task.recipe.checkpointCells = on;
    const wire = encodeChildTask(task);
    assert.equal(pb.ChildTask.decode(wire.data).recipe?.checkpointCells, on, `on the wire (${on})`);
    assert.equal(decodeChildTask(wire.data, { subject }).recipe.checkpointCells, on, `decoded (${on})`);
  }
  // A task queued by a build before the field: nas.v1 bytes without checkpoint_cells.
  const old = pb.ChildTask.decode(encodeChildTask(fullTask()).data);
  const bytes = pb.ChildTask.encode({ ...old, recipe: { ...old.recipe!, checkpointCells: undefined } }).finish();
  assert.equal(pb.ChildTask.decode(bytes).recipe?.checkpointCells, undefined);
  assert.equal(decodeChildTask(bytes, { subject }).recipe.checkpointCells, false);
});

test('codec - encoding refuses values the wire cannot hold', () => {
  assert.throws(() => encodeChildTask({ ...fullTask(), seed: 2 ** 32 }), (e: unknown) => e instanceof BusEncodeError && e.field === 'seed');
  assert.throws(() => encodeChildTask({ ...fullTask(), childId: -1 }), (e: unknown) => e instanceof BusEncodeError && e.field === 'childId');
});

function decodeError(fn: () => unknown): BusDecodeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BusDecodeError, `expected BusDecodeError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a BusDecodeError');
}

test('codec - an undecodable task names the subject and the field', () => {
  const subject = 'nas.tasks.s-1';
  const good = pb.ChildTask.decode(encodeChildTask(fullTask()).data);
  const bytes = (m: pb.ChildTask) => pb.ChildTask.encode(m).finish();

  let e = decodeError(() => decodeChildTask(new Uint8Array([0x0a, 0xff, 0x01]), { subject }));
  assert.equal(e.subject, subject);
  assert.equal(e.field, '(message)');

  e = decodeError(() => decodeChildTask(bytes({ ...good, childId: 'seven' }), { subject }));
  assert.equal(e.field, 'child_id');

  e = decodeError(() => decodeChildTask(bytes(good), { subject: 'nas.tasks.other' }));
  assert.equal(e.field, 'search_id');

  const badOp = structuredClone(good);
  badOp.genotype!.normal!.blocks[1]!.op2 = 99 as pb.Operation;
  e = decodeError(() => decodeChildTask(bytes(badOp), { subject }));
  assert.equal(e.field, 'genotype.normal.blocks[1].op2');

  const badInput = structuredClone(good);
  badInput.genotype!.reduction!.blocks[0]!.input1 = 4;
  e = decodeError(() => decodeChildTask(bytes(badInput), { subject }));
  assert.equal(e.field, 'genotype.reduction.blocks[0].inputs[0]');
  assert.match(e.message, /undecodable message on 'nas\.tasks\.s-1': genotype\.reduction\.blocks\[0\]\.inputs\[0\]/);

  e = decodeError(() => decodeChildTask(bytes({ ...good, recipe: { ...good.recipe, epochs: undefined } }), { subject }));
  assert.equal(e.field, 'recipe.epochs');
  e = decodeError(() => decodeChildTask(bytes({ ...good, recipe: { ...good.recipe, momentum: 1.5 } }), { subject }));
  assert.equal(e.field, 'recipe.momentum');
  e = decodeError(() => decodeChildTask(bytes({ ...good, phase: 'later' }), { subject }));
  assert.equal(e.field, 'phase');
  // Tasks from an earlier build carry trainLimit in a header instead of recipe.train_size.
  const legacy = { ...good, recipe: { ...good.recipe!, trainSize: undefined } };
  assert.equal(decodeChildTask(bytes(legacy), { subject, header: (n) => (n === HEADER_TRAIN_LIMIT ? '700' : undefined) }).recipe.trainLimit, 700);
  e = decodeError(() => decodeChildTask(bytes(legacy), { subject, header: (n) => (n === HEADER_TRAIN_LIMIT ? '-3' : undefined) }));
  assert.equal(e.field, `header ${HEADER_TRAIN_LIMIT}`);
});

test('codec - ChildResult round-trips and checks its subject, status and curve', () => {
  const result: ChildResult = {
    childId: 9, status: 'early_stopped', reward: 0.625, reason: 'below the median after epoch 2', validationByEpoch: [0.5, 0.625],
    trainSeconds: 12.5, paramCount: 2 ** 40, multAdds: 123_456_789, trainer: 'trainer-a', attempts: 2,
  };
  const bytes = encodeChildResult(result, { searchId: 's', genotypeHash: 'abc' });
  const m = pb.ChildResult.decode(bytes);
  assert.equal(m.validationAccuracy, 0.625);
  assert.equal(m.epochsDone, 2);
  assert.deepEqual(decodeChildResult(bytes, 'nas.results.s.9'), { searchId: 's', genotypeHash: 'abc', generation: 0, result });
  // A generation after the child: the subject results are written to since generations.
  assert.equal(decodeChildResult(bytes, 'nas.results.s.9.3').generation, 3);
  for (const bad of ['nas.results.s.9.0', 'nas.results.s.9.x', 'nas.results.s.9.3.1', 'nas.results.s.9.03']) assert.equal(decodeError(() => decodeChildResult(bytes, bad)).field, 'search_id/child_id', bad);

  const minimal: ChildResult = { childId: 0, status: 'failed', reward: 0, validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0 };
  assert.deepEqual(decodeChildResult(encodeChildResult(minimal, { searchId: 's' }), 'nas.results.s.0').result, minimal);

  assert.equal(decodeError(() => decodeChildResult(bytes, 'nas.results.s.10')).field, 'search_id/child_id');
  const unspecified = pb.ChildResult.encode({ ...m, status: pb.ChildStatus.CHILD_STATUS_UNSPECIFIED }).finish();
  assert.equal(decodeError(() => decodeChildResult(unspecified, 'nas.results.s.9')).field, 'status');
  const short = pb.ChildResult.encode({ ...m, epochsDone: 3 }).finish();
  assert.equal(decodeError(() => decodeChildResult(short, 'nas.results.s.9')).field, 'epochs_done');
});

test('codec - ChildProgress round-trips with and without a validation accuracy', () => {
  const mid: ChildProgress = { childId: 3, epoch: 1, epochs: 4, step: 17, stepsPerEpoch: 50, loss: 1.25, trainAccuracy: 0.5, imagesPerSec: 480 };
  const end: ChildProgress = { ...mid, step: 50, validationAccuracy: 0.75 };
  for (const p of [mid, end]) {
    const back = decodeChildProgress(encodeChildProgress(p, { searchId: 's', trainer: 't' }), 'nas.events.s');
    assert.deepEqual(back, { searchId: 's', trainer: 't', progress: p });
  }
});

test('codec - BusEvents round-trip as JSON, NaN losses included', () => {
  const progress: ChildProgress = { childId: 1, epoch: 1, epochs: 2, step: 3, stepsPerEpoch: 4, loss: Number.NaN, trainAccuracy: 0.25, imagesPerSec: 10 };
  const events: BusEvent[] = [
    { kind: 'search', searchId: 's', sequence: 3, timeMs: 5, event: { type: 'best_improved', childId: 2, reward: 0.9, hash: 'h', genotype: 'g' } },
    { kind: 'search_state', searchId: 's', timeMs: 5, state: 'running', trainers: 4 },
    { kind: 'child_progress', searchId: 's', timeMs: 5, trainer: 't', progress },
    { kind: 'child_attempt', searchId: 's', timeMs: 5, trainer: 't', childId: 1, attempt: 2, redelivered: true },
    { kind: 'trainer_heartbeat', timeMs: 5, trainer: 't', busy: false },
    { kind: 'queue', timeMs: 5, pending: 3, inFlight: 1 },
  ];
  for (const e of events) {
    const subject = 'searchId' in e ? `nas.events.${e.searchId}` : 'nas.events.system';
    assert.deepEqual(decodeBusEvent(encodeBusEvent(e), subject), e);
  }
});

test('codec - a malformed BusEvent names the field', () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const cases: Array<[unknown, string, string?]> = [
    [{ kind: 'gossip', timeMs: 1 }, 'kind'],
    [{ kind: 'queue', timeMs: 1, pending: 'many', inFlight: 0 }, 'pending'],
    [{ kind: 'search_state', searchId: 's', timeMs: 1, state: 'sleeping' }, 'state'],
    [{ kind: 'search', searchId: 's', sequence: 1, timeMs: 1, event: { type: 'child_finished', childId: 1, phase: 'search', cached: false } }, 'event.result'],
    [{ kind: 'child_progress', searchId: 's', timeMs: 1, trainer: 't', progress: { childId: 1 } }, 'progress.epoch'],
    [{ kind: 'trainer_heartbeat', timeMs: 1, trainer: 't', busy: true }, 'searchId', 'nas.events.s'],
  ];
  for (const [value, field, subject = 'nas.events.s'] of cases) {
    assert.equal(decodeError(() => decodeBusEvent(enc(value), subject)).field, field, JSON.stringify(value));
  }
  assert.equal(decodeError(() => decodeBusEvent(new Uint8Array([0xff, 0xfe]), 'nas.events.s')).field, '(message)');
});
