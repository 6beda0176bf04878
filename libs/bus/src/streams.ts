import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { StreamConfigConflictError } from './errors.js';
import { KV_CANCELS, KV_SEARCHES, STREAM_DLQ, STREAM_EVENTS, STREAM_RESULTS, STREAM_TASKS } from './types.js';

const MS = 1_000_000; // nanoseconds per millisecond: JetStream durations are nanoseconds
const DAY_MS = 24 * 3600 * 1000;
const MiB = 1024 * 1024;

/** Retention and size of the bus's streams and buckets. */
export interface StreamOptions {
  /** Replicas of every stream (1, 3 or 5; 3 in a production cluster). @default 1 */
  replicas?: number;
  /** @default 'file' */
  storage?: 'file' | 'memory';
  /** How long a task's Nats-Msg-Id is remembered, so a re-dispatched child is not queued twice. @default 24 h */
  taskDuplicateWindowMs?: number;
  /** Results older than this are dropped (a controller resuming later retrains those children). @default 30 days */
  resultsMaxAgeMs?: number;
  /** @default 7 days */
  eventsMaxAgeMs?: number;
  /** @default 1 GiB */
  eventsMaxBytes?: number;
  /** @default 30 days */
  dlqMaxAgeMs?: number;
  /** @default 256 MiB */
  dlqMaxBytes?: number;
  /**
   * Largest value of one nas_searches entry. KvStateStore splits a state
   * into chunks under the server's max_payload (1 MiB by default), so this
   * only bounds one chunk; kept generous for servers with a larger payload.
   * @default 16 MiB
   */
  stateMaxValueBytes?: number;
  /** Cancellation markers expire after this. @default 7 days */
  cancelsTtlMs?: number;
}

export function defaultStreamOptions(): Required<StreamOptions> {
  return {
    replicas: 1, storage: 'file', taskDuplicateWindowMs: DAY_MS, resultsMaxAgeMs: 30 * DAY_MS, eventsMaxAgeMs: 7 * DAY_MS,
    eventsMaxBytes: 1024 * MiB, dlqMaxAgeMs: 30 * DAY_MS, dlqMaxBytes: 256 * MiB, stateMaxValueBytes: 16 * MiB, cancelsTtlMs: 7 * DAY_MS,
  };
}

/** The stream configurations ensureStreams creates (KV buckets aside). */
export function streamConfigs(options: StreamOptions = {}): Array<Partial<StreamConfig> & { name: string }> {
  const o = { ...defaultStreamOptions(), ...options };
  const common = { num_replicas: o.replicas, storage: o.storage === 'memory' ? StorageType.Memory : StorageType.File };
  return [
    {
      ...common, name: STREAM_TASKS, subjects: ['nas.tasks.>'], retention: RetentionPolicy.Workqueue,
      duplicate_window: o.taskDuplicateWindowMs * MS, discard: DiscardPolicy.Old,
      description: 'ChildTask work queue (nas.v1.ChildTask), one message per child, Nats-Msg-Id <searchId>.<childId>.<phase>.g<generation>[.e<queue epoch>]',
    },
    {
      ...common, name: STREAM_RESULTS, subjects: ['nas.results.>'], retention: RetentionPolicy.Limits,
      // Written once: the first result of a child's generation stays, the server refuses any later one
      // (per-subject discard new, nats-server 2.9+), so a result forged before or after training cannot
      // replace the trainer's. A refused child is queued again under a new generation (a new subject).
      max_msgs_per_subject: 1, discard: DiscardPolicy.New, discard_new_per_subject: true,
      max_age: o.resultsMaxAgeMs * MS, allow_direct: true,
      // 2 minutes (the server's default): a trainer retrying a publish whose PubAck it lost within it is stored once.
      duplicate_window: 2 * 60 * 1000 * MS,
      description: 'ChildResult (nas.v1.ChildResult) on nas.results.<searchId>.<childId>.<generation>, written once per subject',
    },
    {
      ...common, name: STREAM_EVENTS, subjects: ['nas.events.>'], retention: RetentionPolicy.Limits,
      max_age: o.eventsMaxAgeMs * MS, max_bytes: o.eventsMaxBytes, discard: DiscardPolicy.Old,
      description: 'BusEvent (JSON): search events, child progress and attempts, trainer heartbeats',
    },
    {
      ...common, name: STREAM_DLQ, subjects: ['nas.dlq.>'], retention: RetentionPolicy.Limits,
      max_age: o.dlqMaxAgeMs * MS, max_bytes: o.dlqMaxBytes, discard: DiscardPolicy.Old,
      description: 'Dead letters: the raw message, its reason in the Nas-Dlq-* headers',
    },
  ];
}

