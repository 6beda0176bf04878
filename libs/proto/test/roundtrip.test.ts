import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A, OPERATIONS, type Genotype as DomainGenotype } from '@nasnet/search-space';
import {
  Block,
  ChildResult,
  ChildStatus,
  Combine,
  COMBINE_TO_PROTO,
  Genotype,
  genotypeFromProto,
  genotypeToProto,
  Layout,
  LogLevel,
  MissingFieldError,
  Operation,
  OPERATION_TO_PROTO,
  ProtoConversionError,
  SearchEvent,
  SearchSpec,
  SearchStrategy,
  TransferSpec,
  UnknownEnumError,
  UnknownNameError,
  UnspecifiedEnumError,
} from '../src/index.js';

/** A SearchSpec with every field, nested ones included, set to a non-default value. */
function fullSearchSpec(): SearchSpec {
  return {
    name: 'cifar-ppo',
    dataset: 'cifar10:/data/cifar',
    budget: { maxArchitectures: 20000, maxTrainers: 450, maxWallSeconds: 4 * 24 * 3600, maxConcurrentChildren: 450 },
    recipe: {
      epochs: 20,
      batchSize: 32,
      initialFilters: 32,
      cellsPerStack: 2,
      learningRate: 0.025,
      momentum: 0.9,
      weightDecay: 5e-4,
      cosineSchedule: true,
      minLearningRate: 1e-4,
      dropPathKeepProb: 0.6,
      auxHead: true,
      auxWeight: 0.4,
      imageSize: 32,
      validationSize: 5000,
      maxSteps: 2 ** 40, // above 32 bits: checks 64-bit fields survive as numbers
      gradClipNorm: 5,
      numBlocks: 5,
      trainSize: 45000,
      checkpointCells: true,
    },
    controller: {
      lstmUnits: 100,
      learningRate: 0.00035,
      entropyWeight: 0.00001,
      baselineDecay: 0.95,
      batchSize: 20,
      ppoClip: 0.2,
      ppoEpochs: 4,
      temperature: 1.5,
      initRange: 0.1,
    },
    strategy: SearchStrategy.SEARCH_STRATEGY_EVOLUTION,
    seed: 0xdeadbeef,
    earlyStopping: { medianRule: true, minEpochs: 3 },
    finalPhase: { topK: 250, epochs: 600, filters: 32, cells: 6 },
    resources: { gpus: 1, cpu: '2', memory: '4Gi', image: 'registry.local/trainer:0.1', backend: 'webgpu', profile: 'gpu' },
    labels: { team: 'nas', 'app.kubernetes.io/part-of': 'nasnet' },
    evolution: { populationSize: 100, sampleSize: 25 },
  };
}

/** Paths of leaves that hold a proto3 default (0, '', false, empty) or are missing. */
function defaultLeaves(value: unknown, path = '$', out: string[] = []): string[] {
  if (value === undefined || value === null || value === 0 || value === '' || value === false) out.push(path);
  else if (Array.isArray(value)) {
    if (value.length === 0) out.push(path);
    value.forEach((v, i) => defaultLeaves(v, `${path}[${i}]`, out));
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.push(path);
    for (const [k, v] of entries) defaultLeaves(v, `${path}.${k}`, out);
  }
  return out;
}

test('SearchSpec - every field survives encode/decode and JSON', () => {
  const spec = fullSearchSpec();
  const bytes = SearchSpec.encode(spec).finish();
  const decoded = SearchSpec.decode(bytes);
  // decode() fills every field the schema has: a field added to proto/ but
  // not to fullSearchSpec() shows up here as a default leaf.
  assert.deepEqual(defaultLeaves(decoded), [], 'fullSearchSpec() must set every field of SearchSpec');
  assert.deepEqual(decoded, spec);
  assert.deepEqual(SearchSpec.fromJSON(SearchSpec.toJSON(spec)), spec);
});

