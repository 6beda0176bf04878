/**
 * The variables nasctl reads (flags win over them), and the one function
 * that reads them; main() calls it once and hands the result to every
 * command through CliIO.
 */
import { readBoolean, readEnum, readString, type Env, type EnvVariable } from '@nasnet/config';
import { BACKEND_NAMES, type BackendName } from '@nasnet/engine';

export const DEFAULT_SERVER = '127.0.0.1:50051';
export const DEFAULT_TRANSFER_SERVER = '127.0.0.1:50052';

/** Every variable nasctl reads. */
export const VARIABLES: readonly EnvVariable[] = [
  { name: 'NASCTL_SERVER', required: false, default: DEFAULT_SERVER, meaning: 'host:port of the controller (SearchService) when --server is not given.' },
  { name: 'NASCTL_TRANSFER_SERVER', required: false, default: DEFAULT_TRANSFER_SERVER, meaning: 'host:port of the transfer service when --server is not given to `nasctl transfer`.' },
  { name: 'NASCTL_TOKEN', required: false, secret: true, meaning: 'Bearer token sent to the service when --token is not given.' },
  { name: 'NASCTL_DEBUG', required: false, default: 'false', meaning: 'true: print the stack of an error after its message.' },
  { name: 'NAS_BACKEND', required: false, default: 'auto', meaning: `Tensor backend of the local search's worker processes: ${BACKEND_NAMES.join(', ')}.` },
];

/** What nasctl's commands take from the environment. */
export interface NasctlConfig {
  /** @default '127.0.0.1:50051' */
  server: string;
  /** @default '127.0.0.1:50052' */
  transferServer: string;
  token?: string;
  /** @default false */
  debug: boolean;
  /** @default 'auto' */
  backend: BackendName;
}

const ADDRESS = { pattern: /^\s*\S+:[0-9]{1,5}\s*$/, expected: 'host:port, e.g. 127.0.0.1:50051' };

/** Reads the variables in VARIABLES; throws ConfigError naming the first bad one. */
export function nasctlConfigFromEnv(env: Env): NasctlConfig {
  const token = readString(env, 'NASCTL_TOKEN', { secret: true, pattern: /^\S+$/, expected: 'a token without spaces' });
  return {
    server: readString(env, 'NASCTL_SERVER', { ...ADDRESS, default: DEFAULT_SERVER }).trim(),
    transferServer: readString(env, 'NASCTL_TRANSFER_SERVER', { ...ADDRESS, default: DEFAULT_TRANSFER_SERVER }).trim(),
    ...(token !== undefined ? { token } : {}),
    debug: readBoolean(env, 'NASCTL_DEBUG', false),
    backend: readEnum(env, 'NAS_BACKEND', BACKEND_NAMES, 'auto'),
  };
}
