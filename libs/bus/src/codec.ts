import * as pb from '@nasnet/proto';
import { genotypeFromProto, genotypeToProto, ProtoConversionError } from '@nasnet/proto';
import type { ChildProgress, ChildRecipe, ChildResult, ChildStatus, ChildTask } from '@nasnet/search';
import { formatGenotype, GenotypeValidationError, MAX_NUM_BLOCKS, validateGenotype, type Genotype } from '@nasnet/search-space';
import { BusDecodeError, BusEncodeError } from './errors.js';
import { HEADER_GENERATION, type BusEvent } from './types.js';

/**
 * Domain <-> wire. ChildTask, ChildResult and ChildProgress travel as their
 * nas.v1 protobuf messages, mapped field by field; BusEvent travels as JSON
 * (see types.ts for why). Every decoder treats its bytes as untrusted and
 * throws one BusDecodeError naming the subject and the field.
 *
 * ChildRecipe.trainLimit, maxStepsPerEpoch and validationLimit map to
 * train_size, max_steps and validation_size, as the controller's
 * SubmitSearch mapping does. Tasks queued by an earlier build carried
 * trainLimit in a `Nas-Train-Limit` header; it is still read when the field
 * is absent.
 */

/** Header carrying ChildRecipe.trainLimit (absent = 0 = all training images). */
export const HEADER_TRAIN_LIMIT = 'Nas-Train-Limit';

/** A message body plus the headers it needs. */
export interface WireMessage {
  data: Uint8Array;
  headers: Record<string, string>;
}

/** Reads one header of a received message ('' or undefined when absent). */
export type HeaderReader = (name: string) => string | undefined;

const STATUS_TO_PROTO: Readonly<Record<ChildStatus, pb.ChildStatus>> = {
  ok: pb.ChildStatus.CHILD_STATUS_OK,
  failed: pb.ChildStatus.CHILD_STATUS_FAILED,
  diverged: pb.ChildStatus.CHILD_STATUS_DIVERGED,
  cancelled: pb.ChildStatus.CHILD_STATUS_CANCELLED,
  early_stopped: pb.ChildStatus.CHILD_STATUS_EARLY_STOPPED,
};
const STATUS_FROM_PROTO = new Map<number, ChildStatus>(
  Object.entries(STATUS_TO_PROTO).map(([k, v]) => [v, k as ChildStatus]),
);

// ---------------------------------------------------------------- encoding

function uint32(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new BusEncodeError(field, `expected an integer in [0, 2^32 - 1], got ${value}`);
  return value;
}

function uint53(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new BusEncodeError(field, `expected a non-negative safe integer, got ${value}`);
  return value;
}

