/**
 * Each search's trainer pool: its own work queue on the bus (consumer
 * trainers-<searchId>, @nasnet/bus search-queue.ts) and its own launch (a
 * Kubernetes Job or local processes, @nasnet/launcher), kept in step:
 *
 * - start: the queue is made before the trainers, so they find it;
 * - while the search runs the launch is watched: a launch that ends while
 *   the search still runs (its Job failed: backoffLimit, podFailurePolicy,
 *   deadline; or it was deleted) is reported through onFailed with the
 *   Job's reason and message, and the search ends FAILED with them;
 * - end: the queue is deleted (the trainers see it gone and exit 0, so the
 *   Job completes), then after a drain period the launch is stopped (Job
 *   deleted); a failed stop is retried with back-off, and
 * - reconcile (at start and every reconcileEveryMs) removes launches and
 *   queues of searches that ended or that this controller does not know,
 *   so nothing is left running forever.
 */
import {
  closeSearchQueue, deleteSharedQueue, listSearchQueues, openSearchQueue,
  type BusConnection, type SearchQueueOptions,
} from '@nasnet/bus';
import type { LaunchHandle, LaunchRequest, LaunchStatus, TrainerLauncher } from '@nasnet/launcher';
import type { Launcher, LaunchHooks } from './manager.js';

export interface TrainerPoolsOptions {
  bus: BusConnection;
  launcher: TrainerLauncher;
  /**
   * Whether the search is pending or running here. Reconcile removes the
   * launches and queues of searches for which it resolves false; when it
   * rejects, the search is left alone (never delete on doubt).
   */
  isActive: (searchId: string) => Promise<boolean>;
  /** Settings of every search's queue. @default openSearchQueue's (30 s ack wait, 5 attempts) */
  queue?: SearchQueueOptions;
  /** After a search's queue is deleted, its trainers get this long to exit by themselves before the launch is stopped. @default 30000 */
  drainMs?: number;
  /** First wait before a failed stop or queue deletion is tried again; doubles up to 60 s. @default 2000 */
  retryMs?: number;
  /** Reconcile this often (0: only when reconcile() is called). @default 60000 */
  reconcileEveryMs?: number;
  /** @default no log */
  log?: (line: string) => void;
}

interface Pool {
  handle: LaunchHandle;
  unwatch: () => void;
  ending: boolean;
}

const MAX_RETRY_MS = 60_000;

/** What a launch that ended under a running search tells the search's status. */
export function launchFailureMessage(handle: LaunchHandle, status: LaunchStatus): string {
  const what = status.outcome === 'failed' ? 'failed' : status.outcome === 'succeeded' ? 'exited while the search was running' : 'was stopped';
  const detail = `${status.reason ?? 'no reason given'}${status.message ? `: ${status.message}` : ''}`;
  return `trainers ${handle.id} ${what} (${detail}; ${status.failed} trainer${status.failed === 1 ? '' : 's'} failed)`;
}

