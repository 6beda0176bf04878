import { InvalidPageTokenError, JobDecodeError, JobNotFoundError, JobNotLiveError, JobStoreError } from './errors.js';
import {
  FINAL_STATES, isFinal,
  type Job, type JobEvent, type JobFields, type JobPage, type JobState, type JobWatcher, type ListQuery, type QuarantinedEntry,
  type RecoveryReport, type StateStore,
} from './types.js';
import { ThrottledWriter, WRITE_BUDGET } from './writer.js';
import { isListKey, readJob, writeJob, type SegmentedList, type StoredList } from './segments.js';

/**
 * Store layout (one store per registry; a KV bucket in the services):
 *   <id>               the job (JSON, flat: common fields and the service's own)
 *   <id>=events=<k>    { v: 1, events: JobEvent[] }: kept events k*EVENTS_PER_SEGMENT and on, for watchers that replay
 *   quarantine=<key>   { key, reason, atMs, value? }: an entry recovery could not use
 *   <id>=list=<k><s>   with options.list: segment k of the job's long list (segments.ts)
 * Ids never contain '=', so these never collide.
 */
const EVENTS_MARK = '=events=';
const QUARANTINE_PREFIX = 'quarantine=';
const ID = /^[-_A-Za-z0-9]{1,150}$/;
const eventsKey = (id: string, segment: number) => `${id}${EVENTS_MARK}${segment}`;
/**
 * Kept events per stored segment. A save rewrites only the segments with
 * new events, so a long job's event log costs each save O(new events), not
 * the whole log (a 20,000-child search keeps ~60,000 events).
 */
const EVENTS_PER_SEGMENT = 500;
const quarantineKey = (key: string) => `${QUARANTINE_PREFIX}${key}`;

const STATES: readonly JobState[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

export interface JobRegistryOptions<Spec, Status extends object, Event> {
  /** Where jobs live (values are JSON). */
  store: StateStore<unknown>;
  /** What a job is called in messages and errors ('search', 'transfer'). */
  kind: string;
  /** The id of the job accepted as number `n` (1, 2, ...). @default `${kind}-${n}` */
  newId?: (n: number) => string;
  /**
   * Checks and completes a stored value whose common fields were found
   * sound; throwing quarantines the entry. @default take it as it is
   */
  decode?: (value: Job<Spec, Status>, key: string) => Job<Spec, Status>;
  /**
   * A long list inside the job (a search's children) stored in segments, so
   * a save writes only the head and the segments that changed (segments.ts).
   * Values stored whole before keep being read. @default the job is stored as one value
   */
  list?: SegmentedList<Job<Spec, Status>>;
  /** Which events are kept for replay (the rest reach live watchers only). @default all */
  keepEvent?: (event: Event) => boolean;
  /** Asked to stop a job that is not final (a running job ends through finish() later). */
  onCancel?: (job: Job<Spec, Status>, reason: string) => void | Promise<void>;
  /** The error for an unknown id. @default JobNotFoundError */
  notFound?: (id: string) => Error;
  /** Finished jobs kept in memory besides the unfinished ones; older ones are read back from the store. @default 16 */
  keepFinished?: number;
  /** Unforced saves of one job come at most this often. @default 1000 */
  saveEveryMs?: number;
  /** Share of the time one job's saves may take (see WRITE_BUDGET). @default WRITE_BUDGET */
  writeBudget?: number;
  /** @default 50 */
  defaultPageSize?: number;
  /** @default 1000 */
  maxPageSize?: number;
  log?: (line: string) => void;
}

/** A job in memory: unfinished, or one of the keepFinished recent finished ones. */
interface Live<J, E> {
  job: J;
  /** The kept events, oldest first. */
  events: JobEvent<E>[];
  /** How many of `events` the store holds. */
  eventsStored: number;
  watchers: Set<JobWatcher<E>>;
  writer: ThrottledWriter;
  /** Its final state is in the store: nothing left to save. */
  finalStored?: boolean;
  /** With options.list: the segments the store holds. */
  listStored?: StoredList;
}

/** What the registry remembers of every job, in memory or not: enough to list, count and dedupe. */
interface IndexEntry {
  id: string;
  number: number;
  runState: JobState;
  requestId?: string;
}

function fail(key: string, field: string, reason: string): never {
  throw new JobDecodeError(key, field, reason);
}

/** The common fields of a stored value, checked; the service's own fields are left to options.decode. */
function decodeCommon<Spec>(raw: unknown, key: string): JobFields<Spec> & { number: number } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(key, 'value', `is ${Array.isArray(raw) ? 'an array' : typeof raw}, not an object`);
  const v = raw as Record<string, unknown>;
  if (v['id'] !== key) fail(key, 'id', `is ${JSON.stringify(v['id'])}, not the key it is stored under`);
  if (!STATES.includes(v['runState'] as JobState)) fail(key, 'runState', `${JSON.stringify(v['runState'])} is not one of ${STATES.join(', ')}`);
  for (const field of ['createdAtMs', 'lastSequence'] as const) {
    if (typeof v[field] !== 'number' || !Number.isFinite(v[field])) fail(key, field, `${JSON.stringify(v[field])} is not a number`);
  }
  if (v['number'] !== undefined && !(Number.isSafeInteger(v['number']) && (v['number'] as number) >= 1)) fail(key, 'number', `${JSON.stringify(v['number'])} is not an integer >= 1`);
  for (const field of ['requestId', 'submitter', 'message'] as const) {
    if (v[field] !== undefined && typeof v[field] !== 'string') fail(key, field, `${JSON.stringify(v[field])} is not a string`);
  }
  if (v['spec'] === undefined) fail(key, 'spec', 'is missing');
  // Jobs stored before the registry numbered them get a number at recovery (0 = not yet).
  return { ...(v as unknown as JobFields<Spec>), number: (v['number'] as number | undefined) ?? 0, updatedAtMs: (v['updatedAtMs'] as number | undefined) ?? (v['createdAtMs'] as number) };
}

