import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import type { ChildExecutor, ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { CancelBoard } from './cancel.js';
import { decodeBusEvent, decodeChildResult, encodeChildTask } from './codec.js';
import type { BusConnection } from './connect.js';
import { BusDecodeError, ChildAbortedError, ExecutorClosedError } from './errors.js';
import { followStream, type StreamFollower } from './follow.js';
import { publishDeadLetter } from './publish.js';
import { eventSubject, resultSubject, STREAM_RESULTS, taskSubject } from './types.js';

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
  waiters: Map<number, Set<Waiter>>;
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
        signal?.removeEventListener('abort', onAbort);
        this.removeWaiter(searchId, w);
        return true;
      };
      onAbort = () => {
        const err = abortError(task, signal!);
        if (waiter.settled) return;
        waiter.reject(err);
        // Only a task that may be queued needs trainers to hear of it.
        if (published !== 'no') this.track(this.cancels().then((b) => b.cancel(searchId, err.reason, childId)));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = watch.waiters.get(childId);
      if (!set) watch.waiters.set(childId, (set = new Set()));
      set.add(waiter);
      if (watch.idleTimer) { clearTimeout(watch.idleTimer); watch.idleTimer = undefined; }

      void (async () => {
        await watch.ready;
        if (waiter.settled) return;
        const subject = resultSubject(searchId, childId);
        let msgId = `${searchId}.${childId}.${task.phase}`;
        // Both lookups at once: they are independent, and each is a round trip
        // on the way from proposal to queue (dispatch latency, test/bench/load.ts).
        // A direct get answers "no result" with a status, not an API error to build and catch.
        const [stored] = await Promise.all([
          this.bus.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: subject }),
          // A marker left by an earlier run's cancellation must not stop this one.
          this.cancels().then((board) => board.clear(searchId, childId)),
        ]);
        if (stored) {
          try {
            const { result } = decodeChildResult(stored.data, stored.subject);
            if (result.status !== 'cancelled') return waiter.resolve(result);
            waiter.minSeq = stored.seq;
            msgId = `${msgId}.after${stored.seq}`;
          } catch (err) {
            this.deadLetterResult(stored.data, stored.subject, stored.seq, err);
          }
        }
        if (waiter.settled) return;
        const wire = encodeChildTask(task);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(wire.headers)) h.set(k, v);
        published = 'publishing';
        await this.bus.js.publish(taskSubject(searchId), wire.data, { msgID: msgId, headers: h });
        published = 'yes';
      })().catch((err: unknown) => waiter.reject(err instanceof Error ? err : new Error(String(err))));
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
    const watch: SearchWatch = { waiters: new Map(), ready: Promise.resolve() };
    watch.ready = (async () => {
      // Start right after the last stored result: whatever is stored now the
      // lookup in execute() finds, whatever comes later this consumer sees.
      const info = await this.bus.jsm.streams.info(STREAM_RESULTS);
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
          for (const w of [...(watch.waiters.get(result.childId) ?? [])]) if (m.seq > w.minSeq) w.resolve(result);
        },
      });
      if (this.searches.get(searchId) !== watch) {
        await follower.close();
        return;
      }
      watch.follower = follower;
      watch.progress = this.bus.nc.subscribe(eventSubject(searchId), {
        callback: (err, msg) => {
          if (err) return;
          try {
            const e = decodeBusEvent(msg.data, msg.subject);
            if (e.kind !== 'child_progress') return;
            for (const w of watch.waiters.get(e.progress.childId) ?? []) w.onProgress?.(e.progress);
          } catch {
            // Not ours to judge: the event stream's subscribers log undecodable events.
          }
        },
      });
    })();
    watch.ready.catch(() => {
      if (this.searches.get(searchId) === watch) this.searches.delete(searchId);
    });
    this.searches.set(searchId, watch);
    return watch;
  }
}

function abortError(task: ChildTask, signal: AbortSignal): ChildAbortedError {
  const r: unknown = signal.reason;
  const reason = r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
  return new ChildAbortedError(task.searchId, task.childId, reason, r instanceof Error ? { cause: r } : undefined);
}
