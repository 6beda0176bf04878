/**
 * Configuration at the process edge: each service declares the variables it
 * reads once (an EnvVariable list, which also renders k8s/README.md's tables
 * and is checked against the manifests) and parses them with these readers,
 * which take the environment as an argument and throw ConfigError naming the
 * variable, its value and what was expected. No library reads the process environment.
 *
 * ```ts
 * import { natsSettingsFromEnv, NATS_VARIABLES, readPort, type Env, type EnvVariable } from '@nasnet/config';
 * export const VARIABLES: readonly EnvVariable[] = [...NATS_VARIABLES, { name: 'PORT', required: false, default: '8080', meaning: 'Port of /healthz.' }];
 * export function fooConfigFromEnv(env: Env) { return { nats: natsSettingsFromEnv(env), port: readPort(env, 'PORT', 8080) }; }
 * // main.ts reads its environment through fooConfigFromEnv once; a ConfigError is one line and exit code 2.
 * ```
 */
export { ConfigError, TokenFileError } from './errors.js';
export { describeVariables } from './variables.js';
export type { Env, EnvVariable } from './variables.js';
export { readBoolean, readDirectory, readEnum, readExistingFile, readInteger, readPort, readString, readUrl } from './parse.js';
export type { FileOptions, IntegerOptions, PortOptions, StringOptions, UrlOptions } from './parse.js';
export { parseTokens, readTokenFile, TOKEN_NAME_PATTERN } from './tokens.js';
export type { NamedToken } from './tokens.js';
export {
  DEFAULT_TOKEN_NAME, NATS_VARIABLES, natsSettingsFromEnv, TLS_VARIABLE_NAMES, tlsFilesFromEnv, tlsVariables, tokensFromEnv, tokenVariables,
} from './settings.js';
export type { ClientTls, NatsSettings, TlsFiles, TlsVariableNames } from './settings.js';
