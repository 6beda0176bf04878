/**
 * Share of the time a service may spend saving one job: a save comes no
 * sooner than lastWriteMs / WRITE_BUDGET after the last. A 20,000-child
 * search state is ~21 MB of JSON; written every second it kept a core busy
 * (test/bench/load.ts), written every ~10 write-times it costs a tenth of
 * that. Nothing is lost in between for a search: finished children's
 * results stay in NAS_RESULTS, where a resumed search finds them.
 */
export const WRITE_BUDGET = 0.1;

export interface ThrottledWriterOptions {
  /** Unforced saves come at most this often. */
  minGapMs: number;
  /** @default WRITE_BUDGET */
  budget?: number;
  /** A failed write (it is not retried by itself; the next save writes the newer state). */
  onError: (err: Error) => void;
}

/**
 * Saves one job through `write`, which takes the job as it is when the
 * write starts. Writes never overlap, and at most one waits behind the one
 * running: a save asked for while a large state is being written joins the
 * waiting write instead of queueing a copy of its own (a 20,000-child
 * search made checkpoints faster than the store wrote them, and a queue of
 * copies ran the controller out of memory). Unforced saves come at most
 * every minGapMs and budget^-1 write-times; one put off is written once its
 * time has come, even if nothing else asks. A forced save resolves once a
 * write that started after the call has finished: true when it was stored.
 */
export class ThrottledWriter {
  /** The last write asked for (the tail of the chain). */
  private tail: Promise<boolean> = Promise.resolve(true);
  /** A write that has not started yet: later requests join it. */
  private queued?: Promise<boolean>;
  private lastSaveMs = 0;
  /** How long the last write took. */
  private lastWriteMs = 0;
  /** A save put off by the gap, due when it has passed. */
  private trailing?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly write: () => Promise<void>, private readonly options: ThrottledWriterOptions) {}

  save(force: boolean): Promise<boolean> {
    if (this.stopped) return this.tail;
    const gapMs = Math.max(this.options.minGapMs, this.lastWriteMs / (this.options.budget ?? WRITE_BUDGET));
    const waitMs = this.lastSaveMs + gapMs - Date.now();
    if (!force && waitMs > 0) {
      // Not yet; but do save once the gap has passed, even if nothing else happens by then.
      this.trailing ??= setTimeout(() => {
        this.trailing = undefined;
        void this.save(true);
      }, waitMs).unref();
      return this.tail;
    }
    this.clearTrailing();
    this.lastSaveMs = Date.now();
    if (this.queued) return this.queued;
    const next = this.tail.then(async () => {
      this.queued = undefined;
      const started = performance.now();
      try {
        await this.write();
        this.lastWriteMs = performance.now() - started;
        return true;
      } catch (err) {
        this.options.onError(err instanceof Error ? err : new Error(String(err)));
        return false;
      }
    });
    this.queued = next;
    this.tail = next;
    return next;
  }

  /** Resolves when every write asked for so far has ended. */
  idle(): Promise<boolean> {
    return this.tail;
  }

  /** No more saves (the job left memory); a write in progress still ends. */
  stop(): void {
    this.stopped = true;
    this.clearTrailing();
  }

  private clearTrailing(): void {
    if (this.trailing) {
      clearTimeout(this.trailing);
      this.trailing = undefined;
    }
  }
}
