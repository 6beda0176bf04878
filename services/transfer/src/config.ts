/**
 * The transfer service's environment: every variable it reads, and the one
 * function that reads them (main.ts calls it once with process.env).
 */
import {
  ConfigError, natsSettingsFromEnv, NATS_VARIABLES, readDirectory, readEnum, readExistingFile, readInteger, readPort, readString,
  tlsFilesFromEnv, tlsVariables, tokensFromEnv, tokenVariables,
  type ClientTls, type Env, type EnvVariable, type NamedToken, type NatsSettings, type TlsFiles,
} from '@nasnet/config';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { BACKEND_NAMES, type BackendName } from '@nasnet/engine';
import { DEFAULT_TRANSFER_LIMITS, parseTransferLimits, TransferLimitsFileError, type TransferLimits } from '@nasnet/transfer';
import { DEFAULT_TRANSFER_PORT } from './server.js';

const TOKEN_NAMES = { token: 'TRANSFER_TOKEN', file: 'TRANSFER_TOKENS_FILE' };

/** Every variable the transfer service reads. */
export const VARIABLES: readonly EnvVariable[] = [
  ...NATS_VARIABLES,
  { name: 'TRANSFER_HOST', required: false, default: '0.0.0.0', meaning: 'Address TransferService (gRPC) binds.' },
  { name: 'TRANSFER_PORT', required: false, default: String(DEFAULT_TRANSFER_PORT), meaning: 'Port of TransferService; 0: any free port.' },
  ...tokenVariables(TOKEN_NAMES, 'TransferService'),
  ...tlsVariables(),
  { name: 'TRANSFER_MAX_CONCURRENT', required: false, default: '1', meaning: 'Transfers trained at once (one training process each); more wait in line.' },
  { name: 'NAS_BACKEND', required: false, default: 'auto', meaning: `Tensor backend of the training processes: ${BACKEND_NAMES.join(', ')}.` },
  { name: 'CONTROLLER_ADDR', required: false, meaning: 'host:port of the controller, to look up the best cell of a search_id; unset: transfers need a genotype.' },
  { name: 'CONTROLLER_TOKEN', required: false, secret: true, meaning: 'Bearer token presented to the controller.' },
  { name: 'CONTROLLER_CA', required: false, meaning: 'PEM CA that signed a TLS controller\'s certificate; set: the controller is dialled over TLS.' },
  { name: 'NASNET_DATA_DIR', required: false, meaning: 'Absolute directory that data paths of a transfer (e.g. cifar10:DIR) must lie under; unset: no data directories.' },
  { name: 'NASNET_EXPORT_DIR', required: false, meaning: 'Absolute directory that exported models are written under; unset: no export.' },
  { name: 'NASNET_LIMITS_FILE', required: false, meaning: `Operator limits (YAML or JSON, section \`transfer\`: imageSize, epochs, filters, cells, batchSize, maxQueued). Default: ${Object.entries(DEFAULT_TRANSFER_LIMITS).map(([k, v]) => `${k} ${v}`).join(', ')}.` },
];

/** What runTransferService needs from the environment. */
export interface TransferConfig {
  nats: NatsSettings;
  /** @default '0.0.0.0' */
  host: string;
  /** 0 = any free port. @default 50052 */
  port: number;
  /** Bearer tokens callers may present; empty: no token asked. */
  tokens: NamedToken[];
  tls?: TlsFiles;
  /** Transfers trained at once. @default 1 */
  maxConcurrent: number;
  /** Backend of the training processes; unset: auto. */
  backend?: BackendName;
  /** Where search ids are resolved to their best cell. */
  controller?: { address: string; token?: string; tls?: ClientTls };
  /** Data paths must lie under it. */
  dataRoot?: string;
  /** Exports are written under it. */
  exportRoot?: string;
  /** The operator's limits. @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits;
}

function readLimits(env: Env): TransferLimits {
  const path = readExistingFile(env, 'NASNET_LIMITS_FILE', { what: 'YAML or JSON file' });
  if (path === undefined) return { ...DEFAULT_TRANSFER_LIMITS };
  let value: unknown;
  try {
    value = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError('NASNET_LIMITS_FILE', path, `a readable YAML or JSON file (${(cause as Error).message.split('\n')[0]})`, { cause });
  }
  try {
    return parseTransferLimits(value, path);
  } catch (err) {
    if (err instanceof TransferLimitsFileError) throw new ConfigError('NASNET_LIMITS_FILE', path, `a valid limits file: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Reads the variables in VARIABLES; throws ConfigError naming the first bad one. */
export function transferConfigFromEnv(env: Env): TransferConfig {
  const nats = natsSettingsFromEnv(env);
  const tls = tlsFilesFromEnv(env);
  const backend = readEnum(env, 'NAS_BACKEND', BACKEND_NAMES);
  const address = readString(env, 'CONTROLLER_ADDR', { pattern: /^\s*\S+:[0-9]{1,5}\s*$/, expected: 'host:port of the controller, e.g. nasnet-controller:50051' })?.trim();
  const controllerToken = readString(env, 'CONTROLLER_TOKEN', { secret: true, pattern: /^\S+$/, expected: 'a token without spaces' });
  const controllerCa = readExistingFile(env, 'CONTROLLER_CA', { what: 'PEM CA file' });
  if (address === undefined && (controllerToken !== undefined || controllerCa !== undefined)) {
    throw new ConfigError('CONTROLLER_ADDR', env['CONTROLLER_ADDR'], `the controller's host:port when ${controllerToken !== undefined ? 'CONTROLLER_TOKEN' : 'CONTROLLER_CA'} is set`);
  }
  const dataRoot = readDirectory(env, 'NASNET_DATA_DIR');
  const exportRoot = readDirectory(env, 'NASNET_EXPORT_DIR');
  return {
    nats,
    host: readString(env, 'TRANSFER_HOST', { default: '0.0.0.0' }).trim(),
    port: readPort(env, 'TRANSFER_PORT', DEFAULT_TRANSFER_PORT),
    tokens: tokensFromEnv(env, TOKEN_NAMES),
    ...(tls ? { tls } : {}),
    maxConcurrent: readInteger(env, 'TRANSFER_MAX_CONCURRENT', { default: 1, min: 1, max: 64 }),
    ...(backend !== undefined && backend !== 'auto' ? { backend } : {}),
    ...(address !== undefined ? {
      controller: {
        address,
        ...(controllerToken !== undefined ? { token: controllerToken } : {}),
        ...(controllerCa !== undefined ? { tls: { ca: controllerCa } } : {}),
      },
    } : {}),
    ...(dataRoot !== undefined ? { dataRoot } : {}),
    ...(exportRoot !== undefined ? { exportRoot } : {}),
    limits: readLimits(env),
  };
}
