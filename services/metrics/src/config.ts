import { DEFAULT_METRICS_PORT } from './server.js';

/** An environment variable the service cannot run with. */
export class MetricsConfigError extends Error {
  constructor(variable: string, value: string | undefined, expected: string, options?: ErrorOptions) {
    super(`${variable}=${value === undefined ? '(unset)' : JSON.stringify(value)}: expected ${expected}`, options);
    this.name = 'MetricsConfigError';
  }
}

/** What main.ts passes to runMetricsService. */
export interface MetricsConfig {
  natsUrl: string;
  port: number;
  host: string;
  /** NATS user and password (k8s: user `metrics`, password from the nats-credentials Secret). */
  natsUser?: string;
  natsPass?: string;
}

/** Reads NATS_URL, METRICS_PORT (default 9464), METRICS_HOST (default 0.0.0.0) and optional NATS_USER / NATS_PASS. */
export function metricsConfigFromEnv(env: NodeJS.ProcessEnv): MetricsConfig {
  const natsUrl = env.NATS_URL?.trim();
  if (!natsUrl) throw new MetricsConfigError('NATS_URL', env.NATS_URL, 'a NATS server URL such as nats://nats:4222');
  const rawPort = env.METRICS_PORT?.trim() || String(DEFAULT_METRICS_PORT);
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535) throw new MetricsConfigError('METRICS_PORT', env.METRICS_PORT, 'a TCP port, 0 to 65535');
  const natsUser = env.NATS_USER?.trim();
  const natsPass = env.NATS_PASS;
  if (natsPass && !natsUser) throw new MetricsConfigError('NATS_USER', env.NATS_USER, 'a NATS user name when NATS_PASS is set');
  return {
    natsUrl, port, host: env.METRICS_HOST?.trim() || '0.0.0.0',
    ...(natsUser ? { natsUser } : {}), ...(natsPass ? { natsPass } : {}),
  };
}
