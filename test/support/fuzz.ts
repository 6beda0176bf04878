/**
 * Seeded bad bus messages for the fuzz test: mutations of valid encoded
 * ChildTask, ChildResult and BusEvent bytes, random bytes, and valid
 * messages of one kind on another kind's subject. Every message kept is one
 * the bus decoders reject on the subject it goes to (a mutation that still
 * decodes is a valid message, not a bad one, and is drawn again), and the
 * corpus records the exact reason the decoder gives, so the test can match
 * every dead letter to the message it stands for.
 */
import {
  BusDecodeError, decodeBusEvent, decodeChildResult, decodeChildTask, encodeBusEvent, encodeChildResult, encodeChildTask,
  HEADER_TRAIN_LIMIT, type BusEvent,
} from '@nasnet/bus';
import * as pb from '@nasnet/proto';
import { Rng } from '@nasnet/random';
import { defaultRecipe, type ChildResult, type ChildTask } from '@nasnet/search';
import { genotypeHash, NASNET_A } from '@nasnet/search-space';

export type Family = 'tasks' | 'results' | 'events';

export interface BadMessage {
  family: Family;
  subject: string;
  data: Uint8Array;
  headers?: Record<string, string>;
  /** What the decoder of `family` says about it on `subject`: the reason a dead letter must carry. */
  reason: string;
  /** How it was made, for failure messages. */
  how: string;
}

