import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from '@nasnet/telemetry';

/** 9464: the port the OpenTelemetry Prometheus exporter listens on by default, so scrape configs already expect it. */
export const DEFAULT_METRICS_PORT = 9464;

/** Anything that can write the exposition text (the MetricsAggregator does). */
export interface MetricsSource {
  metrics(): string;
}

export interface MetricsServerOptions {
  /** Where the exposition comes from at every scrape. */
  aggregator: MetricsSource;
  /**
   * TCP port; 0 lets the system pick one (tests).
   * @default 9464
   */
  port?: number;
  /**
   * Address to bind.
   * @default '0.0.0.0'
   */
  host?: string;
  /**
   * Asked by GET /healthz: false answers 503 (the bus connection is gone).
   * @default () => true
   */
  healthy?: () => boolean;
}

export interface MetricsServer {
  /** `http://host:port` as bound (the real port when 0 was asked). */
  url: string;
  host: string;
  port: number;
  /** Stops listening and drops open keep-alive connections (Prometheus keeps one). */
  close(): Promise<void>;
}

/** The metrics server could not bind its address. */
export class MetricsServerListenError extends Error {
  constructor(host: string, port: number, options?: ErrorOptions) {
    super(`metrics server cannot listen on ${host}:${port}`, options);
    this.name = 'MetricsServerListenError';
  }
}

/**
 * GET /metrics: the exposition, `text/plain; version=0.0.4`.
 * GET /healthz: 200 "ok" or 503.
 * Anything else: 404 (unknown path) or 405 (a known path with another method).
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '0.0.0.0';
  const wanted = options.port ?? DEFAULT_METRICS_PORT;
  const healthy = options.healthy ?? (() => true);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const known = path === '/metrics' || path === '/healthz';
    if (!known) return reply(res, 404, `no such path: ${path}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, `method ${req.method} not allowed on ${path}\n`);
    }
    if (path === '/healthz') return healthy() ? reply(res, 200, 'ok\n') : reply(res, 503, 'unhealthy\n');
    let body: string;
    try {
      body = options.aggregator.metrics();
    } catch (err) {
      return reply(res, 500, `metrics failed: ${(err as Error).message}\n`);
    }
    reply(res, 200, body, PROMETHEUS_CONTENT_TYPE, req.method === 'HEAD');
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new MetricsServerListenError(host, wanted, { cause: err })));
    server.listen(wanted, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8', headOnly = false): void {
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(headOnly ? undefined : body);
}
