import { readFileSync } from 'node:fs';
import { Server, ServerCredentials, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { architectureToProto, eventToProto, runStateFromProto, specFromProto, statusToProto, InvalidRequestError } from './convert.js';
import { toGrpcError, UnauthenticatedError } from './grpc-errors.js';
import { InvalidPageTokenError } from '@nasnet/registry';
import type { SearchManager } from './manager.js';

export interface ControllerServerOptions {
  manager: SearchManager;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. @default 50051 */
  port?: number;
  /** Bearer token every call must carry (`authorization: Bearer <token>`); unset = no check. */
  token?: string;
  /** PEM files for TLS; with `clientCa`, clients must present a certificate (mutual TLS). */
  tls?: { cert: string; key: string; clientCa?: string };
  /** Largest request accepted. @default 1 MiB */
  maxReceiveBytes?: number;
}

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

function checkToken(token: string | undefined, metadata: { get(key: string): unknown[] }): void {
  if (!token) return;
  const values = metadata.get('authorization').map(String);
  if (!values.includes(`Bearer ${token}`)) throw new UnauthenticatedError();
}

const DECODE_ERROR = Symbol('decode error');

/**
 * grpc-js answers a request it cannot deserialize with INTERNAL; a malformed
 * request is the client's fault, so decoding failures are carried into the
 * handler and answered with INVALID_ARGUMENT there.
 */
export function tolerantDecoding<T extends ServiceDefinition>(definition: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return { [DECODE_ERROR]: err instanceof Error ? err.message : String(err) };
        }
      },
    };
  }
  return out as T;
}

function checkDecoded(request: unknown): void {
  if (request && typeof request === 'object' && DECODE_ERROR in request) {
    throw new InvalidRequestError('request', `malformed protobuf: ${(request as Record<symbol, string>)[DECODE_ERROR]}`);
  }
}

function unary<Req, Res>(token: string | undefined, fn: (req: Req) => Res | Promise<Res>) {
  return async (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    try {
      checkToken(token, call.metadata);
      checkDecoded(call.request);
      callback(null, await fn(call.request));
    } catch (err) {
      callback(toGrpcError(err) as never, null);
    }
  };
}

const PAGE_SIZE = 50;

/** SearchService over a SearchManager: only mapping, validation lives in the libs. */
export function searchServiceHandlers(manager: SearchManager, token?: string): pb.SearchServiceServer {
  return {
    submitSearch: unary(token, async (req: pb.SubmitSearchRequest) => {
      const { input, trainers } = specFromProto(req.spec);
      const s = await manager.submit(input, { trainers, ...(req.requestId ? { requestId: req.requestId } : {}) });
      return { searchId: s.id, status: statusToProto(s) };
    }),
    getSearch: unary(token, async (req: pb.GetSearchRequest) => ({ status: statusToProto(await manager.get(req.searchId)) })),
    listSearches: unary(token, async (req: pb.ListSearchesRequest) => {
      const states = req.states.map((s, i) => runStateFromProto(s, `states[${i}]`));
      const page = await manager.list({ states, pageSize: req.pageSize > 0 ? req.pageSize : PAGE_SIZE, pageToken: req.pageToken }).catch((err: unknown) => {
        if (err instanceof InvalidPageTokenError) throw new InvalidRequestError('page_token', `'${err.token.slice(0, 40)}' is not a token this server issued`);
        throw err;
      });
      return { searches: page.jobs.map(statusToProto), nextPageToken: page.nextPageToken };
    }),
    cancelSearch: unary(token, async (req: pb.CancelSearchRequest) => ({ status: statusToProto(await manager.cancel(req.searchId, req.reason || 'cancelled by request')) })),
    topArchitectures: unary(token, async (req: pb.TopArchitecturesRequest) => ({
      architectures: (await manager.top(req.searchId, req.k > 0 ? Math.min(req.k, 1000) : 5)).map((a) => architectureToProto(a)),
    })),
    watchSearch: async (call: ServerWritableStream<pb.WatchSearchRequest, pb.SearchEvent>) => {
      try {
        checkToken(token, call.metadata);
        checkDecoded(call.request);
        const unsubscribe = await manager.watch(call.request.searchId, Math.max(1, call.request.fromSequence), (e) => {
          if (e === 'end') call.end();
          else call.write(eventToProto(e));
        });
        call.on('cancelled', unsubscribe);
        call.on('close', unsubscribe);
      } catch (err) {
        // destroy() would reach the client as CANCELLED; emitting the status keeps its code.
        call.emit('error', toGrpcError(err));
      }
    },
  };
}

export async function startControllerServer(options: ControllerServerOptions): Promise<RunningServer> {
  const server = new Server({ 'grpc.max_receive_message_length': options.maxReceiveBytes ?? 1024 * 1024 });
  server.addService(tolerantDecoding(pb.SearchServiceService), searchServiceHandlers(options.manager, options.token));
  const creds = options.tls
    ? ServerCredentials.createSsl(
        options.tls.clientCa ? readFileSync(options.tls.clientCa) : null,
        [{ cert_chain: readFileSync(options.tls.cert), private_key: readFileSync(options.tls.key) }],
        Boolean(options.tls.clientCa),
      )
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host ?? '127.0.0.1'}:${options.port ?? 50051}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
