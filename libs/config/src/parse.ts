/**
 * Typed readers of single variables. Each takes the environment as an
 * argument (no library reads the process environment), treats an empty or blank value as
 * unset (a manifest's `value: ""` means "not set"), and throws ConfigError
 * naming the variable, its value and what was expected.
 */
import { statSync } from 'node:fs';
import { ConfigError } from './errors.js';
import type { Env } from './variables.js';

interface Common {
  /** Hide the value in error messages (passwords, tokens). @default false */
  secret?: boolean;
}

/** The raw value, or undefined when unset or blank. */
function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

function missing(env: Env, name: string, expected: string, secret = false): never {
  throw new ConfigError(name, env[name], `${expected} (required)`, { secret });
}

export interface StringOptions extends Common {
  required?: boolean;
  default?: string;
  /** The value must match this whole. */
  pattern?: RegExp;
  /** What to say a value should look like. @default 'a non-empty string' */
  expected?: string;
}

/** A string, kept as written (not trimmed: it may be a password). */
export function readString(env: Env, name: string, options: StringOptions & ({ required: true } | { default: string })): string;
export function readString(env: Env, name: string, options?: StringOptions): string | undefined;
export function readString(env: Env, name: string, options: StringOptions = {}): string | undefined {
  const expected = options.expected ?? (options.pattern ? `a value matching ${options.pattern}` : 'a non-empty string');
  const value = raw(env, name);
  if (value === undefined) {
    if (options.required) missing(env, name, expected, options.secret);
    return options.default;
  }
  if (options.pattern && !options.pattern.test(value)) throw new ConfigError(name, value, expected, { secret: options.secret ?? false });
  return value;
}

export interface IntegerOptions {
  required?: boolean;
  default?: number;
  /** Smallest accepted value. @default Number.MIN_SAFE_INTEGER */
  min?: number;
  /** Largest accepted value. @default Number.MAX_SAFE_INTEGER */
  max?: number;
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  if (min !== undefined) return `an integer >= ${min}`;
  if (max !== undefined) return `an integer <= ${max}`;
  return 'an integer';
}

/** A decimal integer within [min, max]. */
export function readInteger(env: Env, name: string, options: IntegerOptions & ({ required: true } | { default: number })): number;
export function readInteger(env: Env, name: string, options?: IntegerOptions): number | undefined;
export function readInteger(env: Env, name: string, options: IntegerOptions = {}): number | undefined {
  const expected = range(options.min, options.max);
  const value = raw(env, name);
  if (value === undefined) {
    if (options.required) missing(env, name, expected);
    return options.default;
  }
  const text = value.trim();
  const n = Number(text);
  if (!/^[-+]?[0-9]+$/.test(text) || !Number.isSafeInteger(n)) throw new ConfigError(name, value, expected);
  if ((options.min !== undefined && n < options.min) || (options.max !== undefined && n > options.max)) throw new ConfigError(name, value, expected);
  return n;
}

export interface PortOptions {
  /** -1 is accepted and means "do not listen". @default false */
  allowNone?: boolean;
}

/** A TCP port, 0 (any free port) to 65535; with allowNone, -1 too. */
export function readPort(env: Env, name: string, fallback: number, options: PortOptions = {}): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const expected = options.allowNone ? 'a TCP port, 0 to 65535 (0: any free port, -1: none)' : 'a TCP port, 0 to 65535 (0: any free port)';
  const text = value.trim();
  const n = Number(text);
  if (!/^-?[0-9]+$/.test(text) || n > 65535 || n < (options.allowNone ? -1 : 0)) throw new ConfigError(name, value, expected);
  return n;
}

/** One of a fixed set of words (compared exactly, after trimming). */
export function readEnum<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T;
export function readEnum<T extends string>(env: Env, name: string, values: readonly T[]): T | undefined;
export function readEnum<T extends string>(env: Env, name: string, values: readonly T[], fallback?: T): T | undefined {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const text = value.trim();
  if (!(values as readonly string[]).includes(text)) throw new ConfigError(name, value, `one of ${values.join(', ')}`);
  return text as T;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

/** true/false, 1/0, yes/no, on/off (any case). */
export function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const text = value.trim().toLowerCase();
  if (TRUE.includes(text)) return true;
  if (FALSE.includes(text)) return false;
  throw new ConfigError(name, value, 'true or false (also 1/0, yes/no, on/off)');
}

export interface FileOptions {
  required?: boolean;
  /** What the file holds, for the message. @default 'a file' */
  what?: string;
}

/**
 * A path to a regular file that exists now: a missing certificate or token
 * file is reported at start-up with its variable, not on the first request.
 */
export function readExistingFile(env: Env, name: string, options: FileOptions & { required: true }): string;
export function readExistingFile(env: Env, name: string, options?: FileOptions): string | undefined;
export function readExistingFile(env: Env, name: string, options: FileOptions = {}): string | undefined {
  const expected = `the path of an existing ${options.what ?? 'file'}`;
  const value = raw(env, name);
  if (value === undefined) {
    if (options.required) missing(env, name, expected);
    return undefined;
  }
  const path = value.trim();
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (cause) {
    throw new ConfigError(name, value, `${expected} (${(cause as NodeJS.ErrnoException).code ?? 'cannot stat it'})`, { cause });
  }
  if (!isFile) throw new ConfigError(name, value, `${expected} (it is not a regular file)`);
  return path;
}

/**
 * A path to a directory. It need not exist yet (a volume may be mounted or
 * a directory created later) but must be absolute, so a relative path never
 * silently means "relative to wherever the process was started".
 */
export function readDirectory(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const path = value.trim();
  if (!path.startsWith('/')) throw new ConfigError(name, value, 'an absolute directory path');
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

export interface UrlOptions {
  required?: boolean;
  default?: string;
  /** Accepted schemes, without the colon, e.g. ['nats', 'tls']. */
  protocols: readonly string[];
  /** A comma-separated list of URLs is accepted (a NATS cluster's seed servers). @default false */
  list?: boolean;
  /** An example for the message, e.g. 'nats://nats:4222'. */
  example?: string;
}

/** A URL with a host and one of the given schemes (or, with list, several separated by commas). */
export function readUrl(env: Env, name: string, options: UrlOptions & ({ required: true } | { default: string })): string;
export function readUrl(env: Env, name: string, options: UrlOptions): string | undefined;
export function readUrl(env: Env, name: string, options: UrlOptions): string | undefined {
  const schemes = options.protocols.map((p) => `${p}://`).join(' or ');
  const expected = `${options.list ? 'comma-separated URLs' : 'a URL'} starting with ${schemes}${options.example ? ` such as ${options.example}` : ''}`;
  const value = raw(env, name);
  if (value === undefined) {
    if (options.required) missing(env, name, expected);
    return options.default;
  }
  const text = value.trim();
  const parts = options.list ? text.split(',').map((p) => p.trim()) : [text];
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(part);
    } catch (cause) {
      throw new ConfigError(name, value, expected, { cause });
    }
    if (!options.protocols.includes(url.protocol.replace(/:$/, '')) || url.hostname === '') throw new ConfigError(name, value, expected);
  }
  return parts.join(',');
}
