import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import type { ChildExecutor, ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { CancelBoard } from './cancel.js';
import { decodeBusEvent, decodeChildResult, encodeChildTask } from './codec.js';
import type { BusConnection } from './connect.js';
import { BusDecodeError, ChildAbortedError, ExecutorClosedError } from './errors.js';
import { followStream, type StreamFollower } from './follow.js';
import { publishDeadLetter } from './publish.js';
import { eventSubject, KV_CANCELS, resultSubject, STREAM_RESULTS, taskSubject } from './types.js';

export interface JetStreamExecutorOptions {
  /** Diagnostics (undecodable results, failed cancellation markers). @default stderr */
  log?: (line: string) => void;
  /** Stop following a search's results this long after its last pending child. @default 60000 */
  idleMs?: number;
  /** Written into the dead letters of undecodable results (Nas-Dlq-By). @default 'controller' */
  by?: string;
}

interface Waiter {
  childId: number;
  resolve(r: ChildResult): void;
  reject(e: Error): void;
  onProgress?: (p: ChildProgress) => void;
  /** Results at or below this stream sequence are stale (a 'cancelled' one from an earlier run). */
  minSeq: number;
  settled: boolean;
}

interface SearchWatch {
  ready: Promise<void>;
  /** `ready` has resolved: the sets below are filled and results are followed. */
  isReady: boolean;
  waiters: Map<number, Set<Waiter>>;
  /**
   * Children that may have a result in NAS_RESULTS no waiter has taken:
   * those with one stored when the watch started, and those whose result
   * came while nobody waited for it. Only these need a lookup before their
   * task is queued.
   */
  maybeStored: Set<number>;
  /** Children that may have a cancellation marker (one when the watch started, or one this executor wrote). */
  maybeMarked: Set<number>;
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
 * 2. Otherwise publishes the task with Nats-Msg-Id
 *    `<searchId>.<childId>.<phase>`: re-dispatching an in-flight child
 *    (controller restart) does not queue it twice within the stream's
 *    duplicate window.
 * 3. Resolves with the first result on `nas.results.<searchId>.<childId>`;
 *    one ordered consumer per search (re-created after a reconnect, see
 *    followStream) serves every pending child, later
 *    copies (a trainer redelivered the task and published again) are
 *    ignored. Progress of the child (nas.events, kind child_progress) goes
 *    to hooks.onProgress.
 *
 * An aborted execute rejects with ChildAbortedError, publishes no task if it
 * had not yet, and marks the child cancelled in nas_cancels: a trainer
 * training it stops, one that takes it later skips it, both answering with a
 * 'cancelled' result. A stored 'cancelled' result is not reused: executing
 * that child again queues it anew (Nats-Msg-Id suffixed with the stale
 * result's sequence, so this too is queued once).
 *
 * A message on a followed search's results subjects that is not a valid
 * ChildResult for that subject is dead-lettered to nas.dlq.results with the
 * decoder's reason (once per stream sequence, though the lookup and the
 * consumer may both meet it) and otherwise ignored: the child keeps
 * waiting for its real result.
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

  constructor(private readonly bus: BusConnection, options: JetStreamExecutorOptions = {}) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.idleMs = options.idleMs ?? 60_000;
    this.by = options.by ?? 'controller';
  }

  private cancels(): Promise<CancelBoard> {
    this.board ??= CancelBoard.open(this.bus);
    return this.board;
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
        childId, minSeq: 0, settled: false,
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        resolve: (r) => { if (settle(waiter)) resolve(r); },
        reject: (e) => { if (settle(waiter)) reject(e); },
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
          this.track(this.cancels().then((b) => b.cancel(searchId, err.reason, childId)));
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
      const queue = async (msgId: string): Promise<void> => {
        const wire = encodeChildTask(task);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(wire.headers)) h.set(k, v);
        published = 'publishing';
        await this.bus.js.publish(taskSubject(searchId), wire.data, { msgID: msgId, headers: h });
        published = 'yes';
      };
      const msgId = `${searchId}.${childId}.${task.phase}`;
      if (watch.isReady && !watch.maybeStored.has(childId) && !watch.maybeMarked.has(childId)) {
        // A fresh child of a followed search: queued in this very call, before any other work
        // the caller does next (a large state save, say) can hold it up.
        queue(msgId).catch(fail);
        return;
      }
      void (async () => {
        await watch.ready;
        if (waiter.settled) return;
        let id = msgId;
        // Both lookups at once, and only those the child may need (see SearchWatch).
        const [stored] = await Promise.all([
          watch.maybeStored.has(childId)
            ? this.bus.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: resultSubject(searchId, childId) })
            : Promise.resolve(null),
          // A marker left by an earlier run's cancellation must not stop this one.
          watch.maybeMarked.has(childId) ? this.cancels().then((board) => board.clear(searchId, childId)) : Promise.resolve(),
        ]);
        if (stored) {
          try {
            const { result } = decodeChildResult(stored.data, stored.subject);
            if (result.status !== 'cancelled') return waiter.resolve(result);
            waiter.minSeq = stored.seq;
            id = `${msgId}.after${stored.seq}`;
          } catch (err) {
            this.deadLetterResult(stored.data, stored.subject, stored.seq, err);
          }
        }
        if (waiter.settled) return;
        await queue(id);
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
    await (await this.cancels()).cancel(searchId, reason);
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

  /** Records a message on a results subject that is no ChildResult for it in nas.dlq.results, with why. */
  private deadLetterResult(data: Uint8Array, subject: string, seq: number, err: unknown): void {
    const reason = err instanceof BusDecodeError ? err.message : new BusDecodeError(subject, '(message)', String((err as Error)?.message ?? err)).message;
    this.log(`bus: dead-lettering result seq ${seq}: ${reason}`);
    this.track(publishDeadLetter(this.bus, { kind: 'results', data, reason, subject, stream: STREAM_RESULTS, streamSequence: seq, by: this.by }));
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
    const watch: SearchWatch = { waiters: new Map(), ready: Promise.resolve(), isReady: false, maybeStored: new Set(), maybeMarked: new Set() };
    watch.ready = (async () => {
      // Which children have a stored result or a cancellation marker: one stream-info request each
      // (subject counts, paged by the client), instead of two lookups per child. Start following
      // right after the last stored result: whatever is stored now is in these sets, whatever
      // comes later the consumer sees.
      const resultsPrefix = `nas.results.${searchId}.`, markersPrefix = `$KV.${KV_CANCELS}.${searchId}.`;
      const [info, markers] = await Promise.all([
        this.bus.jsm.streams.info(STREAM_RESULTS, { subjects_filter: `${resultsPrefix}*` }),
        this.bus.jsm.streams.info(`KV_${KV_CANCELS}`, { subjects_filter: `${markersPrefix}*` }),
      ]);
      for (const subject of Object.keys(info.state.subjects ?? {})) watch.maybeStored.add(Number(subject.slice(resultsPrefix.length)));
      for (const subject of Object.keys(markers.state.subjects ?? {})) watch.maybeMarked.add(Number(subject.slice(markersPrefix.length)));
      const follower = await followStream(this.bus, STREAM_RESULTS, {
        filter: `nas.results.${searchId}.>`, start: { policy: 'sequence', seq: info.state.last_seq + 1 }, log: this.log,
        onMessage: (m) => {
          let result: ChildResult;
          try {
            result = decodeChildResult(m.data, m.subject).result;
          } catch (err) {
            this.deadLetterResult(m.data, m.subject, m.seq, err);
            return;
          }
          let taken = false;
          for (const w of [...(watch.waiters.get(result.childId) ?? [])]) {
            if (m.seq > w.minSeq) { w.resolve(result); taken = true; }
          }
          // Nobody waited (a restarted controller not yet re-executing it): the next execute looks it up.
          if (!taken) watch.maybeStored.add(result.childId);
        },
      });
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

/** The kind of the events the progress subscription passes on, as it appears in their JSON. */
const PROGRESS_BYTES = Buffer.from('"child_progress"');

function abortError(task: ChildTask, signal: AbortSignal): ChildAbortedError {
  const r: unknown = signal.reason;
  const reason = r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
  return new ChildAbortedError(task.searchId, task.childId, reason, r instanceof Error ? { cause: r } : undefined);
}