export class TrainerPools implements Launcher {
  private readonly pools = new Map<string, Pool>();
  /** Searches whose launch is being stopped (drain, retries), so reconcile leaves them to it. */
  private readonly stopping = new Set<string>();
  private readonly background = new Set<Promise<void>>();
  private readonly log: (line: string) => void;
  /** Pending waits (retry back-off, drains), each with what ends it early on close(). */
  private readonly waits = new Map<NodeJS.Timeout, () => void>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: TrainerPoolsOptions) {
    this.log = options.log ?? (() => {});
  }

  /**
   * Removes the shared `trainers` consumer a controller without launcher
   * may have left (per-search queues cannot live beside it), reconciles, and
   * starts the periodic reconcile.
   */
  async start(): Promise<void> {
    if (await deleteSharedQueue(this.options.bus)) {
      this.log('deleted the shared trainers consumer (nas.tasks.>) of a controller without launcher: every search gets its own queue now');
    }
    await this.reconcile().catch((err: Error) => this.log(`reconciling trainer launches failed: ${err.message}; trying again later`));
    const every = this.options.reconcileEveryMs ?? 60_000;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => {
        this.reconcile().catch((err: Error) => this.log(`reconciling trainer launches failed: ${err.message}`));
      }, every);
      this.reconcileTimer.unref();
    }
  }

  async launch(request: LaunchRequest, hooks: LaunchHooks = {}): Promise<{ stop(): Promise<void> }> {
    const id = request.searchId;
    await openSearchQueue(this.options.bus, id, this.options.queue);
    let handle: LaunchHandle;
    try {
      handle = await this.options.launcher.launch(request);
    } catch (err) {
      await closeSearchQueue(this.options.bus, id).catch((e: Error) => this.log(`search ${id}: deleting its work queue failed: ${e.message}`));
      throw err;
    }
    const pool: Pool = { handle, unwatch: () => {}, ending: false };
    this.pools.set(id, pool);
    this.stopping.delete(id);
    pool.unwatch = handle.watch(
      (status) => {
        if (!status.done || pool.ending) return;
        // Trainers exit 0 only once they see their search end (a cancel marker can reach them before
        // end() is called here): a completed launch is no failure. One that failed or vanished is.
        if (status.outcome === 'succeeded') {
          this.log(`search ${id}: trainers ${handle.id} completed (${status.succeeded} exited 0)`);
          return;
        }
        const message = launchFailureMessage(handle, status);
        this.log(`search ${id}: ${message}`);
        hooks.onFailed?.(message);
      },
      (err) => this.log(`search ${id}: watching ${handle.id}: ${err.message}`),
    );
    this.log(`search ${id}: trainers ${handle.id} started (${request.trainers}), work queue trainers-${id}`);
    return { stop: () => this.end(id) };
  }

  /**
   * The search ended: deletes its queue now (its trainers exit 0), and in
   * the background waits up to drainMs for the launch to finish, then
   * stops it, retrying until it is gone. Resolves after the queue's
   * deletion was tried once.
   */
  async end(searchId: string): Promise<void> {
    const pool = this.pools.get(searchId);
    if (pool) {
      pool.ending = true;
      pool.unwatch();
      this.pools.delete(searchId);
    }
    let queueGone = true;
    try {
      await closeSearchQueue(this.options.bus, searchId);
    } catch (err) {
      queueGone = false;
      this.log(`search ${searchId}: deleting its work queue failed: ${(err as Error).message}; trying again`);
    }
    if (!queueGone) this.retry(searchId, 'deleting its work queue', () => closeSearchQueue(this.options.bus, searchId));
    if (pool) this.drainThenStop(searchId, pool.handle);
  }

  /**
   * Stops the launches and deletes the queues of searches that ended or
   * that this controller does not know (isActive false), leaving the live
   * ones and those being stopped alone. Returns the search ids it removed.
   */
  async reconcile(): Promise<{ launches: string[]; queues: string[] }> {
    const removed = { launches: [] as string[], queues: [] as string[] };
    const leave = async (id: string, beingStopped = false): Promise<boolean> => {
      if ((this.pools.has(id) && !this.pools.get(id)!.ending) || beingStopped) return true;
      try {
        return await this.options.isActive(id);
      } catch {
        return true;
      }
    };
    for (const listed of (await this.options.launcher.list?.()) ?? []) {
      if (await leave(listed.searchId, this.stopping.has(listed.searchId))) continue;
      removed.launches.push(listed.searchId);
      this.log(`reconcile: stopping trainers ${listed.handle.id} of search ${listed.searchId} (${listed.status.done ? 'finished' : 'running'}), which is not active here`);
      this.stopWithRetry(listed.searchId, listed.handle);
    }
    for (const id of await listSearchQueues(this.options.bus)) {
      if (await leave(id)) continue;
      removed.queues.push(id);
      this.log(`reconcile: deleting the work queue of search ${id}, which is not active here`);
      await closeSearchQueue(this.options.bus, id).catch((err: Error) => this.log(`reconcile: deleting the work queue of search ${id} failed: ${err.message}`));
    }
    return removed;
  }

  /**
   * Stops periodic work. With stopLaunches (local trainer processes, which
   * are this process's children) every live launch is stopped too; Jobs are
   * left running for a restarted controller to adopt.
   */
  async close(options: { stopLaunches?: boolean } = {}): Promise<void> {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (options.stopLaunches) {
      await Promise.allSettled([...this.pools.values()].map(async (p) => {
        p.ending = true;
        p.unwatch();
        await p.handle.stop();
      }));
      this.pools.clear();
    }
    this.closed = true;
    // Waits end now: drains go on to their stop at once, retries give up.
    for (const [t, end] of this.waits) { clearTimeout(t); end(); }
    this.waits.clear();
    await Promise.allSettled([...this.background]);
  }

  private drainThenStop(searchId: string, handle: LaunchHandle): void {
    this.stopping.add(searchId);
    const drained = new Promise<void>((resolve) => {
      let unwatch = () => {};
      const finish = () => {
        clearTimeout(timer);
        this.waits.delete(timer);
        queueMicrotask(() => unwatch());
        resolve();
      };
      const timer = setTimeout(finish, this.closed ? 0 : this.options.drainMs ?? 30_000);
      timer.unref();
      this.waits.set(timer, finish);
      unwatch = handle.watch((s) => { if (s.done) finish(); }, () => {});
    });
    this.track(drained.then(async () => {
      const s = await handle.status().catch(() => undefined);
      if (s) this.log(`search ${searchId}: trainers ${handle.id} ${s.done ? 'finished' : 'still running after the drain'}: ${s.succeeded} exited 0, ${s.failed} failed, ${s.active} running`);
      this.stopWithRetry(searchId, handle);
    }));
  }

  private stopWithRetry(searchId: string, handle: LaunchHandle): void {
    this.stopping.add(searchId);
    this.retry(searchId, `stopping trainers ${handle.id}`, () => handle.stop(), () => {
      this.stopping.delete(searchId);
      this.log(`search ${searchId}: trainers ${handle.id} stopped`);
    });
  }

  /** Runs `action` until it succeeds (back-off from retryMs, doubling to 60 s) or close(). */
  private retry(searchId: string, what: string, action: () => Promise<void>, onDone: () => void = () => {}): void {
    let wait = this.options.retryMs ?? 2000;
    const attempt = (): Promise<void> => action().then(onDone, (err: Error) => {
      if (this.closed) return;
      this.log(`search ${searchId}: ${what} failed: ${err.message}; trying again in ${wait} ms`);
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waits.delete(timer);
          resolve(attempt());
        }, wait);
        timer.unref();
        this.waits.set(timer, resolve);
        wait = Math.min(wait * 2, MAX_RETRY_MS);
      });
    });
    this.track(attempt());
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err: Error) => this.log(`trainer pools: ${err.message}`)).finally(() => this.background.delete(q));
    this.background.add(q);
  }
}