function genotypeOut(g: Genotype, hash: string, field: string): pb.Genotype {
  try {
    return genotypeToProto(g, { hash, text: formatGenotype(g) });
  } catch (err) {
    const inner = err instanceof ProtoConversionError ? err.field : '';
    throw new BusEncodeError(inner ? `${field}.${inner}` : field, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function recipeToProto(r: ChildRecipe, numBlocks: number): pb.ChildTrainingRecipe {
  return {
    epochs: uint32(r.epochs, 'recipe.epochs'),
    batchSize: uint32(r.batchSize, 'recipe.batchSize'),
    initialFilters: uint32(r.initialFilters, 'recipe.initialFilters'),
    cellsPerStack: uint32(r.cells, 'recipe.cells'),
    learningRate: r.learningRate,
    momentum: r.momentum,
    weightDecay: r.weightDecay,
    // The search recipe always decays with a cosine (paper, section 4).
    cosineSchedule: true,
    dropPathKeepProb: r.dropPathKeepProb,
    auxHead: r.auxHead,
    gradClipNorm: r.gradientClipNorm,
    maxSteps: uint53(r.maxStepsPerEpoch, 'recipe.maxStepsPerEpoch'),
    validationSize: uint32(r.validationLimit, 'recipe.validationLimit'),
    trainSize: uint32(r.trainLimit, 'recipe.trainLimit'),
    numBlocks: uint32(numBlocks, 'genotype.normal.blocks.length'),
    checkpointCells: r.checkpointCells,
  };
}

/** ChildTask -> nas.v1.ChildTask bytes (attempt 1, no deadline). */
export function encodeChildTask(task: ChildTask): WireMessage {
  const msg: pb.ChildTask = {
    searchId: task.searchId,
    childId: String(uint53(task.childId, 'childId')),
    genotype: genotypeOut(task.genotype, task.hash, 'genotype'),
    recipe: recipeToProto(task.recipe, task.genotype.normal.blocks.length),
    dataset: task.dataset,
    seed: uint32(task.seed, 'seed'),
    attempt: 1,
    deadlineMs: 0,
    genotypeHash: task.hash,
    phase: task.phase,
    earlyStop: task.earlyStop
      ? { minEpochs: uint32(task.earlyStop.minEpochs, 'earlyStop.minEpochs'), medianByEpoch: [...task.earlyStop.medianByEpoch] }
      : undefined,
    exportDir: task.exportDir ?? '',
    maxSeconds: uint32(task.maxSeconds ?? 0, 'maxSeconds'),
  };
  return { data: pb.ChildTask.encode(msg).finish(), headers: {} };
}

/** Where a result came from, for the fields the domain result does not hold. */
export interface ResultContext {
  searchId: string;
  /** Canonical genotype hash of the child. @default '' */
  genotypeHash?: string;
}

/** ChildResult -> nas.v1.ChildResult bytes. validation_accuracy is the last epoch's, epochs_done the curve's length. */
export function encodeChildResult(result: ChildResult, context: ResultContext): Uint8Array {
  const msg: pb.ChildResult = {
    searchId: context.searchId,
    childId: String(uint53(result.childId, 'childId')),
    genotypeHash: context.genotypeHash ?? '',
    reward: result.reward,
    validationAccuracy: result.validationByEpoch.at(-1) ?? 0,
    status: STATUS_TO_PROTO[result.status] ?? fail(new BusEncodeError('status', `unknown child status ${JSON.stringify(result.status)}`)),
    reason: result.reason ?? '',
    epochsDone: result.validationByEpoch.length,
    trainSeconds: result.trainSeconds,
    paramCount: uint53(result.paramCount, 'paramCount'),
    multAdds: uint53(result.multAdds, 'multAdds'),
    trainerId: result.trainer ?? '',
    attempts: uint32(result.attempts ?? 0, 'attempts'),
    validationByEpoch: [...result.validationByEpoch],
  };
  return pb.ChildResult.encode(msg).finish();
}

/** ChildProgress -> nas.v1.ChildProgress bytes (accuracy = training accuracy; the validation accuracy has its own field). */
export function encodeChildProgress(progress: ChildProgress, context: { searchId: string; trainer?: string }): Uint8Array {
  const msg: pb.ChildProgress = {
    searchId: context.searchId,
    childId: String(uint53(progress.childId, 'childId')),
    epoch: uint32(progress.epoch, 'epoch'),
    step: uint53(progress.step, 'step'),
    loss: progress.loss,
    accuracy: progress.trainAccuracy,
    imagesPerSec: progress.imagesPerSec,
    isValidation: progress.validationAccuracy !== undefined,
    trainerId: context.trainer ?? '',
    epochs: uint32(progress.epochs, 'epochs'),
    stepsPerEpoch: uint53(progress.stepsPerEpoch, 'stepsPerEpoch'),
    validationAccuracy: progress.validationAccuracy ?? 0,
  };
  return pb.ChildProgress.encode(msg).finish();
}

const encoder = new TextEncoder();

/** BusEvent -> UTF-8 JSON. */
export function encodeBusEvent(event: BusEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

function fail(err: Error): never {
  throw err;
}

// ---------------------------------------------------------------- decoding

function protoDecode<T>(codec: { decode(b: Uint8Array): T }, data: Uint8Array, subject: string, name: string): T {
  try {
    return codec.decode(data);
  } catch (err) {
    throw new BusDecodeError(subject, '(message)', `not a nas.v1.${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function childIdFrom(text: string, subject: string, field = 'child_id'): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new BusDecodeError(subject, field, `expected a non-negative integer, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Number(text);
}

function nonEmpty(value: string, subject: string, field: string): string {
  if (value.length === 0) throw new BusDecodeError(subject, field, 'must not be empty');
  return value;
}

function finite(value: number, subject: string, field: string): number {
  if (!Number.isFinite(value)) throw new BusDecodeError(subject, field, `must be a finite number, got ${value}`);
  return value;
}

function required<T>(value: T | undefined, subject: string, field: string): T {
  if (value === undefined || value === null) throw new BusDecodeError(subject, field, 'is required');
  return value;
}

function positiveInt(value: number | undefined, subject: string, field: string): number {
  const v = required(value, subject, field);
  if (!Number.isInteger(v) || v < 1) throw new BusDecodeError(subject, field, `must be a positive integer, got ${v}`);
  return v;
}

function expectSubject(subject: string, expected: string, field: string, actual: string): void {
  if (subject !== expected) throw new BusDecodeError(subject, field, `${JSON.stringify(actual)} does not belong on this subject (expected '${expected}')`);
}

function genotypeIn(p: pb.Genotype | undefined, numBlocks: number | undefined, subject: string): Genotype {
  const wire = required(p, subject, 'genotype');
  // validateGenotype throws a plain RangeError for an impossible block count: name the field here instead.
  if (numBlocks !== undefined && (!Number.isInteger(numBlocks) || numBlocks < 1 || numBlocks > MAX_NUM_BLOCKS)) {
    throw new BusDecodeError(subject, 'recipe.num_blocks', `must be an integer in 1..${MAX_NUM_BLOCKS}, got ${numBlocks}`);
  }
  let g: Genotype;
  try {
    g = genotypeFromProto(wire);
  } catch (err) {
    const field = err instanceof ProtoConversionError ? `genotype.${err.field}` : 'genotype';
    throw new BusDecodeError(subject, field, err instanceof Error ? err.message : String(err), { cause: err });
  }
  try {
    validateGenotype(g, { numBlocks: numBlocks ?? g.normal.blocks.length });
  } catch (err) {
    if (err instanceof GenotypeValidationError) throw new BusDecodeError(subject, err.path ? `genotype.${err.path}` : 'genotype', err.reason, { cause: err });
    // Anything else the validator throws on bytes from the bus is still a bad message, never a crash.
    throw new BusDecodeError(subject, 'genotype', err instanceof Error ? err.message : String(err), { cause: err });
  }
  return g;
}

function recipeIn(r: pb.ChildTrainingRecipe | undefined, subject: string, trainLimitHeader: string | undefined): ChildRecipe {
  const recipe = required(r, subject, 'recipe');
  let trainLimit = recipe.trainSize ?? 0;
  if (recipe.trainSize === undefined && trainLimitHeader) {
    if (!/^[0-9]{1,15}$/.test(trainLimitHeader)) throw new BusDecodeError(subject, `header ${HEADER_TRAIN_LIMIT}`, `expected a non-negative integer, got ${JSON.stringify(trainLimitHeader.slice(0, 40))}`);
    trainLimit = Number(trainLimitHeader);
  }
  const unit = (v: number | undefined, field: string) => {
    const x = finite(required(v, subject, field), subject, field);
    if (x < 0 || x > 1) throw new BusDecodeError(subject, field, `must be in [0, 1], got ${x}`);
    return x;
  };
  const nonNegative = (v: number | undefined, field: string) => {
    const x = finite(required(v, subject, field), subject, field);
    if (x < 0) throw new BusDecodeError(subject, field, `must not be negative, got ${x}`);
    return x;
  };
  return {
    epochs: positiveInt(recipe.epochs, subject, 'recipe.epochs'),
    batchSize: positiveInt(recipe.batchSize, subject, 'recipe.batch_size'),
    initialFilters: positiveInt(recipe.initialFilters, subject, 'recipe.initial_filters'),
    cells: positiveInt(recipe.cellsPerStack, subject, 'recipe.cells_per_stack'),
    learningRate: nonNegative(recipe.learningRate, 'recipe.learning_rate'),
    momentum: unit(recipe.momentum, 'recipe.momentum'),
    weightDecay: nonNegative(recipe.weightDecay, 'recipe.weight_decay'),
    dropPathKeepProb: unit(recipe.dropPathKeepProb, 'recipe.drop_path_keep_prob'),
    auxHead: required(recipe.auxHead, subject, 'recipe.aux_head'),
    gradientClipNorm: nonNegative(recipe.gradClipNorm, 'recipe.grad_clip_norm'),
    maxStepsPerEpoch: recipe.maxSteps ?? 0,
    trainLimit,
    validationLimit: recipe.validationSize ?? 0,
    // Unset (a task queued by a build before the field) = off, the default.
    checkpointCells: recipe.checkpointCells ?? false,
  };
}

/** Where a task came from: the subject names the search, the header carries trainLimit. */
export interface TaskSource {
  subject: string;
  header?: HeaderReader;
}

/** nas.v1.ChildTask bytes from `nas.tasks.<searchId>` -> ChildTask, genotype validated. */
export function decodeChildTask(data: Uint8Array, source: TaskSource): ChildTask {
  const { subject } = source;
  const m = protoDecode(pb.ChildTask, data, subject, 'ChildTask');
  const searchId = nonEmpty(m.searchId, subject, 'search_id');
  expectSubject(subject, `nas.tasks.${searchId}`, 'search_id', searchId);
  const childId = childIdFrom(m.childId, subject);
  const recipe = recipeIn(m.recipe, subject, source.header?.(HEADER_TRAIN_LIMIT));
  const genotype = genotypeIn(m.genotype, m.recipe?.numBlocks, subject);
  const hash = nonEmpty(m.genotypeHash || m.genotype?.hash || '', subject, 'genotype_hash');
  if (m.phase !== 'search' && m.phase !== 'final') throw new BusDecodeError(subject, 'phase', `expected "search" or "final", got ${JSON.stringify(m.phase.slice(0, 40))}`);
  const task: ChildTask = {
    searchId, childId, genotype, hash, recipe,
    dataset: nonEmpty(m.dataset, subject, 'dataset'),
    seed: m.seed,
    phase: m.phase,
  };
  if (m.earlyStop) {
    const minEpochs = positiveInt(m.earlyStop.minEpochs, subject, 'early_stop.min_epochs');
    const medianByEpoch = m.earlyStop.medianByEpoch.map((v, i) => finite(v, subject, `early_stop.median_by_epoch[${i}]`));
    task.earlyStop = { minEpochs, medianByEpoch };
  }
  if (m.exportDir) task.exportDir = m.exportDir;
  if (m.maxSeconds > 0) task.maxSeconds = m.maxSeconds;
  return task;
}

/**
 * The generation of a task message (header Nas-Generation, see resultSubject):
 * 0 when absent (a task of a build before generations), else a positive integer.
 */
export function decodeTaskGeneration(subject: string, header: HeaderReader | undefined): number {
  const value = header?.(HEADER_GENERATION);
  if (value === undefined || value === '') return 0;
  if (!GENERATION.test(value)) throw new BusDecodeError(subject, `header ${HEADER_GENERATION}`, `expected a positive integer, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

/** A decoded result with the fields the domain ChildResult does not hold. */
export interface DecodedResult {
  searchId: string;
  genotypeHash: string;
  /** The generation the subject names (0: a subject without one, see resultSubject). */
  generation: number;
  result: ChildResult;
}

/** A generation token of a results subject: a positive integer without leading zeros. */
const GENERATION = /^[1-9][0-9]{0,8}$/;

/**
 * nas.v1.ChildResult bytes from `nas.results.<searchId>.<childId>.<generation>`
 * (or, from builds before generations, `nas.results.<searchId>.<childId>`) -> ChildResult.
 */
export function decodeChildResult(data: Uint8Array, subject: string): DecodedResult {
  const m = protoDecode(pb.ChildResult, data, subject, 'ChildResult');
  const searchId = nonEmpty(m.searchId, subject, 'search_id');
  const childId = childIdFrom(m.childId, subject);
  const base = `nas.results.${searchId}.${childId}`;
  let generation = 0;
  if (subject.startsWith(`${base}.`) && GENERATION.test(subject.slice(base.length + 1))) generation = Number(subject.slice(base.length + 1));
  else expectSubject(subject, base, 'search_id/child_id', `${searchId}.${childId}`);
  const status = STATUS_FROM_PROTO.get(m.status);
  if (status === undefined) {
    throw new BusDecodeError(subject, 'status', m.status === pb.ChildStatus.CHILD_STATUS_UNSPECIFIED ? 'is unspecified (CHILD_STATUS_UNSPECIFIED = 0)' : `unknown child status enum ${m.status}`);
  }
  if (m.epochsDone !== m.validationByEpoch.length) {
    throw new BusDecodeError(subject, 'epochs_done', `is ${m.epochsDone} but validation_by_epoch holds ${m.validationByEpoch.length} values`);
  }
  const result: ChildResult = {
    childId,
    status,
    reward: finite(m.reward, subject, 'reward'),
    validationByEpoch: m.validationByEpoch.map((v, i) => finite(v, subject, `validation_by_epoch[${i}]`)),
    trainSeconds: finite(m.trainSeconds, subject, 'train_seconds'),
    paramCount: m.paramCount,
    multAdds: m.multAdds,
  };
  if (m.reason) result.reason = m.reason;
  if (m.trainerId) result.trainer = m.trainerId;
  if (m.attempts) result.attempts = m.attempts;
  return { searchId, genotypeHash: m.genotypeHash, generation, result };
}

/** nas.v1.ChildProgress bytes -> ChildProgress plus the search and trainer it names. */
export function decodeChildProgress(data: Uint8Array, subject: string): { searchId: string; trainer: string; progress: ChildProgress } {
  const m = protoDecode(pb.ChildProgress, data, subject, 'ChildProgress');
  const progress: ChildProgress = {
    childId: childIdFrom(m.childId, subject),
    epoch: m.epoch,
    epochs: m.epochs,
    step: m.step,
    stepsPerEpoch: m.stepsPerEpoch,
    loss: m.loss,
    trainAccuracy: m.accuracy,
    imagesPerSec: m.imagesPerSec,
  };
  if (m.isValidation) progress.validationAccuracy = m.validationAccuracy;
  return { searchId: nonEmpty(m.searchId, subject, 'search_id'), trainer: m.trainerId, progress };
}

// ---------------------------------------------------------------- BusEvent (JSON)

/** 'loss' is a number or null: JSON writes the NaN loss of a diverging child as null; it decodes back to NaN. */
type Check = 'string' | 'number' | 'boolean' | 'object' | 'int' | 'loss';

/** Required fields of each BusEvent kind (optional ones are checked where read). */
const EVENT_FIELDS: Record<BusEvent['kind'], Record<string, Check>> = {
  search: { searchId: 'string', sequence: 'int', timeMs: 'number', event: 'object' },
  search_state: { searchId: 'string', timeMs: 'number', state: 'string' },
  child_progress: { searchId: 'string', timeMs: 'number', trainer: 'string', progress: 'object' },
  child_attempt: { searchId: 'string', timeMs: 'number', trainer: 'string', childId: 'int', attempt: 'int', redelivered: 'boolean' },
  trainer_heartbeat: { timeMs: 'number', trainer: 'string', busy: 'boolean' },
  queue: { timeMs: 'number', pending: 'int', inFlight: 'int' },
};

/** Required fields of each SearchEvent type. */
const SEARCH_EVENT_FIELDS: Record<string, Record<string, Check>> = {
  child_queued: { childId: 'int', phase: 'string', hash: 'string', genotype: 'string' },
  child_progress: { progress: 'object' },
  child_finished: { childId: 'int', phase: 'string', result: 'object', cached: 'boolean' },
  policy_updated: { update: 'object' },
  best_improved: { childId: 'int', reward: 'number', hash: 'string', genotype: 'string' },
  phase: { phase: 'string' },
  finished: { outcome: 'string' },
};

const PROGRESS_FIELDS: Record<string, Check> = {
  childId: 'int', epoch: 'int', epochs: 'int', step: 'int', stepsPerEpoch: 'int', loss: 'loss', trainAccuracy: 'number', imagesPerSec: 'number',
};

const SEARCH_STATES = new Set(['pending', 'running', 'succeeded', 'failed', 'cancelled']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkFields(obj: Record<string, unknown>, fields: Record<string, Check>, subject: string, prefix: string): void {
  for (const [name, check] of Object.entries(fields)) {
    const v = obj[name];
    const ok = check === 'object' ? isRecord(v)
      : check === 'int' ? Number.isSafeInteger(v)
        : check === 'number' ? typeof v === 'number' && Number.isFinite(v)
          : check === 'loss' ? v === null || typeof v === 'number'
            : typeof v === check;
    if (!ok) {
      const want = check === 'int' ? 'an integer' : check === 'loss' ? 'a number or null' : check === 'number' ? 'a finite number' : `a ${check}`;
      throw new BusDecodeError(subject, `${prefix}${name}`, `expected ${want}, got ${v === undefined ? 'nothing' : JSON.stringify(v)?.slice(0, 40)}`);
    }
    if (check === 'loss' && v === null) obj[name] = Number.NaN;
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 JSON from `nas.events.<searchId|system>` -> BusEvent. Checks the
 * kind, every required field's type, and that the event's search is the
 * subject's; a SearchEvent inside is checked the same way.
 */
export function decodeBusEvent(data: Uint8Array, subject: string): BusEvent {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new BusDecodeError(subject, '(message)', `not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!isRecord(value)) throw new BusDecodeError(subject, '(message)', 'expected a JSON object');
  const kind = value['kind'];
  if (typeof kind !== 'string' || !Object.hasOwn(EVENT_FIELDS, kind)) {
    throw new BusDecodeError(subject, 'kind', `unknown event kind ${JSON.stringify(kind)?.slice(0, 40) ?? 'undefined'}`);
  }
  checkFields(value, EVENT_FIELDS[kind as BusEvent['kind']], subject, '');
  const searchId = typeof value['searchId'] === 'string' ? value['searchId'] : 'system';
  expectSubject(subject, `nas.events.${searchId}`, 'searchId', searchId);
  if (kind === 'search_state' && !SEARCH_STATES.has(value['state'] as string)) {
    throw new BusDecodeError(subject, 'state', `unknown search state ${JSON.stringify(value['state'])}`);
  }
  if (kind === 'child_progress') checkFields(value['progress'] as Record<string, unknown>, PROGRESS_FIELDS, subject, 'progress.');
  if (kind === 'search') {
    const ev = value['event'] as Record<string, unknown>;
    const type = ev['type'];
    if (typeof type !== 'string' || !Object.hasOwn(SEARCH_EVENT_FIELDS, type)) {
      throw new BusDecodeError(subject, 'event.type', `unknown search event type ${JSON.stringify(type)?.slice(0, 40) ?? 'undefined'}`);
    }
    checkFields(ev, SEARCH_EVENT_FIELDS[type]!, subject, 'event.');
    if (type === 'child_progress') checkFields(ev['progress'] as Record<string, unknown>, PROGRESS_FIELDS, subject, 'event.progress.');
  }
  return value as BusEvent;
}
