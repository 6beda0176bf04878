import { InterceptingCall, credentials } from '@grpc/grpc-js';
import type { ChannelCredentials, ClientOptions, Interceptor } from '@grpc/grpc-js';
import { TlsFileError } from './errors.js';
import { readPem } from './pem.js';
import type { ClientTls } from './types.js';

export interface GrpcClientOptions {
  /** host:port of the server. */
  address: string;
  /** Sent as `authorization: Bearer <token>` with every call. */
  token?: string;
  /** TLS (`{}`: the system's roots); with cert and key, mutual TLS. @default plaintext */
  tls?: ClientTls;
}

/** What a ts-proto client constructor takes: `new pb.SearchServiceClient(...grpcClientOptions(o))`. */
export type GrpcClientArgs = [address: string, credentials: ChannelCredentials, options: Partial<ClientOptions>];

/**
 * Adds the bearer token to every call's metadata. An interceptor rather
 * than call credentials: grpc-js refuses call credentials on a plaintext
 * channel, and servers on loopback or inside a mesh may run without TLS.
 */
function bearer(token: string): Interceptor {
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      metadata.set('authorization', `Bearer ${token}`);
      next(metadata, listener);
    },
  });
}

/** Channel credentials and options for a client of a server behind the edge. Throws TlsFileError for an unreadable PEM file. */
export function grpcClientOptions(options: GrpcClientOptions): GrpcClientArgs {
  const { tls, token } = options;
  if (tls && Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new TlsFileError(tls.cert ? 'key' : 'cert', undefined, 'a client certificate and its key go together');
  }
  const channel = tls
    ? credentials.createSsl(tls.ca ? readPem('ca', tls.ca) : null, tls.key ? readPem('key', tls.key) : null, tls.cert ? readPem('cert', tls.cert) : null)
    : credentials.createInsecure();
  return [options.address, channel, token ? { interceptors: [bearer(token)] } : {}];
}