test('SearchSpec - unset optional recipe fields decode as undefined, zero ones as 0', () => {
  const decoded = SearchSpec.decode(
    SearchSpec.encode(SearchSpec.fromPartial({ recipe: { momentum: 0, epochs: 20 } })).finish(),
  );
  assert.equal(decoded.recipe?.momentum, 0);
  assert.equal(decoded.recipe?.epochs, 20);
  assert.equal(decoded.recipe?.learningRate, undefined);
  assert.equal(decoded.controller, undefined);
});

test('Genotype - NASNet-A survives genotypeToProto, encode, decode, genotypeFromProto', () => {
  const wire = genotypeToProto(NASNET_A, { hash: 'h-test', text: 'nasnet-a' });
  assert.equal(wire.normal?.blocks.length, 5);
  assert.equal(wire.normal?.blocks[0]?.op1, Operation.OPERATION_SEP_CONV_5X5);
  assert.equal(wire.reduction?.blocks[3]?.input1, 3);
  const decoded = Genotype.decode(Genotype.encode(wire).finish());
  assert.deepEqual(decoded, wire);
  assert.equal(decoded.hash, 'h-test');
  assert.deepEqual(genotypeFromProto(decoded), NASNET_A);
});

test('Genotype - operation enum numbers follow the paper order (index + 1), combines too', () => {
  OPERATIONS.forEach((name, i) => assert.equal(OPERATION_TO_PROTO[name], i + 1, name));
  assert.equal(Object.keys(OPERATION_TO_PROTO).length, 13);
  assert.equal(COMBINE_TO_PROTO.add, Combine.COMBINE_ADD);
  assert.equal(COMBINE_TO_PROTO.concat, Combine.COMBINE_CONCAT);
  // Every op and both combines make the round trip.
  const all: DomainGenotype = {
    normal: {
      blocks: OPERATIONS.map((op, i) => ({
        inputs: [i % 2, (i + 1) % 2] as const,
        ops: [op, OPERATIONS[OPERATIONS.length - 1 - i]!] as const,
        combine: i % 2 === 0 ? ('add' as const) : ('concat' as const),
      })),
      concat: [2, 3],
    },
    reduction: NASNET_A.reduction,
  };
  assert.deepEqual(genotypeFromProto(Genotype.decode(Genotype.encode(genotypeToProto(all)).finish())), all);
});

test('Block - wire bytes pin the field numbers', () => {
  // input1 = 0 is a proto3 default and is not written; then field 2 (varint)
  // = 1, field 3 = 12 (SEP_CONV_5X5), field 4 = 11 (SEP_CONV_3X3), field 5 = 1 (ADD).
  const bytes = Block.encode({
    input1: 0,
    input2: 1,
    op1: Operation.OPERATION_SEP_CONV_5X5,
    op2: Operation.OPERATION_SEP_CONV_3X3,
    combine: Combine.COMBINE_ADD,
  }).finish();
  assert.deepEqual([...bytes], [0x10, 0x01, 0x18, 0x0c, 0x20, 0x0b, 0x28, 0x01]);
});

test('genotypeFromProto - unknown operation enum names the field', () => {
  const wire = genotypeToProto(NASNET_A);
  const bad = Genotype.decode(Genotype.encode(wire).finish());
  bad.normal!.blocks[3]!.op2 = 99 as Operation;
  assert.throws(
    () => genotypeFromProto(bad),
    (err: unknown) =>
      err instanceof UnknownEnumError &&
      err instanceof ProtoConversionError &&
      err.message === 'normal.blocks[3].op2: unknown operation enum 99' &&
      err.field === 'normal.blocks[3].op2' &&
      err.value === 99,
  );
});

