import { nuid } from '@nats-io/transport-node';
import { decodeBusEvent, encodeBusEvent } from './codec.js';
import type { BusConnection } from './connect.js';
import { followStream, type FollowStart } from './follow.js';
import { withBusRetry } from './retry.js';
import {
  eventSubject, STREAM_EVENTS, SYSTEM_EVENTS,
  type BusEvent, type EventBus, type EventSubscribeOptions, type EventSubscription,
} from './types.js';

/** The subject an event goes to: its search's, or nas.events.system. */
export function subjectOfEvent(event: BusEvent): string {
  return eventSubject('searchId' in event ? event.searchId : SYSTEM_EVENTS);
}

/**
 * BusEvents on JetStream (stream NAS_EVENTS, JSON). publish() waits for the
 * stream's acknowledgement; subscribe() follows through an ordered consumer
 * that is re-created after every reconnect (followStream), so it survives
 * server restarts without gaps or duplicates, and can replay what the
 * stream still holds (WatchSearch resuming, a metrics service starting).
 */
export class NatsEventBus implements EventBus {
  constructor(private readonly bus: BusConnection) {}

  /**
   * Retried with back-off through an outage (withBusRetry) under one
   * Nats-Msg-Id per call, so an event whose PubAck was lost is stored once
   * (within NAS_EVENTS' duplicate window). Events retried this way may land
   * after ones published later.
   */
  async publish(event: BusEvent): Promise<void> {
    const subject = subjectOfEvent(event);
    const data = encodeBusEvent(event);
    const msgID = nuid.next();
    await withBusRetry(() => this.bus.js.publish(subject, data, { msgID }), {
      what: `publishing a ${event.kind} event`, isClosed: () => this.bus.nc.isClosed(), nc: this.bus.nc,
    });
  }

  async subscribe(handler: (event: BusEvent) => void, options: EventSubscribeOptions = {}): Promise<EventSubscription> {
    const filter = options.searchId === undefined ? 'nas.events.>' : eventSubject(options.searchId);
    let start: FollowStart;
    if (options.fromTimeMs !== undefined) {
      start = { policy: 'time', timeMs: options.fromTimeMs };
    } else if (options.deliverAll) {
      start = { policy: 'all' };
    } else {
      // "New" counted from now, not from when the consumer gets created.
      const info = await this.bus.jsm.streams.info(STREAM_EVENTS);
      start = { policy: 'sequence', seq: info.state.last_seq + 1 };
    }
    const follower = await followStream(this.bus, STREAM_EVENTS, {
      filter, start,
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
      onMessage: (m) => {
        let event: BusEvent;
        try {
          event = decodeBusEvent(m.data, m.subject);
        } catch (err) {
          options.onError?.(err as Error);
          return;
        }
        handler(event);
      },
    });
    return { close: () => follower.close() };
  }
}

export interface MemoryEventBusOptions {
  /** Events kept for replay; the oldest go first. @default 100000 */
  maxEvents?: number;
}

/**
 * BusEvents in memory for the embedded mode and tests: the same encoding
 * and checks as on NATS (each event is encoded and decoded), handlers
 * called synchronously in publish order.
 */
export class MemoryEventBus implements EventBus {
  private readonly events: Array<{ timeMs: number; subject: string; event: BusEvent }> = [];
  private readonly subscribers = new Set<{ filter?: string; handler: (e: BusEvent) => void }>();
  private readonly maxEvents: number;

  constructor(options: MemoryEventBusOptions = {}) {
    this.maxEvents = options.maxEvents ?? 100_000;
  }

  async publish(event: BusEvent): Promise<void> {
    const subject = subjectOfEvent(event);
    const copy = decodeBusEvent(encodeBusEvent(event), subject);
    this.events.push({ timeMs: Date.now(), subject, event: copy });
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    for (const s of [...this.subscribers]) if (!s.filter || s.filter === subject) s.handler(copy);
  }

  async subscribe(handler: (event: BusEvent) => void, options: EventSubscribeOptions = {}): Promise<EventSubscription> {
    const filter = options.searchId === undefined ? undefined : eventSubject(options.searchId);
    if (options.fromTimeMs !== undefined || options.deliverAll) {
      const from = options.fromTimeMs ?? -Infinity;
      for (const e of this.events) if ((!filter || e.subject === filter) && e.timeMs >= from) handler(e.event);
    }
    const sub = { ...(filter ? { filter } : {}), handler };
    this.subscribers.add(sub);
    return { close: async () => { this.subscribers.delete(sub); } };
  }

  /** Every event kept, oldest first (for tests and the embedded WatchSearch). */
  all(): BusEvent[] {
    return this.events.map((e) => e.event);
  }
}
