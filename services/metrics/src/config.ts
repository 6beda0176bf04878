/**
 * The metrics service's environment: every variable it reads, and the one
 * function that reads them (main.ts calls it once with process.env).
 */
import { natsSettingsFromEnv, NATS_VARIABLES, readPort, readString, type Env, type EnvVariable, type NatsSettings } from '@nasnet/config';
import { DEFAULT_METRICS_PORT } from './server.js';

/** Every variable the metrics service reads. */
export const VARIABLES: readonly EnvVariable[] = [
  ...NATS_VARIABLES,
  { name: 'METRICS_HOST', required: false, default: '0.0.0.0', meaning: 'Address /metrics and /healthz bind.' },
  { name: 'METRICS_PORT', required: false, default: String(DEFAULT_METRICS_PORT), meaning: 'Port of /metrics and /healthz; 0: any free port.' },
];

/** What main.ts passes on to runMetricsService. */
export interface MetricsConfig {
  /** NATS (k8s: user `metrics`, which may only read events). */
  nats: NatsSettings;
  /** @default '0.0.0.0' */
  host: string;
  /** @default 9464 */
  port: number;
}

/** Reads the variables in VARIABLES; throws ConfigError naming the first bad one. */
export function metricsConfigFromEnv(env: Env): MetricsConfig {
  const nats = natsSettingsFromEnv(env);
  return {
    nats,
    host: readString(env, 'METRICS_HOST', { default: '0.0.0.0' }).trim(),
    port: readPort(env, 'METRICS_PORT', DEFAULT_METRICS_PORT),
  };
}
