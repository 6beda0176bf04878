import { DeliverPolicy, type ConsumerMessages, type JsMsg, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { BusConnection } from './connect.js';

/** Where following a stream starts. */
export type FollowStart =
  | { policy: 'all' }
  | { policy: 'sequence'; seq: number }
  | { policy: 'time'; timeMs: number };

export interface FollowOptions {
  /** Subject filter within the stream. */
  filter: string;
  start: FollowStart;
  /** Called with every message, in stream order, each once. */
  onMessage: (m: JsMsg) => void;
  /** Diagnostics (re-creations after a reconnect, failures to re-create). */
  log: (line: string) => void;
  /** Wait between attempts to re-create the consumer after a reconnect. @default 500 */
  retryMs?: number;
}

/** A running follow; close() stops it and waits for the message loop to end. */
export interface StreamFollower {
  close(): Promise<void>;
}

/**
 * Follows a stream through an ordered consumer that survives nats-server
 * restarts. An ordered consumer is an ephemeral, in-memory consumer: a
 * restarted server has forgotten it, and @nats-io/jetstream 3.4's own
 * recovery then re-creates it but pulls for 0 messages, so it delivers
 * nothing ever again (measured here against nats-server 2.9: after a
 * restart, no message of the 276 published reached the iterator). So on
 * every reconnect this closes the consumer and opens a new one right after
 * the last stream sequence it delivered: no gap, no repeat.
 *
 * The first consumer is created before this returns (its errors, such as
 * a missing stream, are the caller's); later ones are retried every
 * `retryMs` until they work or close() is called.
 */
export async function followStream(bus: BusConnection, stream: string, options: FollowOptions): Promise<StreamFollower> {
  const retryMs = options.retryMs ?? 500;
  let lastSeq = 0;
  let closed = false;
  let current: ConsumerMessages | undefined;
  let loop: Promise<void> = Promise.resolve();
  let reopening: Promise<void> | undefined;

  const consumerOptions = (): Partial<OrderedConsumerOptions> => {
    const opts: Partial<OrderedConsumerOptions> = { filter_subjects: options.filter };
    if (lastSeq > 0) {
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = lastSeq + 1;
    } else if (options.start.policy === 'sequence') {
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = options.start.seq;
    } else if (options.start.policy === 'time') {
      opts.deliver_policy = DeliverPolicy.StartTime;
      opts.opt_start_time = new Date(options.start.timeMs).toISOString();
    } else {
      opts.deliver_policy = DeliverPolicy.All;
    }
    return opts;
  };

  const open = async (): Promise<void> => {
    const consumer = await bus.js.consumers.get(stream, consumerOptions());
    const messages = await consumer.consume();
    if (closed) {
      await messages.close().catch(() => {});
      return;
    }
    current = messages;
    loop = (async () => {
      for await (const m of messages) {
        if (m.seq <= lastSeq) continue; // never twice, whatever a consumer re-creation replays
        lastSeq = m.seq;
        options.onMessage(m);
      }
    })().catch((err: unknown) => options.log(`bus: following ${stream} (${options.filter}): ${(err as Error).message}`));
  };

  const reopen = (why: string): void => {
    if (closed || reopening) return;
    reopening = (async () => {
      const old = current;
      current = undefined;
      await old?.close().catch(() => {});
      await loop;
      for (let attempt = 1; !closed; attempt++) {
        try {
          await open();
          options.log(`bus: following ${stream} (${options.filter}) again after ${why}, from sequence ${lastSeq + 1}`);
          return;
        } catch (err) {
          if (attempt === 1 || attempt % 20 === 0) options.log(`bus: cannot follow ${stream} again yet (attempt ${attempt}): ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, retryMs));
        }
      }
    })().finally(() => { reopening = undefined; });
  };

  await open();
  const status = bus.nc.status();
  void (async () => {
    for await (const s of status) if (s.type === 'reconnect') reopen('a reconnect');
  })().catch(() => {});

  return {
    async close() {
      closed = true;
      // nc.status() is typed AsyncIterable but is a QueuedIterator: stop() ends the loop above at once.
      (status as { stop?: () => void }).stop?.();
      await reopening;
      await current?.close().catch(() => {});
      await loop;
    },
  };
}
