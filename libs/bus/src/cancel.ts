import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import type { BusConnection } from './connect.js';
import { cancelKey, KV_CANCELS } from './types.js';

/**
 * Cancellation markers in the nas_cancels bucket: key `<searchId>` cancels
 * a whole search, `<searchId>.<childId>` one child; the value is the reason.
 * They are KV entries, not core messages, so a trainer that takes a task
 * hours after the search was cancelled still sees it, and one training it
 * when the marker appears hears of it through a watch.
 *
 * A board that follows() also keeps the keys of the markers in the bucket
 * (listed once, then kept current by the watch), so a trainer learns that
 * a task it took has no marker without asking the server (mayBeMarked):
 * two KV lookups per task were a round trip between a delivery and the start
 * of training, paid by every child (dispatch latency, test/bench/load.ts).
 */
export class CancelBoard {
  private readonly listeners = new Map<string, Set<(reason: string) => void>>();
  private stopWatch?: () => void;
  /** Keys that may hold a marker (a PUT seen last), while `complete`. */
  private readonly marked = new Set<string>();
  /** `marked` holds every marker in the bucket: listed after the watch started, and the watch is alive. */
  private complete = false;

  private constructor(private readonly kv: KV) {}

  /** Opens the bucket (ensureStreams creates it). */
  static async open(bus: BusConnection): Promise<CancelBoard> {
    return new CancelBoard(await new Kvm(bus.js).open(KV_CANCELS));
  }

  /** Marks a search (childId undefined) or one child cancelled. */
  async cancel(searchId: string, reason: string, childId?: number): Promise<void> {
    await this.kv.put(cancelKey(searchId, childId), reason || 'cancelled');
  }

  /** Removes a child's (or search's) marker, if there is one, so it can run again. */
  async clear(searchId: string, childId?: number): Promise<void> {
    const key = cancelKey(searchId, childId);
    const e = await this.kv.get(key);
    if (e && e.operation === 'PUT') await this.kv.purge(key);
  }

  /** Why the child (or its whole search) was cancelled; undefined when it was not. */
  async reasonFor(searchId: string, childId: number): Promise<string | undefined> {
    // Both keys at once: every task a trainer takes waits for this check.
    const entries = await Promise.all([this.kv.get(cancelKey(searchId)), this.kv.get(cancelKey(searchId, childId))]);
    for (const e of entries) if (e && e.operation === 'PUT') return e.string();
    return undefined;
  }

  /**
   * Starts following new markers (call before the first reasonFor() so no
   * marker falls between the two), then lists the keys of those already
   * there, after which mayBeMarked() answers locally. Idempotent.
   */
  async follow(): Promise<void> {
    if (this.stopWatch) return;
    const it = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    let alive = true;
    this.stopWatch = () => it.stop();
    void (async () => {
      for await (const e of it) {
        if (e.operation !== 'PUT') {
          // A cleared marker (the controller queues the child again): it no longer stops anything.
          this.marked.delete(e.key);
          continue;
        }
        this.marked.add(e.key);
        const reason = e.string();
        for (const l of [...(this.listeners.get(e.key) ?? [])]) l(reason);
      }
    })().catch(() => {}).finally(() => {
      // Without the watch the kept keys go stale: every question goes to the server again.
      alive = false;
      this.complete = false;
    });
    // Listed after the watch started, so no marker falls between the two. A key cleared meanwhile
    // may be listed all the same: mayBeMarked() then says "ask", and reasonFor() reads the truth.
    for await (const key of await this.kv.keys()) this.marked.add(key);
    this.complete = alive && this.stopWatch !== undefined;
  }

  /**
   * False when the child and its search are known to have no marker: the
   * board follows (follow() returned) and its watch has seen none. True
   * means "ask reasonFor()": a marker may exist (or the board does not
   * know). A marker made after this answer reaches onCancel() listeners, so
   * a caller registers its listener before asking.
   */
  mayBeMarked(searchId: string, childId: number): boolean {
    return !this.complete || this.marked.has(cancelKey(searchId)) || this.marked.has(cancelKey(searchId, childId));
  }

  /** Calls `listener` when the child or its search gets a marker from now on; returns the unsubscribe. */
  onCancel(searchId: string, childId: number, listener: (reason: string) => void): () => void {
    const keys = [cancelKey(searchId), cancelKey(searchId, childId)];
    for (const k of keys) {
      let set = this.listeners.get(k);
      if (!set) this.listeners.set(k, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const k of keys) {
        const set = this.listeners.get(k);
        set?.delete(listener);
        if (set?.size === 0) this.listeners.delete(k);
      }
    };
  }

  /** Calls `listener` when the whole search gets a marker from now on; returns the unsubscribe. */
  onSearchCancel(searchId: string, listener: (reason: string) => void): () => void {
    const key = cancelKey(searchId);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  /** Why the whole search was cancelled; undefined when it was not. */
  async searchReason(searchId: string): Promise<string | undefined> {
    const e = await this.kv.get(cancelKey(searchId));
    return e && e.operation === 'PUT' ? e.string() : undefined;
  }

  stop(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.complete = false;
    this.marked.clear();
    this.listeners.clear();
  }
}
