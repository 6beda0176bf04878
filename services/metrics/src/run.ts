import { setTimeout as sleep } from 'node:timers/promises';
import { connectBus, natsAuthOptions, NatsEventBus, type EventBus, type EventSubscription } from '@nasnet/bus';
import { MetricsAggregator, eventProblem, type MetricsAggregatorOptions } from '@nasnet/telemetry';
import { startMetricsServer, DEFAULT_METRICS_PORT } from './server.js';

export interface EventMetricsOptions extends Pick<MetricsAggregatorOptions, 'now' | 'trainerActiveWindowMs'> {
  /** Where the events come from: NatsEventBus in a cluster, MemoryEventBus in the embedded mode. */
  events: EventBus;
  /** @default 9464 */
  port?: number;
  /** @default '0.0.0.0' */
  host?: string;
  /** @default a line on stderr */
  log?: (line: string) => void;
  /** Extra health condition for /healthz (the NATS connection is open). @default () => true */
  healthy?: () => boolean;
  /**
   * Wait between subscribe attempts while the event stream does not exist yet
   * (the metrics service may start before the controller creates it).
   * @default 2000
   */
  subscribeRetryMs?: number;
}

export interface MetricsService {
  /** `http://host:port`; scrape `${url}/metrics`. */
  url: string;
  port: number;
  aggregator: MetricsAggregator;
  /** Settles once the subscription to all events is in place. */
  subscribed: Promise<void>;
  /** Stops following events, stops serving, and closes what the service opened. Safe to call twice. */
  close(): Promise<void>;
}

/** Bad events are logged one by one up to this many, then once per this many. */
const BAD_EVENT_LOG_EVERY = 100;

/**
 * Serves the metrics of every event on `events`, replayed from the start of
 * what the bus keeps, so a restarted service rebuilds its counters (the
 * aggregator ignores repeats).
 */
export async function startEventMetrics(options: EventMetricsOptions): Promise<MetricsService> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const retryMs = options.subscribeRetryMs ?? 2000;
  const aggregator = new MetricsAggregator({
    ...(options.now ? { now: options.now } : {}),
    ...(options.trainerActiveWindowMs !== undefined ? { trainerActiveWindowMs: options.trainerActiveWindowMs } : {}),
  });
  let bad = 0;
  const noteBad = (what: string) => {
    bad++;
    if (bad <= BAD_EVENT_LOG_EVERY || bad % BAD_EVENT_LOG_EVERY === 0) log(`metrics: skipped bad event #${bad}: ${what}`);
  };
  const handler = (event: unknown) => {
    if (aggregator.handle(event) === 'bad') noteBad(eventProblem(event) ?? 'unknown problem');
  };
  const onError = (err: Error) => {
    aggregator.countBadEvent();
    noteBad(err.message);
  };

  const stop = new AbortController();
  let subscription: EventSubscription | undefined;
  const subscribed = (async () => {
    for (let attempt = 1; !stop.signal.aborted; attempt++) {
      try {
        const sub = await options.events.subscribe(handler, { deliverAll: true, onError });
        if (stop.signal.aborted) {
          await sub.close();
          return;
        }
        subscription = sub;
        log('metrics: following all events from the start of the stream');
        return;
      } catch (err) {
        log(`metrics: cannot follow events yet (attempt ${attempt}): ${(err as Error).message}; retrying in ${retryMs} ms`);
        await sleep(retryMs, undefined, { signal: stop.signal }).catch(() => {});
      }
    }
  })();

  const server = await startMetricsServer({
    aggregator, port: options.port ?? DEFAULT_METRICS_PORT, host: options.host ?? '0.0.0.0',
    ...(options.healthy ? { healthy: options.healthy } : {}),
  }).catch(async (err: unknown) => {
    stop.abort();
    await subscribed;
    await subscription?.close();
    throw err;
  });
  log(`metrics: serving ${server.url}/metrics`);

  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    aggregator,
    subscribed,
    close: () => {
      closing ??= (async () => {
        stop.abort();
        await subscribed;
        await subscription?.close();
        await server.close();
      })();
      return closing;
    },
  };
}

export interface MetricsServiceOptions extends Omit<EventMetricsOptions, 'events' | 'healthy'> {
  /** NATS server URL(s); a comma-separated list is split. */
  natsUrl: string | string[];
  /** Client name shown by the NATS server. @default 'nasnet-metrics' */
  name?: string;
  /** NATS user (its permissions: read NAS_EVENTS, nothing else; see natsPermissions in @nasnet/bus). @default none */
  natsUser?: string;
  /** @default none */
  natsPass?: string;
  /** A .creds file (NATS decentralised auth) instead of user and password. @default none */
  natsCreds?: string;
  /** PEM CA of the NATS server's certificate (TLS required). @default none */
  natsCa?: string;
}

/** Connects to NATS, follows NAS_EVENTS from its start and serves /metrics; close() also closes the connection. */
export async function runMetricsService(options: MetricsServiceOptions): Promise<MetricsService> {
  const { natsUrl, name, natsUser, natsPass, natsCreds, natsCa, ...rest } = options;
  const servers = (Array.isArray(natsUrl) ? natsUrl : natsUrl.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  const log = rest.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const bus = await connectBus(servers, {
    name: name ?? 'nasnet-metrics', log,
    ...natsAuthOptions({ user: natsUser, pass: natsPass, creds: natsCreds, ca: natsCa }),
  });
  let service: MetricsService;
  try {
    service = await startEventMetrics({ ...rest, log, events: new NatsEventBus(bus), healthy: () => !bus.nc.isClosed() });
  } catch (err) {
    await bus.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    ...service,
    close: () => {
      closing ??= service.close().finally(() => bus.close());
      return closing;
    },
  };
}
