import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import type { ChildExecutor, ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { CancelBoard } from './cancel.js';
import { decodeBusEvent, decodeChildResult, encodeChildTask, type DecodedResult } from './codec.js';
import type { BusConnection } from './connect.js';
import { BusDecodeError, ChildAbortedError, ExecutorClosedError, ResultRejectedError } from './errors.js';
import { followStream, type StreamFollower } from './follow.js';
import { publishDeadLetter } from './publish.js';
import { DEFAULT_BUS_RETRY, withBusRetry } from './retry.js';
import { readQueueEpoch } from './search-queue.js';
import { eventSubject, HEADER_GENERATION, KV_CANCELS, resultSubject, STREAM_RESULTS, taskSubject } from './types.js';

export interface JetStreamExecutorOptions {
  /** Diagnostics (undecodable results, failed cancellation markers). @default stderr */
  log?: (line: string) => void;
  /** Stop following a search's results this long after its last pending child. @default 60000 */
  idleMs?: number;
  /** Written into the dead letters of undecodable results (Nas-Dlq-By). @default 'controller' */
  by?: string;
  /**
   * Generations a child's result may be refused in (undecodable, another
   * genotype's, a reward outside [0, 1]); the child is queued again under a
   * new generation each time, and after this many it fails with the last
   * reason (a cancelled generation, queued again when its search resumes, counts too). @default 5
   */
  maxGenerations?: number;
  /** How long a bus operation is retried through an outage before the child fails (withBusRetry). @default 300000 */
  retryMs?: number;
}

interface Waiter {
  childId: number;
  task: ChildTask;
  /** The generation whose result this waiter takes (resultSubject); 0 until its lookup chose one. */
  generation: number;
  resolve(r: ChildResult): void;
  reject(e: Error): void;
  /** The result of `generation` was refused for `reason`: queue the next generation, or fail the child after maxGenerations. */
  refused(reason: string): void;
  onProgress?: (p: ChildProgress) => void;
  settled: boolean;
}

interface SearchWatch {
  ready: Promise<void>;
  /** `ready` has resolved: the sets below are filled and results are followed. */
  isReady: boolean;
  waiters: Map<number, Set<Waiter>>;
  /**
   * Children that may have a result in NAS_RESULTS no waiter has taken,
   * with the highest generation stored: those with one stored when the
   * watch started, and those whose result came while nobody waited for it.
   * Only these need a lookup before their task is queued.
   */
  maybeStored: Map<number, number>;
  /** Stream sequences of results refused already (the lookup and the consumer may both meet one): counted once. */
  refusedSeqs: Set<number>;
  /** Children that may have a cancellation marker (one when the watch started, or one this executor wrote). */
  maybeMarked: Set<number>;
  /** The search's queue epoch (search-queue.ts), named in its tasks' Nats-Msg-Id; read when the watch starts and on prepare(). */
  epoch: number;
  follower?: StreamFollower;
  progress?: Subscription;
  idleTimer?: NodeJS.Timeout;
}

/**
 * The controller's side of the work queue: trains children on whichever
 * trainers pull from NAS_TASKS.
 *
 * execute(task):
 * 1. Looks for a result already stored for the child (a controller that
 *    restarted finds what its trainers finished meanwhile) and returns it.
 *    Which children can have one is known per search from one stream-info
 *    request when the search is first followed (and from the results that
 *    arrive unasked for later), so a fresh child costs no lookup: its task
 *    is queued without a round trip (dispatch latency, test/bench/load.ts).
 *    The same holds for clearing an earlier run's cancellation marker.
 * 2. Otherwise publishes the task of the child's next generation (1 for a
 *    fresh child, one more than the highest stored) with header
 *    Nas-Generation and Nats-Msg-Id `<searchId>.<childId>.<phase>.g<generation>`,
 *    followed by `.e<epoch>` once the search's queue epoch is above 0
 *    (search-queue.ts: closeSearchQueue raises it when it purges the
 *    search's tasks; read when the search is first followed, and again by
 *    prepare() when no child of it is pending): re-dispatching an in-flight
 *    child (controller restart) does not queue it twice within the stream's
 *    duplicate window, a child queued again gets a new id, and so does a
 *    child whose task a closed queue purged, queued again when its search
 *    resumes; none is an id JetStream drops as a duplicate.
 * 3. Resolves with the result on `nas.results.<searchId>.<childId>.<generation>`
 *    (written once: the server refuses a second message there); one
 *    ordered consumer per search (re-created after a reconnect, see
 *    followStream) serves every pending child. Progress of the child
 *    (nas.events, kind child_progress) goes to hooks.onProgress.
 *
 * A result is accepted only when it decodes, names the task's genotype
 * hash and has a reward (and validation accuracies) in [0, 1]. Otherwise it
 * is dead-lettered to nas.dlq.results with the reason (once per stream
 * sequence, though the lookup and the consumer may both meet it), counted
 * (rejectedResults), and the child is queued again under the next
 * generation; after maxGenerations refused ones it resolves 'failed' with
 * the last reason. Bus operations (publishes, lookups) are retried with
 * back-off through an outage (withBusRetry, retryMs) instead of failing
 * the child.
 *
 * An aborted execute rejects with ChildAbortedError, publishes no task if it
 * had not yet, and marks the child cancelled in nas_cancels: a trainer
 * training it stops, one that takes it later skips it, both answering with a
 * 'cancelled' result. A stored 'cancelled' result is not reused: executing
 * that child again queues its next generation.
 */
export class JetStreamExecutor implements ChildExecutor {
  private readonly searches = new Map<string, SearchWatch>();
  private readonly log: (line: string) => void;
  private readonly idleMs: number;
  private readonly by: string;
  private readonly background = new Set<Promise<unknown>>();
  private readonly abortListeners = new WeakMap<AbortSignal, Set<() => void>>();
  private board?: Promise<CancelBoard>;
  private closed = false;
  private readonly maxGenerations: number;
  private readonly retryMs: number;
  private rejected = 0;

  constructor(private readonly bus: BusConnection, options: JetStreamExecutorOptions = {}) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.idleMs = options.idleMs ?? 60_000;
    this.by = options.by ?? 'controller';
    this.maxGenerations = options.maxGenerations ?? 5;
    if (!Number.isInteger(this.maxGenerations) || this.maxGenerations < 1) throw new RangeError(`maxGenerations must be a positive integer, got ${this.maxGenerations}`);
    this.retryMs = options.retryMs ?? DEFAULT_BUS_RETRY.maxMs;
  }

  /** Results refused so far (each stored message counted once): undecodable, another genotype's, or a reward outside [0, 1]. */
  get rejectedResults(): number {
    return this.rejected;
  }

  /** Runs a bus operation, retrying it through an outage until retryMs, the executor closing or `signal`. */
  private retrying<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withBusRetry(fn, {
      what, log: this.log, maxMs: this.retryMs, isClosed: () => this.closed || this.bus.nc.isClosed(), nc: this.bus.nc, ...(signal ? { signal } : {}),
    });
  }

  private cancels(): Promise<CancelBoard> {
    this.board ??= CancelBoard.open(this.bus);
    return this.board;
  }

  /**
   * Starts following the search's results (see execute, step 1) and
   * resolves once it does. A search already followed with no child pending
   * (it ended here and starts again) reads its queue epoch again: a close in
   * between purged its tasks and raised it.
   */
  async prepare(searchId: string): Promise<void> {
    if (this.closed) return;
    const followed = this.searches.get(searchId);
    const watch = this.watch(searchId);
    await watch.ready;
    if (watch === followed && watch.waiters.size === 0) {
      watch.epoch = await this.retrying(`reading the queue epoch of ${searchId}`, () => readQueueEpoch(this.bus, searchId));
    }
  }

  async execute(task: ChildTask, hooks: { onProgress?: (p: ChildProgress) => void; signal?: AbortSignal } = {}): Promise<ChildResult> {
    const { searchId, childId } = task;
    const signal = hooks.signal;
    if (this.closed) throw new ExecutorClosedError(searchId, childId);
    if (signal?.aborted) throw abortError(task, signal);
    const watch = this.watch(searchId);
    let published: 'no' | 'publishing' | 'yes' = 'no';
    let onAbort = () => {};
    let unlisten = () => {};
    const promise = new Promise<ChildResult>((resolve, reject) => {
      const waiter: Waiter = {
        childId, task, generation: 0, settled: false,
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        resolve: (r) => { if (settle(waiter)) resolve(r); },
        reject: (e) => { if (settle(waiter)) reject(e); },
        refused: (reason) => {
          if (waiter.settled) return;
          if (waiter.generation >= this.maxGenerations) {
            waiter.resolve(refusedResult(task, `${waiter.generation} results refused, the last: ${reason}`));
            return;
          }
          waiter.generation++;
          queue(waiter.generation).catch(fail);
        },
      };
      const settle = (w: Waiter): boolean => {
        if (w.settled) return false;
        w.settled = true;
        unlisten();
        this.removeWaiter(searchId, w);
        return true;
      };
      onAbort = () => {
        const err = abortError(task, signal!);
        if (waiter.settled) return;
        waiter.reject(err);
        // Only a task that may be queued needs trainers to hear of it.
        if (published !== 'no') {
          watch.maybeMarked.add(childId);
          this.track(this.retrying(`cancelling child ${childId} of ${searchId}`, () => this.cancels().then((b) => b.cancel(searchId, err.reason, childId))));
        }
      };
      if (signal) unlisten = this.onAbort(signal, onAbort);
      let set = watch.waiters.get(childId);
      if (!set) watch.waiters.set(childId, (set = new Set()));
      set.add(waiter);
      if (watch.idleTimer) { clearTimeout(watch.idleTimer); watch.idleTimer = undefined; }

      const fail = (err: unknown) => waiter.reject(err instanceof Error ? err : new Error(String(err)));
      // async: whatever encoding or publishing throws becomes a rejection. The publish itself is
      // written to the connection synchronously; only its acknowledgement is awaited.
      // The publish is retried through an outage; its Nats-Msg-Id names the generation, so a retry of
      // one that landed, or a restarted controller queueing an in-flight child again, is queued once.
      const queue = async (generation: number): Promise<void> => {
        const wire = encodeChildTask(task);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(wire.headers)) h.set(k, v);
        h.set(HEADER_GENERATION, String(generation));
        published = 'publishing';
        const msgID = `${searchId}.${childId}.${task.phase}.g${generation}${watch.epoch > 0 ? `.e${watch.epoch}` : ''}`;
        await this.retrying(`queueing child ${childId} of ${searchId} (generation ${generation})`,
          () => this.bus.js.publish(taskSubject(searchId), wire.data, { msgID, headers: h }), signal);
        published = 'yes';
      };
      if (watch.isReady && !watch.maybeStored.has(childId) && !watch.maybeMarked.has(childId)) {
        // A fresh child of a followed search: queued in this very call, before any other work
        // the caller does next (a large state save, say) can hold it up.
        waiter.generation = 1;
        queue(1).catch(fail);
        return;
      }
      void (async () => {
        await watch.ready;
        if (waiter.settled) return;
        const top = watch.maybeStored.get(childId);
        const subject = resultSubject(searchId, childId, top ?? 0);
        // Both lookups at once, and only those the child may need (see SearchWatch).
        const [stored] = await Promise.all([
          top !== undefined
            ? this.retrying(`looking up ${subject}`, () => this.bus.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: subject }), signal)
            : Promise.resolve(null),
          // A marker left by an earlier run's cancellation must not stop this one.
          watch.maybeMarked.has(childId)
            ? this.retrying(`clearing the cancel marker of child ${childId} of ${searchId}`, () => this.cancels().then((board) => board.clear(searchId, childId)), signal)
            : Promise.resolve(),
        ]);
        if (waiter.settled) return;
        // The highest stored generation is done with; a child queued again takes the next one.
        waiter.generation = (top ?? 0) + 1;
        if (stored) {
          const verdict = judgeResult(stored.data, stored.subject, task);
          if (verdict.ok) {
            if (verdict.result.status !== 'cancelled') return waiter.resolve(verdict.result);
          } else {
            this.refuse(watch, stored.data, stored.subject, stored.seq, verdict.reason);
            if (top! >= this.maxGenerations) return waiter.resolve(refusedResult(task, `${top} results refused, the last: ${verdict.reason}`));
          }
        }
        await queue(waiter.generation);
      })().catch(fail);
    });
    return promise;
  }

  /**
   * Marks a whole search cancelled: trainers stop its running children and
   * skip its queued ones, answering each with a 'cancelled' result (which
   * pending executes of the search receive).
   */
  async cancelSearch(searchId: string, reason: string): Promise<void> {
    await this.retrying(`cancelling search ${searchId}`, async () => (await this.cancels()).cancel(searchId, reason));
  }

  /** Stops following results; pending executes reject with ExecutorClosedError. Leaves the connection open. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [searchId, watch] of this.searches) {
      for (const set of watch.waiters.values()) for (const w of set) w.reject(new ExecutorClosedError(searchId, w.childId));
      this.stopWatch(searchId, watch);
    }
    await Promise.allSettled([...this.background]);
  }

  /**
   * Records a refused result in nas.dlq.results with why (the decoder's
   * BusDecodeError message, or a ResultRejectedError's; its Nats-Msg-Id
   * `<stream>.<seq>` stores it once however often it is met) and counts it
   * once per stream sequence.
   */
  private refuse(watch: SearchWatch, data: Uint8Array, subject: string, seq: number, reason: string): void {
    if (watch.refusedSeqs.has(seq)) return;
    watch.refusedSeqs.add(seq);
    this.rejected++;
    this.log(`bus: dead-lettering result seq ${seq}: ${reason}`);
    this.track(this.retrying(`dead-lettering result seq ${seq}`,
      () => publishDeadLetter(this.bus, { kind: 'results', data, reason, subject, stream: STREAM_RESULTS, streamSequence: seq, by: this.by })));
  }

  /**
   * Calls `fn` when `signal` aborts; returns the unsubscribe. One listener
   * per signal, however many children wait on it: a search's executes share
   * its signal, and EventTarget scans every listener on each add (500
   * children in flight made that a visible share of the controller's CPU).
   */
  private onAbort(signal: AbortSignal, fn: () => void): () => void {
    let set = this.abortListeners.get(signal);
    if (!set) {
      const listeners = new Set<() => void>();
      this.abortListeners.set(signal, (set = listeners));
      signal.addEventListener('abort', () => {
        const due = [...listeners];
        listeners.clear();
        for (const f of due) f();
      }, { once: true });
    }
    const listeners = set;
    listeners.add(fn);
    return () => { listeners.delete(fn); };
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.log(`bus: ${(err as Error).message}`)).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  private removeWaiter(searchId: string, w: Waiter): void {
    const watch = this.searches.get(searchId);
    if (!watch) return;
    const set = watch.waiters.get(w.childId);
    set?.delete(w);
    if (set?.size === 0) watch.waiters.delete(w.childId);
    if (watch.waiters.size === 0 && !this.closed) {
      watch.idleTimer = setTimeout(() => this.stopWatch(searchId, watch), this.idleMs);
      watch.idleTimer.unref();
    }
  }

  private stopWatch(searchId: string, watch: SearchWatch): void {
    if (watch.idleTimer) clearTimeout(watch.idleTimer);
    if (this.searches.get(searchId) === watch) this.searches.delete(searchId);
    void watch.follower?.close().catch(() => {});
    watch.progress?.unsubscribe();
  }

  /** One results consumer and one progress subscription per search, shared by its pending children. */
  private watch(searchId: string): SearchWatch {
    const existing = this.searches.get(searchId);
    if (existing) return existing;
    const watch: SearchWatch = {
      waiters: new Map(), ready: Promise.resolve(), isReady: false, maybeStored: new Map(), maybeMarked: new Set(), refusedSeqs: new Set(), epoch: 0,
    };
    const remember = (childId: number, generation: number) => {
      if ((watch.maybeStored.get(childId) ?? -1) < generation) watch.maybeStored.set(childId, generation);
    };
    watch.ready = (async () => {
      // Which children have a stored result or a cancellation marker: one stream-info request each
      // (subject counts, paged by the client), instead of two lookups per child. Start following
      // right after the last stored result: whatever is stored now is in these sets, whatever
      // comes later the consumer sees.
      const resultsPrefix = `nas.results.${searchId}.`, markersPrefix = `$KV.${KV_CANCELS}.${searchId}.`;
      const [info, markers, epoch] = await Promise.all([
        this.retrying(`reading the results of ${searchId}`, () => this.bus.jsm.streams.info(STREAM_RESULTS, { subjects_filter: `${resultsPrefix}>` })),
        this.retrying(`reading the cancel markers of ${searchId}`, () => this.bus.jsm.streams.info(`KV_${KV_CANCELS}`, { subjects_filter: `${markersPrefix}*` })),
        // Before any task of the search is queued here (they wait for `ready`): see SearchWatch.epoch.
        this.retrying(`reading the queue epoch of ${searchId}`, () => readQueueEpoch(this.bus, searchId)),
      ]);
      watch.epoch = epoch;
      for (const subject of Object.keys(info.state.subjects ?? {})) {
        const at = parseResultSubject(subject, resultsPrefix);
        if (at) remember(at.childId, at.generation);
      }
      for (const subject of Object.keys(markers.state.subjects ?? {})) watch.maybeMarked.add(Number(subject.slice(markersPrefix.length)));
      const follower = await this.retrying(`following the results of ${searchId}`, () => followStream(this.bus, STREAM_RESULTS, {
        filter: `nas.results.${searchId}.>`, start: { policy: 'sequence', seq: info.state.last_seq + 1 }, log: this.log,
        onMessage: (m) => {
          const at = parseResultSubject(m.subject, resultsPrefix);
          if (!at) {
            // The decoder's reason when it has one (it names the field), else what is wrong with the subject.
            const verdict = judgeResult(m.data, m.subject);
            this.refuse(watch, m.data, m.subject, m.seq, verdict.ok ? new ResultRejectedError(m.subject, 'the subject names no child and generation').message : verdict.reason);
            return;
          }
          const due = [...(watch.waiters.get(at.childId) ?? [])].filter((w) => w.generation === at.generation);
          // Nobody waits for this generation (a restarted controller not yet re-executing it): the next execute looks it up.
          if (due.length === 0) {
            remember(at.childId, at.generation);
            // Judged now all the same, so what is wrong with it is on record at once.
            const verdict = judgeResult(m.data, m.subject);
            if (!verdict.ok) this.refuse(watch, m.data, m.subject, m.seq, verdict.reason);
            return;
          }
          for (const w of due) {
            const verdict = judgeResult(m.data, m.subject, w.task);
            if (verdict.ok) {
              w.resolve(verdict.result);
            } else {
              this.refuse(watch, m.data, m.subject, m.seq, verdict.reason);
              w.refused(verdict.reason);
            }
          }
        },
      }));
      if (this.searches.get(searchId) !== watch) {
        await follower.close();
        return;
      }
      watch.follower = follower;
      watch.progress = this.bus.nc.subscribe(eventSubject(searchId), {
        callback: (err, msg) => {
          // Most events on the subject are not progress (queued, finished, attempts): skip them
          // without decoding, a byte search being far cheaper than JSON.parse and validation.
          if (err || Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).indexOf(PROGRESS_BYTES) < 0) return;
          try {
            const e = decodeBusEvent(msg.data, msg.subject);
            if (e.kind !== 'child_progress') return;
            for (const w of watch.waiters.get(e.progress.childId) ?? []) w.onProgress?.(e.progress);
          } catch {
            // Not ours to judge: the event stream's subscribers log undecodable events.
          }
        },
      });
      watch.isReady = true;
    })();
    watch.ready.catch(() => {
      if (this.searches.get(searchId) === watch) this.searches.delete(searchId);
    });
    this.searches.set(searchId, watch);
    return watch;
  }
}

