/**
 * The metrics service: follows every bus event from the start of the
 * NAS_EVENTS stream (so a restart rebuilds its counters) and serves the
 * nasnet_* series to Prometheus on /metrics (text format 0.0.4).
 *
 * ```ts
 * const service = await runMetricsService({ natsUrl: 'nats://127.0.0.1:4222', port: 0 });
 * console.log(`${service.url}/metrics`);
 * await service.close();
 * ```
 *
 * As a process: `NATS_URL=nats://... METRICS_PORT=9464 node --import tsx services/metrics/src/main.ts`.
 */
export { startMetricsServer, DEFAULT_METRICS_PORT, MetricsServerListenError } from './server.js';
export type { MetricsServer, MetricsServerOptions, MetricsSource } from './server.js';
export { runMetricsService, startEventMetrics } from './run.js';
export type { MetricsService, MetricsServiceOptions, EventMetricsOptions } from './run.js';
export { metricsConfigFromEnv, VARIABLES } from './config.js';
export type { MetricsConfig } from './config.js';
