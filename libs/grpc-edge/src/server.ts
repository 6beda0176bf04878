import { isIP } from 'node:net';
import { Metadata, Server, ServerCredentials, ServerInterceptingCall, status } from '@grpc/grpc-js';
import type { ServerInterceptor, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { BindError, HandlerSetupError, MalformedRequestError, OpenServerError, UnauthenticatedError } from './errors.js';
import { EncodedRequest, bindEdgeMethod, isEdgeMethod, statusOf, type EdgeMethod, type MethodRuntime } from './handlers.js';
import { readPem } from './pem.js';
import { TokenChecker } from './tokens.js';
import type { NamedToken, TlsFiles } from './types.js';

/** grpc-js accepts 4 MiB by default; no request of ours comes near 1 MiB (a search spec is a few hundred bytes). */
export const DEFAULT_MAX_RECEIVE_BYTES = 1024 * 1024;
/** How long close() lets running calls (open watch streams) finish before cutting them. */
export const DEFAULT_CLOSE_GRACE_MS = 2000;

/** One service served: its ts-proto definition and handlers made with unary()/serverStream(), one per method. */
export interface GrpcService {
  definition: ServiceDefinition;
  handlers: Readonly<Record<string, EdgeMethod>>;
}

export interface GrpcServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. */
  port: number;
  services: readonly GrpcService[];
  /** Calls must carry `authorization: Bearer <token>` with one of these; the token's name is the caller. @default [] (no check) */
  tokens?: readonly NamedToken[];
  /** PEM files; with `clientCa`, mutual TLS. @default plaintext */
  tls?: TlsFiles;
  /** Largest request accepted; larger ones get RESOURCE_EXHAUSTED. @default DEFAULT_MAX_RECEIVE_BYTES */
  maxReceiveBytes?: number;
  /**
   * What the operator sets to secure the server, named when a bind beyond
   * loopback without token or TLS is refused, e.g.
   * `CONTROLLER_TOKEN, CONTROLLER_TOKENS_FILE or TLS_CERT and TLS_KEY`.
   */
  authHint?: string;
  /** Where unexpected handler errors are logged. @default console.error */
  log?: (line: string) => void;
  /** @default DEFAULT_CLOSE_GRACE_MS */
  closeGraceMs?: number;
}

export interface RunningGrpcServer {
  readonly server: Server;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** host:port to dial (IPv6 in brackets). */
  readonly address: string;
  /** Stops accepting calls, lets running ones finish for the grace period, then cuts them. */
  close(): Promise<void>;
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (h.startsWith('::ffff:')) return isLoopback(h.slice('::ffff:'.length));
  return isIP(h) === 4 && h.startsWith('127.');
}

/** host:port, with an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function serverCredentials(tls: TlsFiles): ServerCredentials {
  const ca = tls.clientCa ? readPem('clientCa', tls.clientCa) : null;
  const pair = { cert_chain: readPem('cert', tls.cert), private_key: readPem('key', tls.key) };
  // The third argument makes grpc-js refuse clients without a certificate signed by `ca`.
  return ServerCredentials.createSsl(ca, [pair], ca !== null);
}

/**
 * Runs before the handler and before the request is read: a call without
 * a known token is answered UNAUTHENTICATED while its body is still unread
 * (the HTTP/2 stream stays paused), so an unauthenticated flood costs
 * neither reading nor decoding. The token leaves the metadata; handlers
 * learn the caller's name.
 */
function authInterceptor(checker: TokenChecker, callers: WeakMap<Metadata, string>): ServerInterceptor {
  return (_method, next) => {
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (startNext) => startNext({
        onReceiveMetadata: (metadata, forward) => {
          const caller = checker.callerOf(metadata.get('authorization'));
          if (caller === undefined) {
            call.sendStatus({ code: status.UNAUTHENTICATED, details: new UnauthenticatedError().message, metadata: new Metadata() });
            return;
          }
          metadata.remove('authorization');
          callers.set(metadata, caller);
          forward(metadata);
        },
      }),
    });
    return call;
  };
}

function serviceName(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  return first?.path.split('/')[1] ?? 'service';
}

