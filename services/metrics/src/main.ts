/**
 * Process entry of the metrics service (the container's command). The
 * environment is read here, once (config.ts lists the variables); a bad or
 * missing one is reported in one line naming it, exit code 2.
 * SIGTERM or SIGINT stops following events, closes the HTTP server and
 * drains the NATS connection, then exits 0.
 */
import { ConfigError } from '@nasnet/config';
import { metricsConfigFromEnv, type MetricsConfig } from './config.js';
import { runMetricsService } from './run.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

let config: MetricsConfig;
try {
  config = metricsConfigFromEnv(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  log(`metrics: ${err.message}`);
  process.exit(2);
}

try {
  const service = await runMetricsService({
    natsUrl: config.nats.url,
    ...(config.nats.user !== undefined ? { natsUser: config.nats.user } : {}),
    ...(config.nats.pass !== undefined ? { natsPass: config.nats.pass } : {}),
    ...(config.nats.creds !== undefined ? { natsCreds: config.nats.creds } : {}),
    ...(config.nats.ca !== undefined ? { natsCa: config.nats.ca } : {}),
    host: config.host, port: config.port, log,
  });
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
