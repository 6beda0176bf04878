/**
 * A child trainer in a cluster: pulls ChildTasks from the NAS_TASKS work
 * queue one at a time, trains each, publishes its ChildResult, and tells the
 * world what it does on nas.events (attempts, progress, heartbeats).
 */
import {
  CancelBoard, NatsEventBus, onReconnect, publishChildResult, ResultSubjectTakenError, searchQueueExists, SearchQueueGoneError, TrainerConsumer, withBusRetry,
  type BusConnection, type BusEvent, type EventBus, type TaskDelivery,
} from '@nasnet/bus';
import { childDeadlineReason, type ChildResult, type ChildTask } from '@nasnet/search';
// A type-only import: runChildTask itself is loaded on first use (see TrainerLoopOptions.train).
import type { TrainFunction } from '@nasnet/trainer';

export interface TrainerLoopOptions {
  bus: BusConnection;
  /** Pod name or hostname-pid; written into results and events. */
  trainerId: string;
  /**
   * The search this trainer was launched for (SEARCH_ID): it takes only that
   * search's children, from the search's own queue (TrainerConsumerOptions.searchId),
   * and returns once the search has ended: its queue is gone (the controller
   * deletes it when the search succeeds, fails or is cancelled) or the search
   * is cancelled in nas_cancels. A child in training then is stopped and
   * answered 'cancelled'. Unset: children of every search from the shared queue,
   * until `signal`.
   */
  searchId?: string;
  /** With searchId: how often the search's queue is checked for. @default 2000 */
  searchCheckMs?: number;
  /** @default runChildTask from @nasnet/trainer, imported on first use (tests pass fakes and never load TensorFlow.js) */
  train?: TrainFunction;
  /** Abort to stop: the current child is given back (nak) for another trainer, then the loop returns. */
  signal?: AbortSignal;
  /** A trainer_heartbeat event this often. @default 10000 */
  heartbeatMs?: number;
  /** @default 30000 (see TrainerConsumerOptions.ackWaitMs) */
  ackWaitMs?: number;
  /** Training attempts per child. @default 5 */
  maxAttempts?: number;
  /** Redelivery delays after a vanished trainer. @default TrainerConsumer's */
  backoffMs?: number[];
  /** Delay before a child that threw is offered again. @default attempt x 1000 ms */
  retryDelayMs?: (attempt: number) => number;
  /** @default TrainerConsumer's (5000) */
  pullExpiresMs?: number;
  /**
   * How long publishing a finished child's result (and the lookups around
   * it) is retried with back-off (the bus reconnecting, withBusRetry)
   * before the child is handed back to be trained again.
   * @default 300000 (outlasts a 60 s outage with room to spare)
   */
  resultRetryMs?: number;
  /** @default NatsEventBus on `bus` */
  events?: EventBus;
  /** @default stderr */
  log?: (line: string) => void;
}

/** What a loop did, for its caller's logs and tests. */
export interface TrainerLoopStats {
  /** Results published from train() (any status it returned). */
  trained: number;
  /** Children that threw at their last attempt and were failed. */
  failed: number;
  /** Children that threw earlier and were given back for another attempt. */
  retried: number;
  /** Children skipped or stopped because they or their search were cancelled. */
  cancelled: number;
  /** Children given back because this trainer was stopping. */
  handedBack: number;
  /** With searchId: why the loop returned because the search ended. */
  searchEnded?: string;
}

type Stopping = { why: 'shutdown' } | { why: 'cancel'; reason: string } | { why: 'deadline'; reason: string };

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function emptyResult(task: ChildTask, status: 'failed' | 'cancelled', reason: string, trainer: string, attempts: number): ChildResult {
  return { childId: task.childId, status, reward: 0, reason, validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0, trainer, attempts };
}

