/**
 * The controller's environment: every variable it reads, and the one
 * function that reads them (main.ts calls it once with process.env).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  ConfigError, natsSettingsFromEnv, NATS_VARIABLES, readDirectory, readEnum, readExistingFile, readInteger, readPort, readString,
  tlsFilesFromEnv, tlsVariables, tokensFromEnv, tokenVariables,
  type Env, type EnvVariable, type NamedToken, type NatsSettings, type TlsFiles,
} from '@nasnet/config';
import { NatsCredentialsError, parseSigner, type NatsUserSigner } from '@nasnet/bus';
import { defaultTrainerProfiles, loadTrainerProfiles, TrainerProfilesError, type TrainerProfiles } from '@nasnet/launcher';
import { DEFAULT_SEARCH_LIMITS, LimitsFileError, parseSearchLimits, type SearchLimits } from '@nasnet/search';

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
  { name: 'MAX_ACTIVE_SEARCHES', required: false, meaning: `Most searches running at once; more are refused with RESOURCE_EXHAUSTED. Default: the limits file's maxActiveSearches (${DEFAULT_SEARCH_LIMITS.maxActiveSearches}).` },
  { name: 'NASNET_PROFILES_FILE', required: false, meaning: 'Trainer profiles (YAML or JSON: `default`, `profiles.<name>.{image, backend, cpu, cpuLimit, memory, maxMemory, gpus, maxGpus}`); requests name a profile, never an image. Default: one `cpu` profile.' },
  { name: 'NASNET_LIMITS_FILE', required: false, meaning: 'Operator limits (YAML or JSON, section `search`: maxActiveSearches, architectures, concurrency, epochs, filters, cells, batchSize, stateBytes, childDeadlineSeconds, searchWallSeconds). Default: sized for a small cluster.' },
  { name: 'NASNET_DATA_DIR', required: false, meaning: 'Absolute directory that the data paths of searches (cifar10:DIR) must lie under; relative ones are taken from it. Unset: not checked.' },
  { name: 'NATS_SIGNER_FILE', required: false, meaning: 'The NATS account signing key (signer.json from `npm run secrets`): each search\'s trainers then get their own NATS user, minted here, that may take and answer only that search\'s tasks.' },
  { name: 'TRAINER_NATS_USER', required: false, meaning: 'NATS user of locally launched trainers (NASNET_LAUNCHER=local); the controller\'s own credentials are never passed on.' },
  { name: 'TRAINER_NATS_PASS', required: false, secret: true, meaning: 'Password of TRAINER_NATS_USER.' },
  { name: 'PATH', required: false, readBy: 'local trainers', meaning: 'Passed to locally launched trainers (with NODE_OPTIONS), nothing else of this environment is.' },
  { name: 'NODE_OPTIONS', required: false, readBy: 'local trainers', meaning: 'Passed to locally launched trainers when set.' },
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
  /** Overrides limits.maxActiveSearches. */
  maxActiveSearches?: number;
  /** The operator's trainer profiles. @default defaultTrainerProfiles() */
  profiles: TrainerProfiles;
  /** The operator's limits. @default DEFAULT_SEARCH_LIMITS */
  limits: SearchLimits;
  /** Data root of search datasets; unset: not checked. */
  dataRoot?: string;
  /** Mints each search's trainer credentials (NATS_SIGNER_FILE); unset: trainers use what the template or trainerEnv gives them. */
  natsSigner?: NatsUserSigner;
  /** Exactly the environment of locally launched trainers besides what the launcher sets (PATH, NODE_OPTIONS, the trainer's NATS user). */
  trainerEnv: Record<string, string>;
}

/** A YAML or JSON file, read once at start; ConfigError names the variable and the file's problem. */
function readDocument(env: Env, name: string): { path: string; value: unknown } | undefined {
  const path = readExistingFile(env, name, { what: 'YAML or JSON file' });
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(name, path, `a readable file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
  try {
    return { path, value: parseYaml(text) };
  } catch (cause) {
    throw new ConfigError(name, path, `a YAML or JSON file (${(cause as Error).message.split('\n')[0]})`, { cause });
  }
}

function readProfiles(env: Env): TrainerProfiles {
  const path = readExistingFile(env, 'NASNET_PROFILES_FILE', { what: 'YAML or JSON file' });
  if (path === undefined) return defaultTrainerProfiles();
  try {
    return loadTrainerProfiles(path);
  } catch (err) {
    if (err instanceof TrainerProfilesError) throw new ConfigError('NASNET_PROFILES_FILE', path, `a valid trainer profiles file: ${err.message}`, { cause: err });
    throw err;
  }
}

function readLimits(env: Env): SearchLimits {
  const doc = readDocument(env, 'NASNET_LIMITS_FILE');
  if (doc === undefined) return { ...DEFAULT_SEARCH_LIMITS };
  try {
    return parseSearchLimits(doc.value, doc.path);
  } catch (err) {
    if (err instanceof LimitsFileError) throw new ConfigError('NASNET_LIMITS_FILE', doc.path, `a valid limits file: ${err.message}`, { cause: err });
    throw err;
  }
}

/** What a local trainer needs of this environment, and nothing else (no token, not the controller's NATS password). */
function localTrainerEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['PATH', 'NODE_OPTIONS']) if (env[name]) out[name] = env[name]!;
  // The CA of a TLS NATS server is public: the trainers verify the same server.
  if (env.NATS_CA) out.NATS_CA = env.NATS_CA;
  const user = readString(env, 'TRAINER_NATS_USER')?.trim();
  const pass = readString(env, 'TRAINER_NATS_PASS', { secret: true });
  if (pass !== undefined && user === undefined) throw new ConfigError('TRAINER_NATS_USER', undefined, 'the trainers\' NATS user when TRAINER_NATS_PASS is set');
  if (user !== undefined) out.NATS_USER = user;
  if (pass !== undefined) out.NATS_PASS = pass;
  return out;
}

/** NATS_SIGNER_FILE: the account signing key the controller mints trainer users with. */
function readSigner(env: Env): NatsUserSigner | undefined {
  const path = readExistingFile(env, 'NATS_SIGNER_FILE', { what: 'NATS signer file (signer.json)' });
  if (path === undefined) return undefined;
  try {
    return parseSigner(readFileSync(path, 'utf8'), path);
  } catch (err) {
    if (err instanceof NatsCredentialsError) throw new ConfigError('NATS_SIGNER_FILE', path, `a signer file written by npm run secrets: ${err.message}`, { cause: err });
    throw err;
  }
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
  const dataRoot = readDirectory(env, 'NASNET_DATA_DIR');
  const natsSigner = readSigner(env);
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
    profiles: readProfiles(env),
    limits: readLimits(env),
    ...(dataRoot !== undefined ? { dataRoot } : {}),
    ...(natsSigner !== undefined ? { natsSigner } : {}),
    trainerEnv: localTrainerEnv(env),
  };
}