/** A decoder threw something other than BusDecodeError: a bug the fuzz found (a trainer would crash on it). */
export class FuzzEscapeError extends Error {
  constructor(readonly message_: BadMessage, cause: unknown) {
    super(`the ${message_.family} decoder threw ${(cause as Error)?.name ?? typeof cause} instead of BusDecodeError on a message made by ${message_.how}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'FuzzEscapeError';
  }
}

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';

function token(rng: Rng, max = 12): string {
  let s = '';
  for (let i = 0, n = 1 + rng.int(max); i < n; i++) s += TOKEN_CHARS[rng.int(TOKEN_CHARS.length)];
  return s;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

/** One random structural change to `src` (never returns `src` itself). */
function mutate(rng: Rng, src: Uint8Array): { data: Uint8Array; how: string } {
  const b = Uint8Array.from(src);
  switch (rng.int(7)) {
    case 0: { // flip 1..8 bits
      const n = 1 + rng.int(8);
      for (let i = 0; i < n && b.length; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return { data: b, how: `${n} bit flip(s)` };
    }
    case 1: { // truncate
      const at = rng.int(Math.max(1, b.length));
      return { data: b.subarray(0, at), how: `truncated to ${at} bytes` };
    }
    case 2: { // overwrite bytes with 0x00 / 0xff / random
      const n = 1 + rng.int(6);
      for (let i = 0; i < n && b.length; i++) b[rng.int(b.length)] = rng.pick([0, 0xff, rng.int(256)]);
      return { data: b, how: `${n} byte(s) overwritten` };
    }
    case 3: { // insert random bytes
      const at = rng.int(b.length + 1);
      const ins = randomBytes(rng, 1 + rng.int(16));
      return { data: concat(b.subarray(0, at), ins, b.subarray(at)), how: `${ins.length} random byte(s) inserted at ${at}` };
    }
    case 4: { // duplicate a slice
      const from = rng.int(Math.max(1, b.length));
      const len = 1 + rng.int(Math.max(1, b.length - from));
      return { data: concat(b, b.subarray(from, from + len)), how: `slice ${from}+${len} appended` };
    }
    case 5: { // delete a slice
      const from = rng.int(Math.max(1, b.length));
      const len = 1 + rng.int(Math.max(1, Math.min(32, b.length - from)));
      return { data: concat(b.subarray(0, from), b.subarray(from + len)), how: `${len} byte(s) deleted at ${from}` };
    }
    default: { // swap two halves
      const at = rng.int(Math.max(1, b.length));
      return { data: concat(b.subarray(at), b.subarray(0, at)), how: `rotated by ${at}` };
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Field-level mutations of a decoded nas.v1 message, re-encoded: reaches the checks behind the protobuf layer. */
function mutateTaskFields(rng: Rng, bytes: Uint8Array): { data: Uint8Array; how: string } {
  const m = pb.ChildTask.decode(bytes);
  const r = m.recipe!;
  const g = m.genotype!;
  const cell = rng.next() < 0.5 ? g.normal! : g.reduction!;
  const block = rng.pick(cell.blocks);
  const bad = rng.pick<number>([5, 6, 7, 99, 2 ** 31, 2 ** 32 - 1]);
  const edits: Array<[string, () => void]> = [
    ['recipe.epochs', () => { r.epochs = 0; }],
    ['recipe.momentum', () => { r.momentum = rng.pick([1.5, -0.1, Number.NaN]); }],
    ['recipe.learning_rate', () => { r.learningRate = rng.pick([-1, Number.NaN, -Infinity]); }],
    ['recipe.num_blocks', () => { r.numBlocks = rng.pick([0, 3, 11, 1000]); }],
    ['recipe', () => { delete m.recipe; }],
    ['genotype', () => { delete m.genotype; }],
    ['block.input1', () => { block.input1 = bad; }],
    ['block.input2', () => { block.input2 = rng.pick([7, 12, 2 ** 20]); }],
    ['block.op1', () => { block.op1 = rng.pick([0, 14, 99, -1]) as pb.Operation; }],
    ['block.combine', () => { block.combine = rng.pick([0, 3, 77]) as pb.Combine; }],
    ['cell.blocks', () => { cell.blocks = cell.blocks.slice(0, rng.int(cell.blocks.length)); }],
    ['cell.concat', () => { cell.concat = rng.pick([[], [99], [0, 0, 0], [2 ** 32 - 1]]); }],
    ['child_id', () => { m.childId = rng.pick(['', '-1', '1.5', '007', 'x', '99999999999999999999']); }],
    ['phase', () => { m.phase = rng.pick(['', 'final ', 'search\n', 'SEARCH']); }],
    ['dataset', () => { m.dataset = ''; }],
    ['genotype_hash', () => { m.genotypeHash = ''; if (m.genotype) m.genotype.hash = ''; }],
    ['early_stop', () => { m.earlyStop = { minEpochs: 0, medianByEpoch: [Number.NaN] }; }],
    ['search_id', () => { m.searchId = rng.pick(['', 'other', 'fuzz.more']); }],
  ];
  const [field, edit] = rng.pick(edits);
  edit();
  return { data: pb.ChildTask.encode(m).finish(), how: `task field ${field} set out of range` };
}

function mutateResultFields(rng: Rng, bytes: Uint8Array): { data: Uint8Array; how: string } {
  const m = pb.ChildResult.decode(bytes);
  const edits: Array<[string, () => void]> = [
    ['status', () => { m.status = rng.pick([0, 9, 200]) as pb.ChildStatus; }],
    ['reward', () => { m.reward = rng.pick([Number.NaN, Infinity, -Infinity]); }],
    ['epochs_done', () => { m.epochsDone = m.validationByEpoch.length + 1 + rng.int(5); }],
    ['validation_by_epoch', () => { m.validationByEpoch = [0.5, Number.NaN]; m.epochsDone = 2; }],
    ['train_seconds', () => { m.trainSeconds = Number.NaN; }],
    ['child_id', () => { m.childId = rng.pick(['', '-2', 'abc', '3 ', '1e3']); }],
    ['search_id', () => { m.searchId = rng.pick(['', 'another-search']); }],
  ];
  const [field, edit] = rng.pick(edits);
  edit();
  return { data: pb.ChildResult.encode(m).finish(), how: `result field ${field} set out of range` };
}

/** JSON-level mutations of an event: a field of the wrong type, a field deleted, an unknown kind, a wrong search. */
function mutateEventJson(rng: Rng, event: BusEvent): { data: Uint8Array; how: string } {
  const obj = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
  const keys = Object.keys(obj);
  const key = rng.pick(keys);
  const enc = new TextEncoder();
  switch (rng.int(5)) {
    case 0: delete obj[key]; return { data: enc.encode(JSON.stringify(obj)), how: `event field ${key} deleted` };
    case 1: obj[key] = rng.pick<unknown>(['x', -1.5, null, true, [], {}, 1e308 * 10]); return { data: enc.encode(JSON.stringify(obj)), how: `event field ${key} retyped` };
    case 2: obj['kind'] = token(rng); return { data: enc.encode(JSON.stringify(obj)), how: 'unknown event kind' };
    case 3: return { data: enc.encode(rng.pick(['[]', 'null', '42', '"event"', '{', '{"kind":', ''])), how: 'not an event object' };
    default: {
      const bytes = enc.encode(JSON.stringify(obj));
      bytes[rng.int(bytes.length)] = 0xc0 + rng.int(2); // an invalid UTF-8 lead byte
      return { data: bytes, how: 'invalid UTF-8' };
    }
  }
}

/** Valid messages the mutations start from. */
function seeds(liveSearchId: string): { task: ChildTask; result: ChildResult; events: BusEvent[] } {
  const task: ChildTask = {
    searchId: 'fuzz', childId: 7, genotype: NASNET_A, hash: genotypeHash(NASNET_A), dataset: 'synthetic', seed: 5, phase: 'search',
    recipe: { ...defaultRecipe(), epochs: 1, batchSize: 8, initialFilters: 4, cells: 1, maxStepsPerEpoch: 2, trainLimit: 16, validationLimit: 16 },
    earlyStop: { minEpochs: 1, medianByEpoch: [0.5, 0.6] },
  };
  const result: ChildResult = {
    childId: 3, status: 'ok', reward: 0.5, validationByEpoch: [0.4, 0.5], trainSeconds: 1.5, paramCount: 1000, multAdds: 20000, trainer: 'fuzzer', attempts: 1,
  };
  const t = 1_700_000_000_000;
  const events: BusEvent[] = [
    { kind: 'child_attempt', searchId: liveSearchId, timeMs: t, trainer: 'fuzzer', childId: 1, attempt: 2, redelivered: true },
    { kind: 'child_progress', searchId: liveSearchId, timeMs: t, trainer: 'fuzzer', progress: { childId: 1, epoch: 1, epochs: 2, step: 3, stepsPerEpoch: 4, loss: 2.3, trainAccuracy: 0.1, imagesPerSec: 100 } },
    { kind: 'search_state', searchId: liveSearchId, timeMs: t, state: 'running', trainers: 1 },
    { kind: 'search', searchId: liveSearchId, sequence: 1, timeMs: t, event: { type: 'best_improved', childId: 1, reward: 0.9, hash: 'h', genotype: 'g' } },
    { kind: 'trainer_heartbeat', timeMs: t, trainer: 'fuzzer', busy: true },
    { kind: 'queue', timeMs: t, pending: 1, inFlight: 2 },
  ];
  return { task, result, events };
}

/** The reason the decoder of `family` gives for `data` on `subject`, or undefined when it decodes. */
function verdict(m: Omit<BadMessage, 'reason'>): string | undefined {
  try {
    if (m.family === 'tasks') decodeChildTask(m.data, { subject: m.subject, header: (name) => m.headers?.[name] });
    else if (m.family === 'results') decodeChildResult(m.data, m.subject);
    else decodeBusEvent(m.data, m.subject);
    return undefined;
  } catch (err) {
    if (!(err instanceof BusDecodeError)) throw new FuzzEscapeError({ ...m, reason: '' }, err);
    return err.message;
  }
}

export interface CorpusOptions {
  seed: number;
  tasks: number;
  results: number;
  events: number;
  /** Bad results go to this search's subjects (one a controller follows). */
  liveSearchId: string;
}

/** The bad messages, in a seeded random order across the three families. */
export function badMessageCorpus(o: CorpusOptions): { messages: BadMessage[]; drawn: number } {
  const rng = new Rng(o.seed);
  const s = seeds(o.liveSearchId);
  const taskBytes = encodeChildTask(s.task).data;
  const resultBytes = encodeChildResult(s.result, { searchId: o.liveSearchId, genotypeHash: 'h' });
  const eventBytes = s.events.map((e) => encodeBusEvent(e));
  const valid: Record<Family, () => Uint8Array> = {
    tasks: () => taskBytes, results: () => resultBytes, events: () => rng.pick(eventBytes),
  };
  const subjectFor = (family: Family, unique: number): string => {
    if (family === 'tasks') return rng.next() < 0.8 ? 'nas.tasks.fuzz' : `nas.tasks.${token(rng)}${rng.next() < 0.2 ? `.${token(rng)}` : ''}`;
    if (family === 'results') {
      // NAS_RESULTS keeps one message per subject: a second bad result on a subject would drop the first
      // from the stream before anyone read it. So each gets a subject of its own (a child id the search
      // never reaches, sometimes not a number, sometimes with a token too many).
      const child = rng.next() < 0.85 ? String(1000 + unique) : `c${unique}`;
      return `nas.results.${o.liveSearchId}.${child}${rng.next() < 0.1 ? `.${token(rng)}` : ''}`;
    }
    return rng.pick([`nas.events.${o.liveSearchId}`, 'nas.events.system', `nas.events.${token(rng)}`]);
  };
  const out: BadMessage[] = [];
  let drawn = 0;
  const want: Record<Family, number> = { tasks: o.tasks, results: o.results, events: o.events };
  for (const family of ['tasks', 'results', 'events'] as const) {
    let made = 0;
    while (made < want[family]) {
      drawn++;
      const subject = subjectFor(family, drawn);
      let data: Uint8Array;
      let how: string;
      let headers: Record<string, string> | undefined;
      const kind = rng.int(10);
      if (kind < 6) {
        ({ data, how } = mutate(rng, valid[family]()));
      } else if (kind === 6) {
        data = randomBytes(rng, rng.int(300));
        how = `${data.length} random bytes`;
      } else if (kind === 7) {
        // A valid message of another kind on this subject.
        const other = rng.pick((['tasks', 'results', 'events'] as const).filter((f) => f !== family));
        data = valid[other]();
        how = `a valid ${other} message on a ${family} subject`;
      } else if (kind === 8 && family === 'tasks' && rng.next() < 0.7) {
        ({ data, how } = mutateTaskFields(rng, taskBytes));
      } else if (kind === 8 && family === 'results' && rng.next() < 0.7) {
        ({ data, how } = mutateResultFields(rng, resultBytes));
      } else if (kind === 8 && family === 'events') {
        ({ data, how } = mutateEventJson(rng, rng.pick(s.events)));
      } else if (kind === 8 && family === 'tasks') {
        // A task of an older build: trainLimit in a header, and a bad one at that.
        const old = pb.ChildTask.decode(taskBytes);
        delete old.recipe!.trainSize;
        data = pb.ChildTask.encode(old).finish();
        // Header values travel trimmed, so none starts or ends with a space here.
        headers = { [HEADER_TRAIN_LIMIT]: rng.pick(['-1', 'lots', '1e9', '99999999999999999999', '5 5', '0x10']) };
        how = `a task with header ${HEADER_TRAIN_LIMIT}: ${headers[HEADER_TRAIN_LIMIT]}`;
      } else {
        // Several mutations on top of each other.
        let m = mutate(rng, valid[family]());
        for (let i = 0, n = 1 + rng.int(4); i < n; i++) m = { data: mutate(rng, m.data).data, how: `${m.how}, then more` };
        ({ data, how } = m);
      }
      const candidate = { family, subject, data, how, ...(headers ? { headers } : {}) };
      const reason = verdict(candidate);
      if (reason === undefined) continue; // still a valid message: not what this corpus is for
      out.push({ ...candidate, reason });
      made++;
    }
  }
  rng.shuffle(out);
  return { messages: out, drawn };
}

/** Header values are one line (publishDeadLetter does the same to a reason). */
export function headerLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 4000);
}