test('genotypeFromProto - unspecified enums and missing cells are rejected', () => {
  const zeroOp = genotypeToProto(NASNET_A);
  zeroOp.reduction!.blocks[0]!.op1 = Operation.OPERATION_UNSPECIFIED;
  assert.throws(() => genotypeFromProto(zeroOp), (err: unknown) =>
    err instanceof UnspecifiedEnumError &&
    err.message === 'reduction.blocks[0].op1: operation is unspecified (OPERATION_UNSPECIFIED = 0)');

  const zeroCombine = genotypeToProto(NASNET_A);
  zeroCombine.normal!.blocks[4]!.combine = Combine.COMBINE_UNSPECIFIED;
  assert.throws(() => genotypeFromProto(zeroCombine), (err: unknown) =>
    err instanceof UnspecifiedEnumError && err.field === 'normal.blocks[4].combine');

  const unknownCombine = genotypeToProto(NASNET_A);
  unknownCombine.normal!.blocks[1]!.combine = Combine.UNRECOGNIZED; // what fromJSON makes of unknown names
  assert.throws(() => genotypeFromProto(unknownCombine), (err: unknown) =>
    err instanceof UnknownEnumError && err.message === 'normal.blocks[1].combine: unknown combine enum -1');

  // A genotype decoded from bytes that only carry the normal cell.
  const noReduction = Genotype.decode(Genotype.encode({ ...genotypeToProto(NASNET_A), reduction: undefined }).finish());
  assert.throws(() => genotypeFromProto(noReduction), (err: unknown) =>
    err instanceof MissingFieldError && err.message === 'reduction: missing cell');
});

test('genotypeToProto - an operation name outside the search space names the field', () => {
  const bad = {
    normal: NASNET_A.normal,
    reduction: {
      ...NASNET_A.reduction,
      blocks: NASNET_A.reduction.blocks.map((b, i) => (i === 2 ? { ...b, ops: [b.ops[0], 'sep_conv9x9'] } : b)),
    },
  } as unknown as DomainGenotype;
  assert.throws(() => genotypeToProto(bad), (err: unknown) =>
    err instanceof UnknownNameError && err.message === 'reduction.blocks[2].ops[1]: unknown operation name "sep_conv9x9"');
});

test('SearchEvent - oneof cases survive encode/decode as { $case, value }', () => {
  const result = ChildResult.fromPartial({
    searchId: 's1',
    childId: 'c7',
    reward: 0.91,
    status: ChildStatus.CHILD_STATUS_EARLY_STOPPED,
    paramCount: 3_300_000,
    multAdds: 564_000_000,
  });
  const events: SearchEvent[] = [
    SearchEvent.fromPartial({ searchId: 's1', sequence: 1, timeMs: 1_790_000_000_000, event: { $case: 'childFinished', value: { result, cached: true } } }),
    SearchEvent.fromPartial({ searchId: 's1', sequence: 2, event: { $case: 'log', value: { level: LogLevel.LOG_LEVEL_WARN, message: 'slow' } } }),
    SearchEvent.fromPartial({ searchId: 's1', sequence: 3 }),
  ];
  for (const event of events) assert.deepEqual(SearchEvent.decode(SearchEvent.encode(event).finish()), event);
  const decoded = SearchEvent.decode(SearchEvent.encode(events[0]!).finish());
  assert.equal(decoded.event?.$case, 'childFinished');
  if (decoded.event?.$case === 'childFinished') assert.equal(decoded.event.value.result?.multAdds, 564_000_000);
  assert.equal(SearchEvent.decode(SearchEvent.encode(events[2]!).finish()).event, undefined);
});

test('TransferSpec - source and size oneofs, scalar and message cases', () => {
  const bySearch = TransferSpec.fromPartial({
    source: { $case: 'searchId', value: 's1' },
    layout: Layout.LAYOUT_IMAGENET,
    size: { $case: 'budgetMultAdds', value: 600_000_000 },
    recipe: { cutout: true, cutoutSize: 16 },
  });
  const byGenotype = TransferSpec.fromPartial({
    source: { $case: 'genotype', value: genotypeToProto(NASNET_A) },
    size: { $case: 'fixed', value: { cells: 6, filters: 32 } },
  });
  for (const spec of [bySearch, byGenotype]) assert.deepEqual(TransferSpec.decode(TransferSpec.encode(spec).finish()), spec);
  const back = TransferSpec.decode(TransferSpec.encode(byGenotype).finish());
  assert.ok(back.source?.$case === 'genotype');
  assert.deepEqual(genotypeFromProto(back.source.value), NASNET_A);
});
