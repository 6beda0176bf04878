import { JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BusRetryExhaustedError } from './errors.js';

/**
 * One way to retry a bus operation (publish, lookup, stream info, ack)
 * across a NATS outage: the client reconnects by itself (connectBus), but
 * a request or a publish awaiting its PubAck while the server is away
 * rejects with a timeout. Rather than fail the child, its caller waits
 * with a capped exponential back-off and tries again, within a bound.
 *
 * Only errors that say "nobody answered" are retried (timeouts, no
 * responders, a lost connection, JetStream briefly unavailable); an answer
 * of the server (permission violation, a full subject, stream not found)
 * is final and rethrown at once. A publish retried this way must carry a
 * Nats-Msg-Id, so that one that did land before its PubAck was lost is
 * stored once.
 */
export interface BusRetryOptions {
  /** What is being done, for the log lines and the final error: "publishing the result of child 3". */
  what: string;
  /** Give up after this long. @default 300000 (a 60 s outage plus reconnects, with room to spare) */
  maxMs?: number;
  /** First wait; it doubles after each failure up to maxDelayMs. @default 250 */
  firstDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** Stop retrying (the last error is rethrown). */
  signal?: AbortSignal;
  /** The connection was closed for good: stop retrying. */
  isClosed?: () => boolean;
  /** One line per failed try. @default none */
  log?: (line: string) => void;
  /** The connection the operation uses: its reconnecting ends a back-off wait at once, so work resumes as the server returns. */
  nc?: NatsConnection;
}

/**
 * Calls `fn` each time `nc` reconnects (after an outage); returns the
 * unsubscribe. A trainer holding a child calls working() then, so the
 * child's ack deadline restarts as soon as the server is back instead of
 * at the next periodic call.
 */
export function onReconnect(nc: NatsConnection, fn: () => void): () => void {
  const status = nc.status();
  void (async () => {
    for await (const s of status) if (s.type === 'reconnect') fn();
  })().catch(() => {});
  // nc.status() is typed AsyncIterable but is a QueuedIterator: stop() ends the loop above.
  return () => (status as { stop?: () => void }).stop?.();
}

export const DEFAULT_BUS_RETRY = { maxMs: 300_000, firstDelayMs: 250, maxDelayMs: 5000 } as const;

/** JetStream API code "JetStream system temporarily unavailable" (a server still recovering its streams). */
const JS_TEMPORARILY_UNAVAILABLE = 10008;
const TRANSIENT_NAMES = new Set(['TimeoutError', 'NoRespondersError', 'RequestError', 'ConnectionError']);

/** True when `err` means the server did not answer (and asking again later may work), not that it refused. */
export function isTransientBusError(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JS_TEMPORARILY_UNAVAILABLE;
  if (!(err instanceof Error)) return false;
  if (TRANSIENT_NAMES.has(err.name)) return true;
  // The JetStream client wraps a 503 (no JetStream responder yet, right after a server restart).
  return /no responders|timeout|disconnect/i.test(err.message) && !/permission/i.test(err.message);
}

/** Runs `fn`, retrying transient bus errors with back-off for up to options.maxMs; see BusRetryOptions. */
export async function withBusRetry<T>(fn: () => Promise<T>, options: BusRetryOptions): Promise<T> {
  const maxMs = options.maxMs ?? DEFAULT_BUS_RETRY.maxMs;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_BUS_RETRY.maxDelayMs;
  let delay = options.firstDelayMs ?? DEFAULT_BUS_RETRY.firstDelayMs;
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientBusError(err) || options.signal?.aborted || options.isClosed?.()) throw err;
      const spent = Date.now() - started;
      if (spent >= maxMs) throw new BusRetryExhaustedError(options.what, tries, spent, { cause: err });
      options.log?.(`bus: ${options.what} failed (try ${tries}: ${(err as Error).message}); retrying in ${delay} ms`);
      await pause(Math.min(delay, Math.max(1, maxMs - spent)), options.signal, options.nc);
      delay = Math.min(maxDelayMs, delay * 2);
    }
  }
}

/** Waits ms, or less when `signal` fires or `nc` reconnects. */
function pause(ms: number, signal?: AbortSignal, nc?: NatsConnection): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    let unlisten = () => {};
    const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); unlisten(); resolve(); };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    if (nc) unlisten = onReconnect(nc, done);
  });
}
