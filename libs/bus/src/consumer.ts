import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy,
  type Consumer, type ConsumerConfig, type JsMsg,
} from '@nats-io/jetstream';
import { decodeChildResult, decodeChildTask, decodeTaskGeneration } from './codec.js';
import type { BusConnection } from './connect.js';
import { BusDecodeError, ResultSubjectTakenError, SearchQueueGoneError, SharedQueueConflictError } from './errors.js';
import { publishChildResult, publishDeadLetter } from './publish.js';
import { withBusRetry } from './retry.js';
import { SEARCH_QUEUE_PREFIX, searchQueueName } from './search-queue.js';
import { CONSUMER_TRAINERS, resultSubject, STREAM_RESULTS, STREAM_TASKS, type ChildResult, type ChildTask, type TaskDelivery } from './types.js';

const MS = 1_000_000; // nanoseconds per millisecond: consumer durations are nanoseconds

export interface TrainerConsumerOptions {
  /** Written into dead letters and the 'failed' results this consumer publishes. */
  trainerId: string;
  /**
   * Take only this search's children, from its own consumer trainers-<searchId>
   * (search-queue.ts), which the controller made when the search started:
   * this trainer binds to it and uses its settings (ackWaitMs, maxAttempts and
   * backoffMs are ignored), and start() throws SearchQueueGoneError when there
   * is none (the search ended). Unset: the shared consumer `trainers` on
   * nas.tasks.> (every search's children; a controller with no launcher).
   */
  searchId?: string;
  /**
   * A delivery not acked, naked or marked working() within this time goes to
   * another trainer. Trainers call working() every ackWaitMs / 3 while a
   * child trains. @default 30000
   */
  ackWaitMs?: number;
  /** Training attempts per child; after that the child fails with the last reason. @default 5 */
  maxAttempts?: number;
  /**
   * Redelivery delays after a trainer vanished (ack deadline passed), one per
   * delivery, the last repeating; the server takes the first as the ack
   * wait. Servers before 2.10 (Debian's 2.9) lengthen a nak delay by
   * backoff[n] - backoff[0] at delivery n + 1, so a child that threw waits
   * that much longer before its next attempt; [ackWaitMs] alone avoids it.
   * @default [ackWaitMs, 2 ackWaitMs, 4 ackWaitMs, 8 ackWaitMs] (at most maxAttempts values)
   */
  backoffMs?: number[];
  /** One pull request waits this long for a task before asking again. @default 5000 */
  pullExpiresMs?: number;
  /** @default stderr */
  log?: (line: string) => void;
}

/**
 * The trainers' side of the work queue: the durable pull consumer
 * `trainers` on NAS_TASKS, explicit acks, one task at a time.
 *
 * The consumer allows maxAttempts + 1 deliveries. Attempts 1..maxAttempts
 * train; a failure at attempt maxAttempts is final (the trainer publishes a
 * 'failed' result and terms). The extra delivery only happens when the last
 * trainer vanished without answering (crash, OOM kill, ack deadline): the
 * consumer then publishes the 'failed' result itself, so the controller
 * always hears back. Undecodable tasks go to nas.dlq.tasks (once per stream
 * sequence) with the decoder's reason, and are termed. A redelivered task
 * whose result is already stored (its trainer finished after missing the
 * ack deadline) is acknowledged without being handed out again.
 *
 * The consumer's settings are shared by every trainer; the first to start
 * creates it, one with different settings updates it, and every trainer then
 * uses what the server holds (ackWaitMs, maxAttempts below).
 */
export class TrainerConsumer {
  private closed = false;

  private constructor(
    private readonly bus: BusConnection,
    private readonly consumer: Consumer,
    readonly trainerId: string,
    /** Ack deadline the server applies, ms. */
    readonly ackWaitMs: number,
    /** Training attempts the server's max_deliver leaves (max_deliver - 1). */
    readonly maxAttempts: number,
    private readonly pullExpiresMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.termReasons = serverAtLeast(bus.nc.info?.version ?? '0.0.0', [2, 10, 0]);
  }

  /**
   * Servers before 2.10 only understand a bare "+TERM": one with a reason
   * is ignored there (the message then comes back after ack_wait), so the
   * reason goes into the dead letter or result only.
   */
  private readonly termReasons: boolean;

  private term(m: JsMsg, reason: string): void {
    if (this.termReasons) m.term(reason);
    else m.term();
  }

