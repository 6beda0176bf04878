import type { status } from '@grpc/grpc-js';

/** A bearer token and the name of whoever holds it (the caller recorded as a job's submitter). */
export interface NamedToken {
  name: string;
  token: string;
}

/** Server TLS material, PEM file paths. With `clientCa`, clients must present a certificate it signed (mutual TLS). */
export interface TlsFiles {
  cert: string;
  key: string;
  clientCa?: string;
}

/** Client TLS material, PEM file paths. `{}` means TLS checked against the system's roots. */
export interface ClientTls {
  /** CA that signed the server's certificate. @default the system's roots */
  ca?: string;
  /** Client certificate for mutual TLS (with `key`). */
  cert?: string;
  /** Key of `cert`. */
  key?: string;
}

/** What a service's error table makes of an error it knows. */
export interface MappedError {
  code: status;
  /** The status details the client reads. */
  message: string;
  /** The request field at fault, sent in the `field` trailer as well. */
  field?: string;
}

/**
 * One per service: maps the errors its handlers throw to statuses;
 * undefined for an error it does not know (answered INTERNAL with a generic
 * message, and logged).
 */
export type ErrorTable = (err: unknown) => MappedError | undefined;

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** Name of the token the call carried; undefined when the server checks no token. */
  readonly caller: string | undefined;
  /** host:port of the client. */
  readonly peer: string;
  /** Aborted when the client cancels the call or goes away. */
  readonly signal: AbortSignal;
}