/** Settings a stream cannot change once created. */
const IMMUTABLE = ['retention', 'storage'] as const;
/** Settings ensureStreams keeps in line with its configuration. */
const MUTABLE = [
  'subjects', 'duplicate_window', 'max_msgs_per_subject', 'max_age', 'max_bytes', 'allow_direct', 'discard', 'discard_new_per_subject',
  'num_replicas', 'max_msg_size', 'description',
] as const;

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  return a === b;
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/** Creates the stream, or brings an existing one's mutable settings in line; returns what it did. */
async function ensureStream(jsm: JetStreamManager, want: Partial<StreamConfig> & { name: string }): Promise<'created' | 'updated' | 'unchanged'> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(want.name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(want);
      return 'created';
    } catch (addErr) {
      // Another process created it between our info and add: fall through and compare.
      current = (await jsm.streams.info(want.name).catch(() => { throw addErr; })).config;
    }
  }
  for (const key of IMMUTABLE) {
    if (want[key] !== undefined && !same(current[key], want[key])) {
      throw new StreamConfigConflictError(want.name, `${key} (${String(current[key])}, wanted ${String(want[key])})`);
    }
  }
  const changed = MUTABLE.filter((key) => want[key] !== undefined && !same(current[key], want[key]));
  if (changed.length === 0) return 'unchanged';
  const { name: _n, retention: _r, storage: _s, ...update } = { ...current, ...want };
  await jsm.streams.update(want.name, update);
  return 'updated';
}

/** What ensureStreams did, by stream or bucket name. */
export type EnsureReport = Record<string, 'created' | 'updated' | 'unchanged'>;

/**
 * Creates the bus's streams (NAS_TASKS, NAS_RESULTS, NAS_EVENTS, NAS_DLQ) and
 * KV buckets (nas_searches, nas_cancels), or updates the settings that
 * differ; safe to call from every process at start-up, concurrently.
 * Throws StreamConfigConflictError when a stream exists with a retention or
 * storage it cannot change.
 */
export async function ensureStreams(jsm: JetStreamManager, options: StreamOptions = {}): Promise<EnsureReport> {
  const o = { ...defaultStreamOptions(), ...options };
  const report: EnsureReport = {};
  for (const cfg of streamConfigs(o)) report[cfg.name] = await ensureStream(jsm, cfg);
  const kvm = new Kvm(jsm.jetstream());
  const storage = o.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const buckets = [
    { name: KV_SEARCHES, opts: { history: 1, maxValueSize: o.stateMaxValueBytes, replicas: o.replicas, storage, description: 'Search states (JSON, chunked above max_payload)' } },
    { name: KV_CANCELS, opts: { history: 1, ttl: o.cancelsTtlMs, replicas: o.replicas, storage, description: 'Cancelled searches and children: key <searchId>[.<childId>], value the reason' } },
  ];
  for (const { name, opts } of buckets) {
    const stream = `KV_${name}`;
    let exists = true;
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      exists = false;
    }
    if (!exists) {
      try {
        await kvm.create(name, opts);
        report[name] = 'created';
        continue;
      } catch (err) {
        // A concurrent creator won; compare below.
        await jsm.streams.info(stream).catch(() => { throw err; });
      }
    }
    report[name] = await ensureStream(jsm, {
      name: stream, storage, max_msgs_per_subject: opts.history, num_replicas: o.replicas,
      ...('maxValueSize' in opts ? { max_msg_size: opts.maxValueSize } : {}),
      ...('ttl' in opts && opts.ttl !== undefined ? { max_age: opts.ttl * MS } : {}),
    });
  }
  return report;
}