/**
 * Pulls and trains until `signal` fires. For each delivery:
 * - its search or the child was cancelled (nas_cancels): publish a
 *   'cancelled' result without training, ack;
 * - otherwise publish child_attempt (redelivered when attempt > 1), train
 *   with progress events, and call working() every ackWaitMs / 3;
 * - train() returned (ok, diverged, early_stopped, or failed with a reason
 *   as runChildTask reports bad data): publish that result (retried while
 *   the bus reconnects, see resultRetryMs), ack;
 * - train() threw: nak with retryDelayMs(attempt), or at the last attempt
 *   publish a 'failed' result with the error and term;
 * - cancelled while training: the child's signal aborts; publish
 *   'cancelled', ack;
 * - `signal` fired while training: nak at once so another trainer takes
 *   it, let train() wind down, return.
 * Returns once the current child is handed back or done.
 */
export async function runTrainerLoop(options: TrainerLoopOptions): Promise<TrainerLoopStats> {
  const { bus, trainerId, signal } = options;
  const train: TrainFunction = options.train ?? (await import('@nasnet/trainer')).runChildTask;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const events = options.events ?? new NatsEventBus(bus);
  const retryDelayMs = options.retryDelayMs ?? ((attempt: number) => attempt * 1000);
  const resultRetryMs = options.resultRetryMs ?? 300_000;
  const retry = (what: string) => ({ what, maxMs: resultRetryMs, log, isClosed: () => bus.nc.isClosed(), nc: bus.nc });
  const stats: TrainerLoopStats = { trained: 0, failed: 0, retried: 0, cancelled: 0, handedBack: 0 };
  const emit = (e: BusEvent) => { events.publish(e).catch((err: unknown) => log(`trainer ${trainerId}: publishing ${e.kind}: ${errorText(err)}`)); };

  const board = await CancelBoard.open(bus);
  await board.follow();
  const searchId = options.searchId;
  // Aborts when the search this trainer serves has ended (searchId only).
  const ended = new AbortController();
  const pullSignal = signal ? AbortSignal.any([signal, ended.signal]) : ended.signal;
  const endSearch = (why: string) => {
    if (ended.signal.aborted) return;
    stats.searchEnded = why;
    log(`trainer ${trainerId}: search ${searchId} ended (${why}); stopping`);
    ended.abort(new Error(`search ${searchId} ended: ${why}`));
  };
  let unwatchSearch = () => {};
  if (searchId !== undefined) {
    const unlistenCancel = board.onSearchCancel(searchId, (reason) => endSearch(`cancelled: ${reason}`));
    let checking = false;
    const check = async () => {
      if (checking || ended.signal.aborted) return;
      checking = true;
      try {
        const reason = await board.searchReason(searchId);
        if (reason !== undefined) endSearch(`cancelled: ${reason}`);
        else if (!(await searchQueueExists(bus, searchId))) endSearch('its work queue is gone');
      } catch (err) {
        if (!bus.nc.isClosed()) log(`trainer ${trainerId}: checking on search ${searchId}: ${errorText(err)}`);
      } finally {
        checking = false;
      }
    };
    const checkTimer = setInterval(() => void check(), options.searchCheckMs ?? 2000);
    checkTimer.unref();
    unwatchSearch = () => { clearInterval(checkTimer); unlistenCancel(); };
    // A search cancelled before this trainer started has a marker but may still have its queue.
    await check();
  }
  let consumer: TrainerConsumer;
  try {
    consumer = await TrainerConsumer.start(bus, {
    trainerId,
    ...(searchId !== undefined ? { searchId } : {}),
    ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
    ...(options.pullExpiresMs !== undefined ? { pullExpiresMs: options.pullExpiresMs } : {}),
    log,
  });
  } catch (err) {
    unwatchSearch();
    board.stop();
    if (!(err instanceof SearchQueueGoneError)) throw err;
    stats.searchEnded ??= 'its work queue is gone';
    log(`trainer ${trainerId}: ${err.message}; nothing to do`);
    return stats;
  }
  if (ended.signal.aborted) {
    unwatchSearch();
    consumer.close();
    board.stop();
    return stats;
  }
  log(`trainer ${trainerId}: waiting for children${searchId !== undefined ? ` of search ${searchId}` : ''}`);
  let busy = false;
  // The delivery being trained or answered. working() calls sent while the server was away are lost:
  // it is told at once when the server is back, before the child's ack deadline (which kept running
  // from the last call that arrived) hands the child to another trainer. One listener for the loop,
  // not one per child (a status iterator per child was a visible cost with many trainers per process).
  let held: TaskDelivery | undefined;
  const unReconnect = onReconnect(bus.nc, () => held?.working());
  const heartbeat = () => emit({ kind: 'trainer_heartbeat', timeMs: Date.now(), trainer: trainerId, busy });
  heartbeat();
  const timer = setInterval(heartbeat, options.heartbeatMs ?? 10_000);
  try {
    for (;;) {
      const d = await consumer.next(pullSignal);
      if (!d) break;
      busy = true;
      try {
        const stop = await handle(d);
        if (stop || ended.signal.aborted) break;
      } finally {
        busy = false;
      }
    }
  } finally {
    clearInterval(timer);
    unReconnect();
    unwatchSearch();
    consumer.close();
    board.stop();
    // The last word (busy: false), awaited so a caller closing the connection next does not cut it off.
    await events.publish({ kind: 'trainer_heartbeat', timeMs: Date.now(), trainer: trainerId, busy: false })
      .catch((err: unknown) => log(`trainer ${trainerId}: publishing the last heartbeat: ${errorText(err)}`));
  }
  return stats;

  /**
   * Publishes a child's outcome on its generation's subject, retrying for
   * up to resultRetryMs while the bus reconnects (a PubAck lost to a server
   * restart): the child's training is done and must not be thrown away and
   * redone for that. The delivery is kept (working()) meanwhile; one
   * Nats-Msg-Id per delivery (task message and attempt), so a retry of a
   * publish that did land is stored once. A subject that holds a result
   * already (results are written once) keeps it: this child was answered
   * (a copy trained after a missed ack deadline), and the controller
   * judges what is there.
   */
  async function publishResult(d: TaskDelivery, result: ChildResult): Promise<void> {
    const { task, generation } = d;
    const msgId = `result.${task.searchId}.${task.childId}.g${generation}.${d.streamSequence}.${d.attempt}`;
    try {
      await withBusRetry(() => publishChildResult(bus, task, result, { msgId, generation }),
        retry(`trainer ${trainerId}: publishing the result of child ${task.childId} of ${task.searchId}`));
    } catch (err) {
      if (!(err instanceof ResultSubjectTakenError)) throw err;
      log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId} (generation ${generation}) was answered already; its first result stands`);
    }
  }

  /** Trains one delivery; true when the loop must stop (shutdown). */
  async function handle(d: TaskDelivery): Promise<boolean> {
    const { task, attempt } = d;
    const child = new AbortController();
    let stopping: Stopping | undefined;
    const stoppingNow = (): Stopping | undefined => stopping;
    // Listening before the marker check below: a marker the board hears of after the check stops the
    // child through this listener, one it heard of before is in the check (CancelBoard.mayBeMarked).
    const unlistenCancel = board.onCancel(task.searchId, task.childId, (reason) => {
      stopping ??= { why: 'cancel', reason };
      child.abort(new Error(`cancelled: ${reason}`));
    });
    let already: string | undefined;
    try {
      // The board knows locally that most tasks have no marker; only a possible one costs a lookup.
      if (board.mayBeMarked(task.searchId, task.childId)) {
        already = await withBusRetry(() => board.reasonFor(task.searchId, task.childId), retry(`trainer ${trainerId}: reading the cancel markers of child ${task.childId}`));
      }
      const heard = stoppingNow();
      if (already === undefined && heard?.why === 'cancel') already = heard.reason;
      if (already !== undefined) {
        unlistenCancel();
        await publishResult(d, emptyResult(task, 'cancelled', already, trainerId, attempt));
        stats.cancelled++;
        await d.ack();
        return false;
      }
    } catch (err) {
      unlistenCancel();
      // The bus stayed away past every retry: the task comes back after its ack deadline.
      log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId}: ${errorText(err)}; leaving it for redelivery`);
      return false;
    }
    emit({ kind: 'child_attempt', searchId: task.searchId, timeMs: Date.now(), trainer: trainerId, childId: task.childId, attempt, redelivered: attempt > 1 });

    // The search ended (succeeded, failed or cancelled) while this child trained: nobody waits for it.
    const onEnded = () => {
      const reason = ended.signal.reason instanceof Error ? ended.signal.reason.message : `search ${task.searchId} ended`;
      stopping ??= { why: 'cancel', reason };
      child.abort(new Error(reason));
    };
    ended.signal.addEventListener('abort', onEnded, { once: true });
    if (ended.signal.aborted) onEnded();
    const unlisten = () => { unlistenCancel(); ended.signal.removeEventListener('abort', onEnded); };
    const onShutdown = () => {
      if (stopping) return;
      stopping = { why: 'shutdown' };
      d.nak(0);
      stats.handedBack++;
      child.abort(new Error(`trainer ${trainerId} is shutting down`));
    };
    signal?.addEventListener('abort', onShutdown, { once: true });
    if (signal?.aborted) onShutdown();
    // The operator's per-child deadline (ChildTask.maxSeconds): past it the child is stopped and failed, and this trainer moves on.
    const maxSeconds = task.maxSeconds ?? 0;
    const deadline = maxSeconds > 0 ? setTimeout(() => {
      const reason = childDeadlineReason(maxSeconds);
      stopping ??= { why: 'deadline', reason };
      child.abort(new Error(reason));
    }, maxSeconds * 1000) : undefined;
    const beat = setInterval(() => d.working(), Math.max(100, consumer.ackWaitMs / 3));
    // The loop's reconnect listener calls working() on this delivery while it is held (see `held`).
    held = d;
    const working = { stop: () => { clearInterval(beat); if (held === d) held = undefined; } };

    let outcome: { ok: true; result: ChildResult } | { ok: false; error: unknown };
    try {
      const result = await train(task, {
        onProgress: (progress) => emit({ kind: 'child_progress', searchId: task.searchId, timeMs: Date.now(), trainer: trainerId, progress }),
        signal: child.signal,
      });
      outcome = { ok: true, result };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      if (deadline) clearTimeout(deadline);
      unlisten();
      signal?.removeEventListener('abort', onShutdown);
    }

    const why = stoppingNow(); // set by the callbacks above
    if (why?.why === 'shutdown') {
      working.stop();
      return true;
    }
    // working() goes on until the outcome is published: a publish can wait out a reconnect.
    let published = false;
    try {
      if (why?.why === 'deadline' && (!outcome.ok || outcome.result.status === 'cancelled')) {
        // Not retried: another attempt would run into the same deadline.
        await publishResult(d, emptyResult(task, 'failed', why.reason, trainerId, attempt));
        published = true;
        stats.failed++;
        log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId}: ${why.reason}`);
        await d.term(why.reason);
      } else if (outcome.ok) {
        await publishResult(d, { ...outcome.result, childId: task.childId, trainer: trainerId, attempts: attempt });
        published = true;
        stats.trained++;
        await d.ack();
      } else if (why?.why === 'cancel') {
        await publishResult(d, emptyResult(task, 'cancelled', why.reason, trainerId, attempt));
        published = true;
        stats.cancelled++;
        await d.ack();
      } else if (attempt >= d.maxAttempts) {
        const reason = `attempt ${attempt} of ${d.maxAttempts} failed: ${errorText(outcome.error)}`;
        await publishResult(d, emptyResult(task, 'failed', reason, trainerId, attempt));
        published = true;
        stats.failed++;
        await d.term(reason);
      } else {
        log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId}, attempt ${attempt}: ${errorText(outcome.error)}; retrying`);
        d.nak(retryDelayMs(attempt));
        stats.retried++;
      }
    } catch (err) {
      if (published) {
        // The result is stored; a redelivery of the task is acknowledged without training (TrainerConsumer).
        log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId}: its result is published but acknowledging failed: ${errorText(err)}`);
      } else {
        // The result could not be published even after retrying: let the task come back.
        log(`trainer ${trainerId}: child ${task.childId} of ${task.searchId}: ${errorText(err)}; handing it back`);
        d.nak(retryDelayMs(attempt));
      }
    } finally {
      working.stop();
    }
    return false;
  }
}

/** NATS stayed unreachable through every attempt of connectWithRetry. */
export class NatsUnreachableError extends Error {
  constructor(readonly url: string, readonly attempts: number, options: { cause: unknown }) {
    super(`NATS at ${url} is unreachable: ${attempts} connection attempt${attempts === 1 ? '' : 's'} failed, the last with: ${errorText(options.cause)}`, options);
    this.name = 'NatsUnreachableError';
  }
}

/** A server URL fit for logs: credentials in it (nats://user:pass@host) are replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/g, '//***@');
}

export interface ConnectRetryOptions<T> {
  /** Where it connects, for the logs (credentials are redacted). */
  url: string;
  /** One attempt; rejects when the server cannot be reached (connectBus with waitOnFirstConnect: false). */
  connect: () => Promise<T>;
  /** Attempts before giving up (at least 1). */
  attempts: number;
  /** Wait after the first failure; it doubles after each one, up to maxDelayMs. */
  firstDelayMs: number;
  /** @default 8000 */
  maxDelayMs?: number;
  /** Abort (SIGTERM): stop at once; resolves undefined, and a connection that arrives late is closed. */
  signal?: AbortSignal;
  /** Closes a connection that arrived after `signal` fired. */
  close?: (connection: T) => Promise<void>;
  log: (line: string) => void;
  /** Prefix of the log lines, e.g. `trainer pod-a`. */
  who: string;
}

/**
 * Connects with a bound: logs where it connects and each failure, waits
 * firstDelayMs, 2 x firstDelayMs, ... (at most maxDelayMs) between attempts,
 * and throws NatsUnreachableError after the last one. A pod whose bus
 * stays unreachable then fails with that message (and Kubernetes' back-off
 * takes over) instead of waiting silently forever.
 */
export async function connectWithRetry<T>(options: ConnectRetryOptions<T>): Promise<T | undefined> {
  const { signal, log, who } = options;
  const where = redactUrl(options.url);
  const maxDelayMs = options.maxDelayMs ?? 8000;
  if (!Number.isInteger(options.attempts) || options.attempts < 1) throw new RangeError(`connectWithRetry: attempts must be an integer >= 1, got ${options.attempts}`);
  let delay = options.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) return undefined;
    log(`${who}: connecting to NATS at ${where} (attempt ${attempt} of ${options.attempts})`);
    const pending = options.connect();
    const outcome = await abortable(pending, signal);
    if (outcome.kind === 'aborted') {
      // Whatever the attempt yields later is not wanted any more.
      pending.then((c) => options.close?.(c), () => {}).catch(() => {});
      return undefined;
    }
    if (outcome.kind === 'ok') {
      log(`${who}: connected to NATS at ${where}`);
      return outcome.value;
    }
    if (attempt >= options.attempts) throw new NatsUnreachableError(where, attempt, { cause: outcome.error });
    log(`${who}: NATS at ${where} not reachable (${errorText(outcome.error)}); attempt ${attempt + 1} in ${delay} ms`);
    if (!(await sleepUnlessAborted(delay, signal))) return undefined;
    delay = Math.min(maxDelayMs, Math.max(1, delay * 2));
  }
}

type Outcome<T> = { kind: 'ok'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'aborted' };

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const onAbort = () => resolve({ kind: 'aborted' });
    if (signal?.aborted) { onAbort(); return; }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal?.removeEventListener('abort', onAbort); resolve({ kind: 'ok', value }); },
      (error: unknown) => { signal?.removeEventListener('abort', onAbort); resolve({ kind: 'failed', error }); },
    );
  });
}

/** Waits ms; false when `signal` fired first. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(false); return; }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(timer); resolve(false); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
