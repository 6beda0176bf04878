import type { status } from '@grpc/grpc-js';

/** Token and TLS shapes are the configuration's (services parse them from the environment with @nasnet/config). */
export type { ClientTls, NamedToken, TlsFiles } from '@nasnet/config';

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