function decodeEvents<E>(raw: unknown, key: string): JobEvent<E>[] {
  if (raw === undefined) return [];
  const v = raw as { v?: unknown; events?: unknown };
  if (!v || typeof v !== 'object' || v.v !== 1 || !Array.isArray(v.events)) fail(key, 'value', 'is not { v: 1, events: [...] }');
  v.events.forEach((e: unknown, i) => {
    const ev = e as Partial<JobEvent<E>>;
    if (!ev || typeof ev.sequence !== 'number' || typeof ev.timeMs !== 'number' || !('event' in ev)) fail(key, `events[${i}]`, 'is not { jobId, sequence, timeMs, event }');
  });
  return v.events as JobEvent<E>[];
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** One stored segment of events that could not be read or decoded (names the key, for the quarantine). */
class EventsReadError extends Error {
  constructor(readonly key: string, cause: unknown) {
    super(`events '${key}': ${message(cause)}`, { cause });
    this.name = 'EventsReadError';
  }
}

/**
 * The jobs of one service (searches, transfers) on a StateStore: the one
 * implementation of what both services need around their work.
 *
 * - submit is idempotent per request id (also across restarts) and atomic:
 *   the job is visible (get, list, request id) only once the store holds
 *   it; if that write fails, submit throws JobStoreError and nothing stays.
 * - every job has numbered events; watchers replay them from any sequence
 *   number and then follow live ones; `'end'` follows a final state.
 * - saves are throttled per job (ThrottledWriter, WRITE_BUDGET) and never
 *   queue up copies; final states are saved at once.
 * - memory is bounded: a finished job leaves memory once it is stored
 *   (the keepFinished most recent stay), and get, list and watch read it
 *   back from the store; what stays of every job is a small index entry.
 * - recover() reads the store back; an entry it cannot read or decode is
 *   quarantined (logged, counted, moved under `quarantine=<key>` or, when
 *   unreadable, left where it is and listed by quarantined()), and
 *   everything else recovers.
 *
 * The service owns what a job does: it starts jobs (submit, then
 * setState('running')), changes its own status fields on the live job
 * (replacing nested values rather than changing them in place: a save
 * copies the job shallowly), emits events, saves and finishes.
 */
export class JobRegistry<Spec, Status extends object, Event> {
  private readonly live = new Map<string, Live<Job<Spec, Status>, Event>>();
  private readonly index = new Map<string, IndexEntry>();
  private readonly byRequest = new Map<string, string>();
  /** Submits in progress, per request id: a second one with the same id waits for the first. */
  private readonly submitting = new Map<string, Promise<Job<Spec, Status>>>();
  /** Finished jobs still in memory, oldest first. */
  private readonly finishedOrder: string[] = [];
  private readonly quarantine = new Map<string, QuarantinedEntry>();
  private nextNumber = 1;
  private readonly log: (line: string) => void;
  private readonly keepFinished: number;

  constructor(private readonly options: JobRegistryOptions<Spec, Status, Event>) {
    this.log = options.log ?? (() => {});
    this.keepFinished = options.keepFinished ?? 16;
    if (!Number.isInteger(this.keepFinished) || this.keepFinished < 0) throw new RangeError(`keepFinished must be an integer >= 0, got ${this.keepFinished}`);
  }

  get kind(): string {
    return this.options.kind;
  }

  /**
   * Reads every stored job. Unfinished ones come back into memory (with
   * their kept events) for the service to start again; finished ones are
   * only indexed. Throws only when the store cannot be listed at all.
   */
  async recover(): Promise<RecoveryReport<Job<Spec, Status>>> {
    const keys = await this.options.store.keys();
    const jobs: Array<Job<Spec, Status>> = [];
    const listsStored = new Map<string, StoredList>();
    for (const key of keys) {
      if (key.startsWith(QUARANTINE_PREFIX)) {
        await this.readQuarantineMarker(key);
        continue;
      }
      if (key.includes(EVENTS_MARK) || isListKey(key)) continue;
      let raw: unknown;
      try {
        raw = await this.options.store.get(key);
        // An unfinished job resumes with its whole list; a finished one is only indexed (get() reads its list).
        const runState = (raw as { runState?: unknown } | undefined)?.runState;
        if (this.options.list && raw && typeof raw === 'object' && !isFinal(runState as JobState)) {
          const read = await readJob(this.options.store, key, this.options.list);
          raw = read?.value;
          if (read?.stored) listsStored.set(key, read.stored);
        } else if (raw && typeof raw === 'object') {
          raw = this.withoutListField(raw);
        }
      } catch (err) {
        await this.setAside(key, `cannot be read: ${message(err)}`, { readable: false });
        continue;
      }
      if (raw === undefined) continue;
      try {
        const common = decodeCommon<Spec>(raw, key);
        const job = { ...(raw as object), ...common } as Job<Spec, Status>;
        jobs.push(this.options.decode ? this.options.decode(job, key) : job);
      } catch (err) {
        await this.setAside(key, `cannot be decoded: ${message(err)}`, { readable: true, value: raw });
      }
    }
    // Jobs stored before numbering: after the numbered ones, oldest first.
    let top = Math.max(0, ...jobs.map((j) => j.number));
    for (const j of jobs.filter((j) => !j.number).sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1))) j.number = ++top;
    this.nextNumber = Math.max(this.nextNumber, top + 1);
    const unfinished: Array<Job<Spec, Status>> = [];
    for (const job of jobs.sort((a, b) => a.number - b.number)) {
      this.indexJob(job);
      if (isFinal(job.runState)) continue;
      let events: JobEvent<Event>[] = [];
      try {
        events = await this.readEvents(job.id);
      } catch (err) {
        const key = err instanceof EventsReadError ? err.key : eventsKey(job.id, 0);
        await this.setAside(key, `cannot be read (the job goes on without its earlier events): ${message(err)}`, { readable: false });
      }
      // Sequence numbers are never reused, even if the job's last write was older than its events'.
      job.lastSequence = Math.max(job.lastSequence, events.at(-1)?.sequence ?? 0);
      const entry = this.track(job, events, events.length);
      entry.listStored = listsStored.get(job.id);
      unfinished.push(job);
    }
    const quarantined = this.quarantined();
    if (quarantined.length > 0) this.log(`${this.kind} registry: ${quarantined.length} stored entr${quarantined.length === 1 ? 'y is' : 'ies are'} quarantined: ${quarantined.map((q) => q.key).join(', ')}`);
    return { unfinished, finished: jobs.length - unfinished.length, quarantined };
  }

  /** Entries recovery set aside (this run and earlier ones), for an operator. */
  quarantined(): QuarantinedEntry[] {
    return [...this.quarantine.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  private async readQuarantineMarker(markerKey: string): Promise<void> {
    const key = markerKey.slice(QUARANTINE_PREFIX.length);
    if (this.quarantine.has(key)) return;
    try {
      const m = (await this.options.store.get(markerKey)) as Partial<QuarantinedEntry> | undefined;
      if (!m) return;
      this.quarantine.set(key, { key, reason: String(m.reason ?? 'unknown'), atMs: Number(m.atMs ?? 0), location: String(m.location ?? markerKey) });
    } catch (err) {
      this.quarantine.set(key, { key, reason: `quarantine marker unreadable: ${message(err)}`, atMs: Date.now(), location: markerKey });
    }
  }

  /**
   * Quarantines one entry: a readable value moves to `quarantine=<key>`
   * (then its key is deleted); an unreadable one stays where it is with a
   * marker beside it. Failing to move it only leaves it in place.
   */
  private async setAside(key: string, reason: string, what: { readable: true; value: unknown } | { readable: false }): Promise<void> {
    const atMs = Date.now();
    const target = quarantineKey(key);
    let location = key;
    try {
      if (what.readable) {
        await this.options.store.put(target, { key, reason, atMs, location: target, value: what.value });
        await this.options.store.delete(key);
        location = target;
      } else {
        await this.options.store.put(target, { key, reason, atMs, location: key });
      }
    } catch (err) {
      reason += ` (setting it aside failed: ${message(err)})`;
    }
    this.quarantine.set(key, { key, reason, atMs, location });
    this.log(`${this.kind} registry: quarantined stored entry '${key}' (now at '${location}'): ${reason}`);
  }

  private indexJob(job: Job<Spec, Status>): void {
    this.index.set(job.id, { id: job.id, number: job.number, runState: job.runState, ...(job.requestId ? { requestId: job.requestId } : {}) });
    if (job.requestId) this.byRequest.set(job.requestId, job.id);
  }

  private track(job: Job<Spec, Status>, events: JobEvent<Event>[], eventsStored: number): Live<Job<Spec, Status>, Event> {
    const entry: Live<Job<Spec, Status>, Event> = {
      job, events, eventsStored, watchers: new Set(),
      writer: new ThrottledWriter(() => this.write(entry), {
        minGapMs: this.options.saveEveryMs ?? 1000,
        budget: this.options.writeBudget ?? WRITE_BUDGET,
        onError: (err) => this.log(`${this.kind} ${job.id}: saving its state failed: ${err.message}`),
      }),
    };
    this.live.set(job.id, entry);
    return entry;
  }

  /** A head read without its list (a finished job only listed): the list marker is the registry's, not the service's. */
  private withoutListField(raw: object): object {
    if (!('listSegments' in raw)) return raw;
    const { listSegments: _marker, ...rest } = raw as Record<string, unknown>;
    return this.options.list ? this.options.list.put(rest as Job<Spec, Status>, []) : rest;
  }

  /** One save: the job as it is now (with options.list: its head and changed list segments), then its kept events if there are new ones. */
  private async write(entry: Live<Job<Spec, Status>, Event>): Promise<void> {
    // A shallow copy is a consistent snapshot as long as nested values are replaced, never changed in place;
    // the store serialises each value before its first await.
    const snapshot = { ...entry.job };
    const count = entry.events.length;
    if (this.options.list) entry.listStored = await writeJob(this.options.store, snapshot, this.options.list, entry.listStored);
    else await this.options.store.put(snapshot.id, snapshot);
    // The segment the stored events ended in (it may have room left) and the ones after it.
    for (let k = Math.floor(entry.eventsStored / EVENTS_PER_SEGMENT); k * EVENTS_PER_SEGMENT < count; k++) {
      const events = entry.events.slice(k * EVENTS_PER_SEGMENT, Math.min(count, (k + 1) * EVENTS_PER_SEGMENT));
      await this.options.store.put(eventsKey(snapshot.id, k), { v: 1, events });
    }
    entry.eventsStored = count;
  }

  /** A job's stored events, segment after segment until one is missing or not full. */
  private async readEvents(id: string): Promise<JobEvent<Event>[]> {
    const out: JobEvent<Event>[] = [];
    for (let k = 0; ; k++) {
      const key = eventsKey(id, k);
      let segment: JobEvent<Event>[];
      try {
        segment = decodeEvents<Event>(await this.options.store.get(key), key);
      } catch (err) {
        throw new EventsReadError(key, err);
      }
      out.push(...segment);
      if (segment.length < EVENTS_PER_SEGMENT) return out;
    }
  }

  /**
   * Accepts a job: a request id seen before (also before a restart) gives
   * the job it made, and `prepare` (validation, planning) runs only for a
   * new one. The job is stored before anything can see it; a failed write
   * throws JobStoreError and leaves nothing behind.
   */
  async submit(req: {
    requestId?: string;
    submitter?: string;
    prepare: () => { spec: Spec; status: Status } | Promise<{ spec: Spec; status: Status }>;
  }): Promise<{ job: Job<Spec, Status>; created: boolean }> {
    const { requestId } = req;
    if (requestId) {
      const known = this.byRequest.get(requestId);
      if (known) return { job: await this.get(known), created: false };
      const inFlight = this.submitting.get(requestId);
      if (inFlight) return { job: await inFlight, created: false };
    }
    const work = this.create(req);
    if (!requestId) return { job: await work, created: true };
    this.submitting.set(requestId, work);
    try {
      return { job: await work, created: true };
    } finally {
      this.submitting.delete(requestId);
    }
  }

  private async create(req: Parameters<JobRegistry<Spec, Status, Event>['submit']>[0]): Promise<Job<Spec, Status>> {
    const { spec, status } = await req.prepare();
    const newId = this.options.newId ?? ((n: number) => `${this.kind}-${n}`);
    let number: number;
    let id: string;
    // A quarantined entry keeps its key (an unreadable one stays there): never write over it, take the next number.
    do {
      number = this.nextNumber++;
      id = newId(number);
    } while (this.index.has(id) || this.quarantine.has(id));
    if (!ID.test(id)) throw new RangeError(`${this.kind} id ${JSON.stringify(id)} must be 1 to 150 characters of A-Z a-z 0-9 - _`);
    const now = Date.now();
    const job = {
      ...status,
      id, number, createdAtMs: now, updatedAtMs: now, runState: 'pending', lastSequence: 0, spec,
      ...(req.requestId ? { requestId: req.requestId } : {}),
      ...(req.submitter ? { submitter: req.submitter } : {}),
    } as Job<Spec, Status>;
    try {
      await this.options.store.put(id, job);
    } catch (err) {
      throw new JobStoreError(this.kind, id, 'submit', { cause: err });
    }
    this.indexJob(job);
    this.track(job, [], 0);
    return job;
  }

  private liveEntry(id: string, doing: string): Live<Job<Spec, Status>, Event> {
    const entry = this.live.get(id);
    if (!entry) throw new JobNotLiveError(this.kind, id, `cannot ${doing}: it is not in memory (unknown or finished)`);
    return entry;
  }

  /**
   * The job object the service changes in place (its own fields). Only
   * for jobs in memory; get() for any job.
   */
  current(id: string): Job<Spec, Status> {
    return this.liveEntry(id, 'change it').job;
  }

  /** The job if it is in memory (unfinished, or finished recently), else undefined; never reads the store. */
  peek(id: string): Job<Spec, Status> | undefined {
    return this.live.get(id)?.job;
  }

  /** A non-final state change (pending <-> running); finish() ends a job. */
  setState(id: string, state: 'pending' | 'running'): Job<Spec, Status> {
    const { job } = this.liveEntry(id, `set it ${state}`);
    if (isFinal(job.runState)) throw new JobNotLiveError(this.kind, id, `cannot set it ${state}: it is ${job.runState}`);
    job.runState = state;
    job.updatedAtMs = Date.now();
    if (state === 'running') job.startedAtMs ??= job.updatedAtMs;
    this.index.get(id)!.runState = state;
    return job;
  }

  /** Numbers an event, keeps it if keepEvent says so, and hands it to the job's watchers. */
  emit(id: string, event: Event): JobEvent<Event> {
    const entry = this.liveEntry(id, 'emit an event');
    const job = entry.job;
    if (isFinal(job.runState)) throw new JobNotLiveError(this.kind, id, `cannot emit an event: it is ${job.runState}`);
    job.lastSequence += 1;
    job.updatedAtMs = Date.now();
    const e: JobEvent<Event> = { jobId: id, sequence: job.lastSequence, timeMs: job.updatedAtMs, event };
    if (this.options.keepEvent?.(event) ?? true) entry.events.push(e);
    for (const w of entry.watchers) w(e);
    return e;
  }

  /**
   * Saves the job: at once when `force`, else at the pace the write budget
   * allows. Resolves true once a write that includes the current state
   * succeeded (false: it failed and was logged).
   */
  save(id: string, force = false): Promise<boolean> {
    return this.liveEntry(id, 'save it').writer.save(force);
  }

  /**
   * Ends the job: sets the final state, tells its watchers `'end'`, and
   * saves it at once. Once stored it may leave memory (the keepFinished
   * newest finished jobs stay). Resolves with the job after the save.
   */
  async finish(id: string, state: 'succeeded' | 'failed' | 'cancelled', why?: string): Promise<Job<Spec, Status>> {
    const entry = this.liveEntry(id, `finish it ${state}`);
    const job = entry.job;
    if (isFinal(job.runState)) return job;
    job.runState = state;
    if (why) job.message = why;
    job.finishedAtMs = job.updatedAtMs = Date.now();
    this.index.get(id)!.runState = state;
    for (const w of entry.watchers) w('end');
    entry.watchers.clear();
    if (await entry.writer.save(true)) {
      entry.finalStored = true;
      this.finishedOrder.push(id);
      this.evict();
    } else {
      this.log(`${this.kind} ${id}: its final state (${state}) is not stored yet; it stays in memory until flush() stores it`);
    }
    return job;
  }

  /** Drops the oldest stored finished jobs beyond keepFinished from memory. */
  private evict(): void {
    while (this.finishedOrder.length > this.keepFinished) {
      const id = this.finishedOrder.shift()!;
      const entry = this.live.get(id);
      if (!entry) continue;
      entry.writer.stop();
      this.live.delete(id);
    }
  }

  /** Any job: from memory, or read back from the store. */
  async get(id: string): Promise<Job<Spec, Status>> {
    const entry = this.live.get(id);
    if (entry) return entry.job;
    if (!this.index.has(id)) throw this.notFound(id);
    let raw: unknown;
    try {
      raw = (await readJob(this.options.store, id, this.options.list))?.value;
    } catch (err) {
      throw new JobStoreError(this.kind, id, 'read', { cause: err });
    }
    if (raw === undefined) throw this.notFound(id);
    try {
      const job = { ...(raw as object), ...decodeCommon<Spec>(raw, id) } as Job<Spec, Status>;
      job.number ||= this.index.get(id)!.number;
      return this.options.decode ? this.options.decode(job, id) : job;
    } catch (err) {
      throw new JobStoreError(this.kind, id, 'read', { cause: err });
    }
  }

  /** Whether the job exists (in memory or in the store's index). */
  has(id: string): boolean {
    return this.index.has(id);
  }

  private notFound(id: string): Error {
    return this.options.notFound?.(id) ?? new JobNotFoundError(this.kind, id);
  }

  /** How many jobs are in one of `states` (all when empty). */
  count(states: readonly JobState[] = []): number {
    if (states.length === 0) return this.index.size;
    let n = 0;
    for (const e of this.index.values()) if (states.includes(e.runState)) n++;
    return n;
  }

  /** Ids of the jobs in memory and not final (e.g. to cancel them all). */
  active(): string[] {
    return [...this.live.values()].filter((e) => !isFinal(e.job.runState)).map((e) => e.job.id);
  }

  /**
   * One page of jobs, newest first. The page token is the number of the
   * last job of the previous page, so pages stay stable while new jobs
   * arrive. Throws InvalidPageTokenError for a token it did not issue.
   */
  async list(query: ListQuery = {}): Promise<JobPage<Job<Spec, Status>>> {
    const states = new Set(query.states ?? []);
    let before = Number.POSITIVE_INFINITY;
    if (query.pageToken) {
      before = Number(query.pageToken);
      if (!/^[1-9]\d*$/.test(query.pageToken) || !Number.isSafeInteger(before)) throw new InvalidPageTokenError(query.pageToken);
    }
    const max = this.options.maxPageSize ?? 1000;
    const size = query.pageSize && query.pageSize > 0 ? Math.min(query.pageSize, max) : (this.options.defaultPageSize ?? 50);
    const matching = [...this.index.values()]
      .filter((e) => e.number < before && (states.size === 0 || states.has(e.runState)))
      .sort((a, b) => b.number - a.number);
    const page = matching.slice(0, size);
    const jobs = await Promise.all(page.map((e) => this.get(e.id)));
    return { jobs, nextPageToken: matching.length > size ? String(page.at(-1)!.number) : '' };
  }

  /**
   * Replays the kept events from `fromSequence` (0 or 1 = all), then
   * follows new ones; `'end'` comes once the job is final (at once for a
   * finished job, whose events are read back from the store). Returns the
   * unsubscribe function.
   */
  async watch(id: string, fromSequence: number, watcher: JobWatcher<Event>): Promise<() => void> {
    const from = Math.max(1, fromSequence);
    const entry = this.live.get(id);
    if (entry) {
      for (const e of entry.events) if (e.sequence >= from) watcher(e);
      if (isFinal(entry.job.runState)) {
        watcher('end');
        return () => {};
      }
      const filtered: JobWatcher<Event> = (e) => { if (e === 'end' || e.sequence >= from) watcher(e); };
      entry.watchers.add(filtered);
      return () => entry.watchers.delete(filtered);
    }
    await this.get(id);
    let events: JobEvent<Event>[];
    try {
      events = await this.readEvents(id);
    } catch (err) {
      throw new JobStoreError(this.kind, id, 'read', { cause: err });
    }
    for (const e of events) if (e.sequence >= from) watcher(e);
    watcher('end');
    return () => {};
  }

  /**
   * Asks a pending or running job to stop (options.onCancel does the
   * work; a service may finish the job at once or when its work has
   * stopped). A finished job is returned unchanged.
   */
  async cancel(id: string, reason: string): Promise<Job<Spec, Status>> {
    const entry = this.live.get(id);
    if (entry && !FINAL_STATES.has(entry.job.runState)) await this.options.onCancel?.(entry.job, reason);
    return this.get(id);
  }

  /** Saves every job in memory that has something unsaved, at once (shutdown), and waits for the writes. */
  async flush(): Promise<void> {
    const entries = [...this.live.values()].filter((e) => !e.finalStored);
    const ok = await Promise.all(entries.map((e) => e.writer.save(true)));
    entries.forEach((e, i) => {
      if (ok[i] && isFinal(e.job.runState)) {
        e.finalStored = true;
        this.finishedOrder.push(e.job.id);
      }
    });
    this.evict();
  }

  /** Saves everything (flush) and stops every writer; the registry is not used afterwards. */
  async close(): Promise<void> {
    await this.flush();
    for (const e of this.live.values()) e.writer.stop();
  }
}