/**
 * The service's definition with requests left undecoded (EncodedRequest):
 * grpc-js answers bytes its deserializer rejects with INTERNAL; here the
 * handler decodes after the token check and answers INVALID_ARGUMENT.
 */
function undecodedDefinition(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [key, method] of Object.entries(definition)) out[key] = { ...method, requestDeserialize: (bytes: Buffer) => new EncodedRequest(bytes) };
  return out;
}

function implementation(service: GrpcService, runtimeOf: (path: string, decode: (bytes: Buffer) => unknown) => MethodRuntime): UntypedServiceImplementation {
  const name = serviceName(service.definition);
  const impl: UntypedServiceImplementation = {};
  for (const key of Object.keys(service.handlers)) {
    if (!(key in service.definition)) throw new HandlerSetupError(name, `handler '${key}' is no method of the service`);
  }
  for (const [key, method] of Object.entries(service.definition)) {
    const handler: unknown = service.handlers[key];
    if (handler === undefined) throw new HandlerSetupError(name, `no handler for '${key}'`);
    if (!isEdgeMethod(handler)) throw new HandlerSetupError(name, `handler '${key}' was not made with unary() or serverStream()`);
    const kind = method.requestStream ? 'clientStream' : method.responseStream ? 'serverStream' : 'unary';
    if (handler.kind !== kind) throw new HandlerSetupError(name, `'${key}' is a ${kind} method, its handler is ${handler.kind}`);
    impl[key] = bindEdgeMethod(handler, runtimeOf(method.path, method.requestDeserialize));
  }
  return impl;
}

type SecurityOptions = Pick<GrpcServerOptions, 'host' | 'port' | 'tokens' | 'tls' | 'authHint'>;

function secured(options: SecurityOptions): { checker: TokenChecker; credentials: ServerCredentials } {
  const host = options.host ?? '127.0.0.1';
  const checker = new TokenChecker(options.tokens ?? []);
  if (!isLoopback(host) && !checker.enabled && !options.tls) throw new OpenServerError(host, options.port, options.authHint);
  return { checker, credentials: options.tls ? serverCredentials(options.tls) : ServerCredentials.createInsecure() };
}

/**
 * What startGrpcServer checks before it binds (closed by default, the
 * token list, the TLS files), for a service that wants to fail before it
 * starts anything else (e.g. before it resumes stored jobs).
 */
export function checkServerOptions(options: SecurityOptions): void {
  secured(options);
}

/**
 * Starts one gRPC server for the given services: TLS or mutual TLS,
 * bearer tokens checked before the request is read, a receive limit,
 * tolerant decoding, one error table per service.
 *
 * Closed by default: bound to anything but loopback, it refuses to start
 * with neither tokens nor TLS (OpenServerError names `authHint`).
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const host = options.host ?? '127.0.0.1';
  const { checker, credentials } = secured(options);
  const log = options.log ?? ((line: string) => console.error(line));
  const callers = new WeakMap<Metadata, string>();

  const runtimeOf = (path: string, decode: (bytes: Buffer) => unknown): MethodRuntime => {
    const method = path.split('/').at(-1) ?? path;
    return {
      method,
      callerOf: (metadata) => {
        if (!checker.enabled) return undefined;
        const caller = callers.get(metadata);
        if (caller === undefined) throw new UnauthenticatedError();
        return caller;
      },
      decode: (request) => {
        if (!(request instanceof EncodedRequest)) throw new MalformedRequestError(method, 'the server did not receive the request bytes');
        try {
          return decode(request.bytes);
        } catch (cause) {
          throw new MalformedRequestError(method, cause instanceof Error ? cause.message : String(cause), { cause });
        }
      },
      toStatus: (err, errors) => statusOf(err, errors, log, method),
    };
  };

  const server = new Server({
    'grpc.max_receive_message_length': options.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
    interceptors: checker.enabled ? [authInterceptor(checker, callers)] : [],
  });
  for (const service of options.services) server.addService(undecodedDefinition(service.definition), implementation(service, runtimeOf));

  const requested = joinHostPort(host, options.port);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(requested, credentials, (err, bound) => (err ? reject(new BindError(requested, err.message, { cause: err })) : resolve(bound)));
  });
  const grace = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  return {
    server,
    port,
    address: joinHostPort(host, port),
    close: () => new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, grace);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}
