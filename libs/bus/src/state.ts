import { createHash } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { BusConnection } from './connect.js';
import { StateIntegrityError, StateStoreKeyError } from './errors.js';
import { KV_SEARCHES, type StateStore } from './types.js';

/** Keys are search ids: one subject token, and never containing a dot (dots name the chunk keys). */
const KEY = /^[-_=A-Za-z0-9]{1,200}$/;

function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new StateStoreKeyError(String(key), 'must be 1 to 200 characters of A-Z a-z 0-9 - _ = (no dots: they name the store\'s chunk keys)');
  }
}

/** JSON text of a value, refusing what JSON cannot hold. */
function toJson(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new StateStoreKeyError(key, `value ${typeof value} has no JSON form`);
  return json;
}

/** The same semantics in memory: values are stored as JSON (so callers never share objects with the store). */
export class MemoryStateStore<T> implements StateStore<T> {
  private readonly values = new Map<string, string>();

  async get(key: string): Promise<T | undefined> {
    checkKey(key);
    const json = this.values.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  async put(key: string, value: T): Promise<void> {
    checkKey(key);
    this.values.set(key, toJson(key, value));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.values.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.values.keys()].sort();
  }
}

/** Opens `bucket`, creating it (history 1: the store keeps the latest value per key) when it is missing. */
async function createBucket(bus: BusConnection, bucket: string, o: NonNullable<KvStateStoreOptions['create']>): Promise<KV> {
  const kvm = new Kvm(bus.js);
  try {
    await bus.jsm.streams.info(`KV_${bucket}`);
    return await kvm.open(bucket);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  return kvm.create(bucket, {
    history: 1, replicas: o.replicas ?? 1, storage: o.storage === 'memory' ? StorageType.Memory : StorageType.File,
    ...(o.maxValueBytes ? { maxValueSize: o.maxValueBytes } : {}), ...(o.description ? { description: o.description } : {}),
  });
}

/** What the entry under a key holds: the value itself, or where its chunks are. */
type Envelope =
  | { v: 1; value: unknown; slotCounts?: SlotCounts }
  | { v: 1; chunked: { slot: Slot; count: number; bytes: number; sha256: string }; slotCounts: SlotCounts };
type Slot = 'a' | 'b';
type SlotCounts = { a: number; b: number };

/** What a put needs to know of the entry it replaces: its KV revision (0: none yet) and its chunk bookkeeping. */
interface EntryMeta {
  revision: number;
  /** Slot of the entry's chunks; undefined when its value is inline. */
  slot?: Slot;
  counts: SlotCounts;
}

function metaOf(revision: number, env: Envelope | undefined): EntryMeta {
  return { revision, counts: { ...(env?.slotCounts ?? { a: 0, b: 0 }) }, ...(env && 'chunked' in env ? { slot: env.chunked.slot } : {}) };
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

export interface KvStateStoreOptions {
  /** @default 'nas_searches' */
  bucket?: string;
  /**
   * Create the bucket when it does not exist yet (a service that owns its
   * bucket, such as the transfer service's nas_transfers, makes it itself
   * instead of waiting for ensureStreams). An existing bucket is opened as
   * it is. @default undefined: open an existing bucket only
   */
  create?: { description?: string; replicas?: number; storage?: 'file' | 'memory'; maxValueBytes?: number };
  /**
   * Largest piece written in one message. @default the server's max_payload
   * (and the bucket's max value size) less 8 KiB for the message's framing
   */
  chunkBytes?: number;
}

/**
 * StateStore<T> over a KV bucket, JSON values. A value larger than one
 * message may be (the server's max_payload, 1 MiB unless configured; a PPO
 * search state with 100 LSTM units is about 1.5 MB of JSON) is split into
 * chunks, so the store works on a stock server:
 *
 *   <key>            {"v":1,"value":...}                    small values, readable with `nats kv get`
 *   <key>            {"v":1,"chunked":{slot,count,bytes,sha256},"slotCounts":{a,b}}
 *   <key>.<slot>.<i> chunk i of the value's UTF-8 JSON, slot a or b
 *
 * A large put writes its chunks into the slot the current entry does not
 * use, then replaces the entry: a reader sees the old value or the new one,
 * never a mix (a reader caught between two puts finds a digest mismatch and
 * reads again), and a writer that dies halfway leaves the old value intact.
 * Chunk keys are reused put after put, so the bucket (history 1) does not
 * grow with the number of checkpoints.
 *
 * A put needs the current entry's chunk bookkeeping. The store remembers
 * what it last wrote or read per key, with the entry's revision, and
 * replaces the entry only if it still has that revision (KV compare and
 * set); otherwise it reads the entry and writes again. So a writer that
 * checkpoints a large search every second does not read the whole previous
 * value back each time, and two writers of one key still never leave
 * chunks that the entry does not describe.
 */
export class KvStateStore<T> implements StateStore<T> {
  private readonly known = new Map<string, EntryMeta>();

  private constructor(private readonly kv: KV, readonly chunkBytes: number) {}

  static async open<T>(bus: BusConnection, options: KvStateStoreOptions = {}): Promise<KvStateStore<T>> {
    const bucket = options.bucket ?? KV_SEARCHES;
    const kv = options.create ? await createBucket(bus, bucket, options.create) : await new Kvm(bus.js).open(bucket);
    let chunk = options.chunkBytes;
    if (chunk === undefined) {
      const status = await kv.status();
      const maxPayload = bus.nc.info?.max_payload ?? 1024 * 1024;
      const maxValue = status.maxValueSize > 0 ? status.maxValueSize : Infinity;
      chunk = Math.min(maxPayload, maxValue) - 8 * 1024;
    }
    if (!(chunk >= 1024)) throw new RangeError(`chunkBytes must be at least 1024, got ${chunk}`);
    return new KvStateStore<T>(kv, Math.floor(chunk));
  }

  /** The entry under `key` (undefined when there is none or it was deleted); remembers its revision for the next put. */
  private async envelope(key: string): Promise<Envelope | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') {
      this.known.set(key, metaOf(e?.revision ?? 0, undefined));
      return undefined;
    }
    let env: Envelope;
    try {
      env = JSON.parse(e.string()) as Envelope;
    } catch (err) {
      this.known.delete(key);
      throw new StateIntegrityError(key, `entry is not JSON: ${(err as Error).message}`, { cause: err });
    }
    this.known.set(key, metaOf(e.revision, env));
    return env;
  }

  async get(key: string): Promise<T | undefined> {
    checkKey(key);
    for (let tries = 0; ; tries++) {
      const env = await this.envelope(key);
      if (!env) return undefined;
      if ('value' in env) return env.value as T;
      try {
        return JSON.parse(await this.readChunks(key, env.chunked)) as T;
      } catch (err) {
        // A put that replaced the chunks while we read them: read the new entry.
        if (err instanceof StateIntegrityError && tries < 2) continue;
        throw err;
      }
    }
  }

  private async readChunks(key: string, c: { slot: Slot; count: number; bytes: number; sha256: string }): Promise<string> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < c.count; i++) {
      const e = await this.kv.get(`${key}.${c.slot}.${i}`);
      if (!e || e.operation !== 'PUT') throw new StateIntegrityError(key, `chunk ${i} of ${c.count} (slot ${c.slot}) is missing`);
      parts.push(e.value);
    }
    const bytes = Buffer.concat(parts);
    if (bytes.length !== c.bytes) throw new StateIntegrityError(key, `chunks hold ${bytes.length} bytes, the entry says ${c.bytes}`);
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== c.sha256) throw new StateIntegrityError(key, `sha256 of the chunks is ${digest}, the entry says ${c.sha256}`);
    return bytes.toString('utf8');
  }

  async put(key: string, value: T): Promise<void> {
    checkKey(key);
    const json = toJson(key, value);
    for (let tries = 0; ; tries++) {
      let old = this.known.get(key);
      if (!old) {
        await this.envelope(key);
        old = this.known.get(key)!;
      }
      try {
        this.known.set(key, await this.write(key, json, old));
        return;
      } catch (err) {
        // Someone else wrote the entry since we last saw it: read it and write again.
        this.known.delete(key);
        if (isWrongLastSequence(err) && tries < 2) continue;
        throw err;
      }
    }
  }

  /** Replaces the entry that `old` describes (compare and set on its revision); returns the new entry's bookkeeping. */
  private async write(key: string, json: string, old: EntryMeta): Promise<EntryMeta> {
    const counts: SlotCounts = { ...old.counts };
    const inline = `{"v":1,"value":${json},"slotCounts":${JSON.stringify(counts)}}`;
    if (Buffer.byteLength(inline) <= this.chunkBytes) {
      return { revision: await this.kv.put(key, inline, { previousSeq: old.revision }), counts };
    }
    const bytes = Buffer.from(json, 'utf8');
    const slot: Slot = old.slot === 'a' ? 'b' : 'a';
    const count = Math.ceil(bytes.length / this.chunkBytes);
    for (let i = 0; i < count; i++) {
      await this.kv.put(`${key}.${slot}.${i}`, bytes.subarray(i * this.chunkBytes, (i + 1) * this.chunkBytes));
    }
    // Chunks of a longer value that used this slot before: drop them after the entry moved on.
    const stale = counts[slot];
    counts[slot] = count;
    const env: Envelope = { v: 1, chunked: { slot, count, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }, slotCounts: counts };
    const revision = await this.kv.put(key, JSON.stringify(env), { previousSeq: old.revision });
    for (let i = count; i < stale; i++) await this.kv.purge(`${key}.${slot}.${i}`);
    return { revision, slot, counts };
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const old = await this.envelope(key).catch(() => undefined);
    this.known.delete(key);
    await this.kv.purge(key);
    const counts = old?.slotCounts ?? { a: 0, b: 0 };
    for (const slot of ['a', 'b'] as const) for (let i = 0; i < counts[slot]; i++) await this.kv.purge(`${key}.${slot}.${i}`);
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) if (!k.includes('.')) out.push(k);
    return out.sort();
  }
}
