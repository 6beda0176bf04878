import type { ServiceError } from '@grpc/grpc-js';
import { grpcClientOptions, TlsFileError, type GrpcClientArgs } from '@nasnet/grpc-edge';
import { UsageError } from './errors.js';

/** Connection flags shared by every remote command. */
export const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  tls: { type: 'boolean', default: false },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
} as const;

export const CONNECTION_HELP = `connection:
  --server HOST:PORT   the service (default $NASCTL_SERVER or 127.0.0.1:50051)
  --token T            bearer token (default $NASCTL_TOKEN)
  --tls                use TLS (the system's roots unless --ca)
  --ca FILE            CA certificate (PEM) that signed the server's certificate
  --cert FILE --key FILE  client certificate for mutual TLS`;

export interface Connection {
  address: string;
  /** What a ts-proto client constructor takes: TLS credentials and the bearer token on every call. */
  args: GrpcClientArgs;
}

const FLAG_OF: Record<string, string> = { ca: '--ca', cert: '--cert', key: '--key' };

/** Flags first, then the defaults (nasctl's config: NASCTL_SERVER / NASCTL_TOKEN, or their transfer counterparts). */
export function connection(values: { server?: string; token?: string; tls?: boolean; ca?: string; cert?: string; key?: string }, defaults: { server: string; token?: string }): Connection {
  const address = values.server ?? defaults.server;
  if ((values.cert && !values.key) || (!values.cert && values.key)) throw new UsageError('--cert and --key go together');
  const useTls = values.tls || Boolean(values.ca || values.cert);
  const token = values.token ?? defaults.token;
  try {
    const args = grpcClientOptions({
      address,
      ...(token ? { token } : {}),
      ...(useTls ? { tls: { ...(values.ca ? { ca: values.ca } : {}), ...(values.cert ? { cert: values.cert } : {}), ...(values.key ? { key: values.key } : {}) } } : {}),
    });
    return { address, args };
  } catch (cause) {
    if (cause instanceof TlsFileError) throw new UsageError(`${FLAG_OF[cause.role] ?? cause.role}: cannot read '${cause.path}': ${(cause.cause as Error | undefined)?.message ?? cause.message}`, { cause });
    throw cause;
  }
}

/** Promise form of a unary call, with gRPC errors turned into one readable line. */
export function unary<Res>(client: object, method: unknown, req: unknown): Promise<Res> {
  // grpc-js client methods are overloaded; callers name the response type.
  const fn = method as (req: unknown, cb: (err: ServiceError | null, res: Res) => void) => unknown;
  return new Promise((resolve, reject) =>
    fn.call(client, req, (err, res) => (err ? reject(new RemoteError(err)) : resolve(res))),
  );
}

export class RemoteError extends Error {
  constructor(readonly grpc: ServiceError) {
    super(`${statusName(grpc.code)}: ${grpc.details}`, { cause: grpc });
    this.name = 'RemoteError';
  }
}

function statusName(code: number): string {
  const names = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
    'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
  return names[code] ?? `status ${code}`;
}
