/**
 * The controller's environment: every variable it reads, and the one
 * function that reads them (main.ts calls it once with process.env).
 */
import {
  natsSettingsFromEnv, NATS_VARIABLES, readEnum, readExistingFile, readInteger, readPort, readString,
  tlsFilesFromEnv, tlsVariables, tokensFromEnv, tokenVariables,
  type Env, type EnvVariable, type NamedToken, type NatsSettings, type TlsFiles,
} from '@nasnet/config';

export const DEFAULT_GRPC_PORT = 50051;
export const DEFAULT_HTTP_PORT = 8080;
export const LAUNCHER_KINDS = ['kubernetes', 'local', 'none'] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];

const TOKEN_NAMES = { token: 'CONTROLLER_TOKEN', file: 'CONTROLLER_TOKENS_FILE' };

/** Every variable the controller reads. */
export const VARIABLES: readonly EnvVariable[] = [
  ...NATS_VARIABLES,
  { name: 'HOST', required: false, default: '0.0.0.0', meaning: 'Address the gRPC and health servers bind.' },
  { name: 'GRPC_PORT', required: false, default: String(DEFAULT_GRPC_PORT), meaning: 'Port of SearchService (gRPC); 0: any free port.' },
  { name: 'HTTP_PORT', required: false, default: String(DEFAULT_HTTP_PORT), meaning: 'Port of /healthz and /readyz; 0: any free port, -1: none.' },
  ...tokenVariables(TOKEN_NAMES, 'SearchService'),
  ...tlsVariables(),
  { name: 'NASNET_LAUNCHER', required: false, default: 'none', meaning: 'How a search starts its trainers: kubernetes (a Job per search), local (child processes), none (trainers run elsewhere).' },
  { name: 'NASNET_NAMESPACE', required: false, meaning: 'Namespace of the trainer Jobs (kubernetes launcher); default: the pod\'s own namespace.' },
  { name: 'NASNET_TRAINER_TEMPLATE', required: false, meaning: 'Path of the trainer Job template YAML (kubernetes launcher); default: the built-in template.' },
  { name: 'MAX_ACTIVE_SEARCHES', required: false, default: '64', meaning: 'Most searches running at once; more are refused with RESOURCE_EXHAUSTED.' },
];

/** What runController needs from the environment. */
export interface ControllerConfig {
  nats: NatsSettings;
  /** @default '0.0.0.0' */
  host: string;
  /** gRPC port (0 = any). @default 50051 */
  grpcPort: number;
  /** Health port (0 = any, -1 = none). @default 8080 */
  httpPort: number;
  /** Bearer tokens callers may present; empty: no token asked. */
  tokens: NamedToken[];
  tls?: TlsFiles;
  /** How trainers are started. @default 'none' */
  launcher: LauncherKind;
  namespace?: string;
  trainerTemplate?: string;
  /** @default the manager's (64) */
  maxActiveSearches?: number;
}

/** A Kubernetes namespace name (RFC 1123 label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Reads the variables in VARIABLES; throws ConfigError naming the first bad one. */
export function controllerConfigFromEnv(env: Env): ControllerConfig {
  const nats = natsSettingsFromEnv(env);
  const tls = tlsFilesFromEnv(env);
  const namespace = readString(env, 'NASNET_NAMESPACE', { pattern: NAMESPACE, expected: 'a Kubernetes namespace name (lower-case letters, digits and -, at most 63)' })?.trim();
  const trainerTemplate = readExistingFile(env, 'NASNET_TRAINER_TEMPLATE', { what: 'trainer Job template (YAML)' });
  const maxActiveSearches = readInteger(env, 'MAX_ACTIVE_SEARCHES', { min: 1, max: 100_000 });
  return {
    nats,
    host: readString(env, 'HOST', { default: '0.0.0.0' }).trim(),
    grpcPort: readPort(env, 'GRPC_PORT', DEFAULT_GRPC_PORT),
    httpPort: readPort(env, 'HTTP_PORT', DEFAULT_HTTP_PORT, { allowNone: true }),
    tokens: tokensFromEnv(env, TOKEN_NAMES),
    ...(tls ? { tls } : {}),
    launcher: readEnum(env, 'NASNET_LAUNCHER', LAUNCHER_KINDS, 'none'),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(trainerTemplate !== undefined ? { trainerTemplate } : {}),
    ...(maxActiveSearches !== undefined ? { maxActiveSearches } : {}),
  };
}
