/**
 * Process entry of the metrics service (the container's command). The
 * environment is read at this edge only (config.ts):
 *   NATS_URL       NATS server URL(s), comma-separated (required)
 *   METRICS_PORT   port of /metrics and /healthz (default 9464)
 *   METRICS_HOST   address to bind (default 0.0.0.0)
 *   NATS_USER, NATS_PASS  NATS credentials (optional; user `metrics` in k8s)
 * SIGTERM or SIGINT stops following events, closes the HTTP server and
 * drains the NATS connection, then exits 0.
 */
import { metricsConfigFromEnv } from './config.js';
import { runMetricsService } from './run.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

try {
  const service = await runMetricsService({ ...metricsConfigFromEnv(process.env), log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`metrics: ${signal}, closing`);
    service.close().then(
      () => { log('metrics: closed'); process.exit(0); },
      (err: Error) => { log(`metrics: close failed: ${err.message}`); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  log(`metrics: ${(err as Error).message}`);
  process.exit(1);
}
