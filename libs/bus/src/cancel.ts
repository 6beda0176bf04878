import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import type { BusConnection } from './connect.js';
import { cancelKey, KV_CANCELS } from './types.js';

/**
 * Cancellation markers in the nas_cancels bucket: key `<searchId>` cancels
 * a whole search, `<searchId>.<childId>` one child; the value is the reason.
 * They are KV entries, not core messages, so a trainer that takes a task
 * hours after the search was cancelled still sees it, and one training it
 * when the marker appears hears of it through a watch.
 */
export class CancelBoard {
  private readonly listeners = new Map<string, Set<(reason: string) => void>>();
  private stopWatch?: () => void;

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
   * marker falls between the two). Idempotent.
   */
  async follow(): Promise<void> {
    if (this.stopWatch) return;
    const it = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
    this.stopWatch = () => it.stop();
    void (async () => {
      for await (const e of it) {
        if (e.operation !== 'PUT') continue;
        const reason = e.string();
        for (const l of this.listeners.get(e.key) ?? []) l(reason);
      }
    })().catch(() => {});
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
    this.listeners.clear();
  }
}