  /** Creates or updates the durable consumer, then binds to it. */
  static async start(bus: BusConnection, options: TrainerConsumerOptions): Promise<TrainerConsumer> {
    const ackWaitMs = options.ackWaitMs ?? 30_000;
    const maxAttempts = options.maxAttempts ?? 5;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
    if (!(ackWaitMs >= 1)) throw new RangeError(`ackWaitMs must be at least 1, got ${ackWaitMs}`);
    const backoffMs = (options.backoffMs ?? [1, 2, 4, 8].map((k) => k * ackWaitMs)).slice(0, maxAttempts);
    const want: Partial<ConsumerConfig> = {
      durable_name: CONSUMER_TRAINERS,
      description: 'NASNet child trainers: one ChildTask per pull, explicit ack',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      replay_policy: ReplayPolicy.Instant,
      filter_subject: 'nas.tasks.>',
      ack_wait: Math.round(ackWaitMs * MS),
      max_deliver: maxAttempts + 1,
      backoff: backoffMs.map((ms) => Math.round(ms * MS)),
      // The paper ran 450 workers (section 4): room for that many waiting pulls.
      max_waiting: 2048,
    };
    const jsm = bus.jsm;
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    if (options.searchId !== undefined) {
      const name = searchQueueName(options.searchId);
      let own;
      try {
        own = await jsm.consumers.info(STREAM_TASKS, name);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) throw new SearchQueueGoneError(options.searchId, { cause: err });
        throw err;
      }
      return new TrainerConsumer(
        bus, await bus.js.consumers.get(STREAM_TASKS, name), options.trainerId, (own.config.ack_wait ?? want.ack_wait!) / MS,
        (own.config.max_deliver ?? want.max_deliver!) - 1, options.pullExpiresMs ?? 5000, log,
      );
    }
    let info;
    try {
      info = await jsm.consumers.info(STREAM_TASKS, CONSUMER_TRAINERS);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      info = await jsm.consumers.add(STREAM_TASKS, want).catch(async (addErr: unknown) => {
        // Another trainer created it first.
        return jsm.consumers.info(STREAM_TASKS, CONSUMER_TRAINERS).catch(() => {
          const message = (addErr as Error).message;
          throw /not unique|multiple/i.test(message) ? new SharedQueueConflictError(message, { cause: addErr }) : addErr;
        });
      });
    }
    const c = info.config;
    const differs = c.ack_wait !== want.ack_wait || c.max_deliver !== want.max_deliver
      || JSON.stringify(c.backoff ?? []) !== JSON.stringify(want.backoff);
    if (differs) {
      info = await jsm.consumers.update(STREAM_TASKS, CONSUMER_TRAINERS, { ack_wait: want.ack_wait, max_deliver: want.max_deliver, backoff: want.backoff });
    }
    const consumer = await bus.js.consumers.get(STREAM_TASKS, CONSUMER_TRAINERS);
    return new TrainerConsumer(
      bus, consumer, options.trainerId, (info.config.ack_wait ?? want.ack_wait!) / MS, (info.config.max_deliver ?? want.max_deliver!) - 1,
      options.pullExpiresMs ?? 5000, log,
    );
  }

  /**
   * The next task to train, or null once `signal` fired or close() was
   * called. Dead-letters undecodable tasks and answers abandoned ones on the
   * way. A task that arrives after the signal fired is given back at once.
   */
  async next(signal?: AbortSignal): Promise<TaskDelivery | null> {
    while (!this.closed && !signal?.aborted) {
      const pull = this.consumer.next({ expires: this.pullExpiresMs });
      let m: JsMsg | null | typeof ABORTED;
      try {
        m = await raceAbort(pull, signal);
      } catch (err) {
        if (this.closed || signal?.aborted || this.bus.nc.isClosed()) return null;
        this.log(`bus: pulling a task failed: ${(err as Error).message}`);
        await sleep(1000, signal);
        continue;
      }
      if (m === ABORTED) {
        void pull.then((late) => late?.nak(), () => {});
        return null;
      }
      if (!m) continue;
      let delivery;
      try {
        delivery = await this.accept(m);
      } catch (err) {
        // The bus stayed away past every retry: leave the message unanswered (it comes back after
        // the ack deadline) rather than stop this trainer.
        this.log(`bus: task seq ${m.info.streamSequence}: ${(err as Error).message}; leaving it for redelivery`);
        continue;
      }
      if (delivery) return delivery;
    }
    return null;
  }

  private async accept(m: JsMsg): Promise<TaskDelivery | null> {
    const attempt = m.info.deliveryCount;
    let task;
    let generation;
    try {
      const header = (name: string) => m.headers?.get(name);
      task = decodeChildTask(m.data, { subject: m.subject, header });
      generation = decodeTaskGeneration(m.subject, header);
    } catch (err) {
      // Whatever the decoder throws on bytes from the bus, the message is bad; rethrowing would
      // stop this trainer, and every trainer the message is redelivered to after it.
      const reason = err instanceof BusDecodeError ? err.message : new BusDecodeError(m.subject, '(message)', String((err as Error)?.message ?? err)).message;
      // Retried through an outage (its Nats-Msg-Id is the task's stream sequence, so stored once).
      await withBusRetry(() => publishDeadLetter(this.bus, {
        kind: 'tasks', data: m.data, reason, subject: m.subject, stream: STREAM_TASKS,
        streamSequence: m.info.streamSequence, deliveries: attempt, by: this.trainerId,
      }), this.retry(`dead-lettering task seq ${m.info.streamSequence}`));
      this.term(m, reason);
      this.log(`bus: dead-lettered task seq ${m.info.streamSequence}: ${reason}`);
      return null;
    }
    if (attempt > 1) {
      // JetStream delivers at least once: a trainer that missed its ack deadline (an event loop
      // blocked longer than ackWaitMs) may have finished and published the child since.
      const done = await this.storedResult(task, generation);
      if (done) {
        await m.ackAck().catch(() => m.ack());
        this.log(`bus: child ${task.childId} of ${task.searchId} came back (delivery ${attempt}) after ${done.trainer ?? 'a trainer'} had published its result; acknowledged without training it again`);
        return null;
      }
    }
    if (attempt > this.maxAttempts) {
      const reason = `no trainer finished it in ${this.maxAttempts} attempts: each one that took it stopped answering `
        + `(crashed, was killed, or let the ${this.ackWaitMs} ms ack deadline pass)`;
      try {
        await withBusRetry(() => publishChildResult(this.bus, task, {
          childId: task.childId, status: 'failed', reward: 0, reason, validationByEpoch: [], trainSeconds: 0, paramCount: 0, multAdds: 0,
          trainer: this.trainerId, attempts: this.maxAttempts,
        }, { generation, msgId: `result.${task.searchId}.${task.childId}.${m.info.streamSequence}.abandoned` }), this.retry(`failing abandoned child ${task.childId} of ${task.searchId}`));
      } catch (err) {
        // Its generation was answered meanwhile (a late trainer): that answer stands.
        if (!(err instanceof ResultSubjectTakenError)) throw err;
      }
      this.term(m, reason);
      return null;
    }
    const nc = this.bus.nc;
    return {
      task,
      attempt,
      streamSequence: m.info.streamSequence,
      generation,
      maxAttempts: this.maxAttempts,
      working: () => m.working(),
      ack: async () => { await m.ackAck(); },
      nak: (delayMs) => m.nak(delayMs),
      term: async (reason) => { this.term(m, reason); await nc.flush(); },
    };
  }

  /**
   * The child's result already in NAS_RESULTS, when it is a final one for
   * this very task (same genotype; a 'cancelled' result is not: the child
   * was queued again after it). Undefined when there is none or it cannot
   * be read: then the child trains, which is never wrong, only wasteful.
   */
  private async storedResult(task: ChildTask, generation: number): Promise<ChildResult | undefined> {
    try {
      // Direct get names the subject in the request subject, so a search's trainers may be allowed their own results only (trainerPermissions).
      // Retried through an outage: a lookup lost to it would have the child trained twice.
      const subject = resultSubject(task.searchId, task.childId, generation);
      const stored = await withBusRetry(() => this.bus.jsm.direct.getMessage(STREAM_RESULTS, { last_by_subj: subject }), this.retry(`looking up ${subject}`));
      if (!stored) return undefined;
      const { result, genotypeHash } = decodeChildResult(stored.data, stored.subject);
      return result.status !== 'cancelled' && genotypeHash === task.hash ? result : undefined;
    } catch {
      return undefined;
    }
  }

  /** Retry settings of this consumer's bus operations (withBusRetry). */
  private retry(what: string) {
    return { what, log: this.log, isClosed: () => this.closed || this.bus.nc.isClosed(), nc: this.bus.nc };
  }

  /** Stops pulling; the connection stays open. */
  close(): void {
    this.closed = true;
  }
}

/** Work-queue depth: tasks waiting for a trainer, and tasks a trainer holds (every search's queue together). */
export async function queueStats(bus: BusConnection): Promise<{ pending: number; inFlight: number }> {
  let own: { pending: number; inFlight: number } | undefined;
  for await (const info of bus.jsm.consumers.list(STREAM_TASKS)) {
    if (!info.name.startsWith(SEARCH_QUEUE_PREFIX)) continue;
    own ??= { pending: 0, inFlight: 0 };
    own.pending += info.num_pending;
    own.inFlight += info.num_ack_pending;
  }
  if (own) return own;
  try {
    const info = await bus.jsm.consumers.info(STREAM_TASKS, CONSUMER_TRAINERS);
    return { pending: info.num_pending, inFlight: info.num_ack_pending };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    // No trainer has started yet: everything in the stream waits.
    return { pending: (await bus.jsm.streams.info(STREAM_TASKS)).state.messages, inFlight: 0 };
  }
}

function serverAtLeast(version: string, want: [number, number, number]): boolean {
  const have = version.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i]!;
  return true;
}

const ABORTED = Symbol('aborted');

function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
