/**
 * Settings shared by several services (NATS connection, server and client
 * TLS, bearer tokens), read from the variables every service names the
 * same way.
 */
import { ConfigError, TokenFileError } from './errors.js';
import { readExistingFile, readString, readUrl } from './parse.js';
import { readTokenFile, type NamedToken } from './tokens.js';
import type { Env, EnvVariable } from './variables.js';

/** How a service reaches NATS. */
export interface NatsSettings {
  /** One URL, or several separated by commas (seed servers of a cluster). */
  url: string;
  user?: string;
  pass?: string;
  /** A .creds file (user JWT + nkey seed, NATS decentralised auth): instead of user and password. */
  creds?: string;
  /** PEM CA file that signed the NATS server's certificate: the client then requires TLS and verifies the server. */
  ca?: string;
}

/** A server's TLS files (PEM paths). With clientCa, clients must present a certificate it signed (mutual TLS). */
export interface TlsFiles {
  cert: string;
  key: string;
  clientCa?: string;
}

/** A client's TLS files (PEM paths): the CA that signed the server's certificate, and a client certificate for mutual TLS. */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** NATS_URL (required), NATS_USER, NATS_PASS, NATS_CREDS, NATS_CA: the same lines in every service's VARIABLES. */
export const NATS_VARIABLES: readonly EnvVariable[] = [
  { name: 'NATS_URL', required: true, meaning: 'NATS server URL, or several separated by commas, e.g. nats://nats:4222.' },
  { name: 'NATS_USER', required: false, meaning: 'NATS user name (with NATS_PASS).' },
  { name: 'NATS_PASS', required: false, secret: true, meaning: 'NATS password (needs NATS_USER).' },
  { name: 'NATS_CREDS', required: false, meaning: 'Path of a NATS .creds file (user JWT and nkey seed, made by `npm run secrets` or minted by the controller); instead of NATS_USER/NATS_PASS.' },
  { name: 'NATS_CA', required: false, meaning: 'Path of the PEM CA that signed the NATS server certificate: TLS is then required and the server verified.' },
];

/** Reads NATS_URL, NATS_USER, NATS_PASS, NATS_CREDS and NATS_CA; a password without a user, or creds with a user, is refused. */
export function natsSettingsFromEnv(env: Env): NatsSettings {
  const url = readUrl(env, 'NATS_URL', { required: true, protocols: ['nats', 'tls', 'ws', 'wss'], list: true, example: 'nats://nats:4222' });
  const user = readString(env, 'NATS_USER')?.trim();
  const pass = readString(env, 'NATS_PASS', { secret: true });
  if (pass !== undefined && user === undefined) throw new ConfigError('NATS_USER', env['NATS_USER'], 'a NATS user name when NATS_PASS is set');
  const creds = readExistingFile(env, 'NATS_CREDS', { what: 'NATS .creds file' });
  if (creds !== undefined && user !== undefined) throw new ConfigError('NATS_CREDS', creds, 'either NATS_CREDS or NATS_USER/NATS_PASS, not both');
  const ca = readExistingFile(env, 'NATS_CA', { what: 'PEM CA file' });
  return {
    url, ...(user !== undefined ? { user } : {}), ...(pass !== undefined ? { pass } : {}),
    ...(creds !== undefined ? { creds } : {}), ...(ca !== undefined ? { ca } : {}),
  };
}

/** The names of a server's three TLS variables. */
export interface TlsVariableNames {
  cert: string;
  key: string;
  clientCa: string;
}

/** TLS_CERT, TLS_KEY, TLS_CLIENT_CA: what the controller and the transfer service use. */
export const TLS_VARIABLE_NAMES: TlsVariableNames = { cert: 'TLS_CERT', key: 'TLS_KEY', clientCa: 'TLS_CLIENT_CA' };

/** The server TLS lines of a VARIABLES list. */
export function tlsVariables(names: TlsVariableNames = TLS_VARIABLE_NAMES): EnvVariable[] {
  return [
    { name: names.cert, required: false, meaning: `PEM certificate chain of the server; with ${names.key}, turns TLS on.` },
    { name: names.key, required: false, meaning: `PEM private key of ${names.cert}.` },
    { name: names.clientCa, required: false, meaning: `PEM CA bundle; clients must present a certificate it signed (mutual TLS). Needs ${names.cert}.` },
  ];
}

/**
 * Server TLS: undefined when none of the variables is set; the certificate
 * and key must come together, and a client CA needs them.
 */
export function tlsFilesFromEnv(env: Env, names: TlsVariableNames = TLS_VARIABLE_NAMES): TlsFiles | undefined {
  const cert = readExistingFile(env, names.cert, { what: 'PEM certificate file' });
  const key = readExistingFile(env, names.key, { what: 'PEM private key file' });
  const clientCa = readExistingFile(env, names.clientCa, { what: 'PEM CA file' });
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new ConfigError(names.cert, env[names.cert], `a certificate when ${names.clientCa} is set (mutual TLS needs server TLS)`);
    return undefined;
  }
  if (cert === undefined) throw new ConfigError(names.cert, env[names.cert], `a certificate file to go with ${names.key}`);
  if (key === undefined) throw new ConfigError(names.key, env[names.key], `a private key file to go with ${names.cert}`);
  return { cert, key, ...(clientCa !== undefined ? { clientCa } : {}) };
}

/** The name given to the token of a single-token variable such as CONTROLLER_TOKEN. */
export const DEFAULT_TOKEN_NAME = 'default';

/**
 * Bearer tokens from a single-token variable (named "default") and/or a
 * token file variable (lines `name token`). Empty when neither is set: the
 * server then asks for no token.
 */
export function tokensFromEnv(env: Env, names: { token: string; file: string }): NamedToken[] {
  const single = readString(env, names.token, { secret: true, pattern: /^\S+$/, expected: 'a token without spaces' });
  const file = readExistingFile(env, names.file, { what: 'token file' });
  const tokens: NamedToken[] = [];
  if (file !== undefined) {
    try {
      tokens.push(...readTokenFile(file));
    } catch (cause) {
      if (!(cause instanceof TokenFileError)) throw cause;
      throw new ConfigError(names.file, env[names.file], `a file of "name token" lines; ${cause.message}`, { cause });
    }
  }
  if (single !== undefined) {
    if (tokens.some((t) => t.name === DEFAULT_TOKEN_NAME)) {
      throw new ConfigError(names.file, env[names.file], `no token named "${DEFAULT_TOKEN_NAME}" while ${names.token} is set (that is its name)`);
    }
    if (tokens.some((t) => t.token === single)) {
      throw new ConfigError(names.token, single, `a token not also listed in ${names.file}`, { secret: true });
    }
    tokens.unshift({ name: DEFAULT_TOKEN_NAME, token: single });
  }
  return tokens;
}

/** The two token lines of a VARIABLES list. */
export function tokenVariables(names: { token: string; file: string }, service: string): EnvVariable[] {
  return [
    { name: names.token, required: false, secret: true, meaning: `Bearer token callers of the ${service} must present (recorded as submitter "${DEFAULT_TOKEN_NAME}"). With no token and no TLS the server listens on loopback only.` },
    { name: names.file, required: false, meaning: `File of "name token" lines (# comments): several callers, each recorded by name as the submitter.` },
  ];
}