/** Child and generation of a results subject `<prefix><childId>[.<generation>]`; undefined when it names neither. */
function parseResultSubject(subject: string, prefix: string): { childId: number; generation: number } | undefined {
  if (!subject.startsWith(prefix)) return undefined;
  const m = /^(0|[1-9][0-9]{0,15})(?:\.([1-9][0-9]{0,8}))?$/.exec(subject.slice(prefix.length));
  if (!m) return undefined;
  const childId = Number(m[1]);
  return Number.isSafeInteger(childId) ? { childId, generation: m[2] === undefined ? 0 : Number(m[2]) } : undefined;
}

type Verdict = { ok: true; result: ChildResult } | { ok: false; reason: string };

/** An accuracy or reward: a number in [0, 1] (the decoder already refused NaN and infinities). */
const unit = (x: number) => x >= 0 && x <= 1;

/**
 * Whether a stored result may be taken for `task`: it decodes as a
 * ChildResult for its subject, names the task's genotype hash (a result of
 * another child, or forged for another genotype, is not this one's) and
 * reports a reward and validation accuracies in [0, 1] (a reward of 1e300
 * would swamp the PPO baseline, paper section 3). Without a task only the
 * decoding and the ranges are judged.
 */
function judgeResult(data: Uint8Array, subject: string, task?: ChildTask): Verdict {
  let decoded: DecodedResult;
  try {
    decoded = decodeChildResult(data, subject);
  } catch (err) {
    return { ok: false, reason: err instanceof BusDecodeError ? err.message : new BusDecodeError(subject, '(message)', String((err as Error)?.message ?? err)).message };
  }
  const { result, genotypeHash } = decoded;
  const refused = (why: string): Verdict => ({ ok: false, reason: new ResultRejectedError(subject, why).message });
  if (task && genotypeHash !== task.hash) return refused(`genotype hash ${JSON.stringify(genotypeHash.slice(0, 80))} is not the task's ${JSON.stringify(task.hash)}`);
  if (!unit(result.reward)) return refused(`reward ${result.reward} is not a number in [0, 1]`);
  const bad = result.validationByEpoch.findIndex((v) => !unit(v));
  if (bad >= 0) return refused(`validation_by_epoch[${bad}] ${result.validationByEpoch[bad]} is not an accuracy in [0, 1]`);
  return { ok: true, result };
}

/** The answer of a child whose every generation's result was refused: it fails, and the search goes on. */
function refusedResult(task: ChildTask, reason: string): ChildResult {
  return { childId: task.childId, status: 'failed', reward: 0, reason, validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0 };
}

/** The kind of the events the progress subscription passes on, as it appears in their JSON. */
const PROGRESS_BYTES = Buffer.from('"child_progress"');

function abortError(task: ChildTask, signal: AbortSignal): ChildAbortedError {
  const r: unknown = signal.reason;
  const reason = r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
  return new ChildAbortedError(task.searchId, task.childId, reason, r instanceof Error ? { cause: r } : undefined);
}
