import type { NamedToken, TlsFiles } from '@nasnet/config';
import { DEFAULT_TOKEN_NAME } from '@nasnet/config';
import { serverStream, startGrpcServer, unary, type EdgeMethod, type RunningGrpcServer } from '@nasnet/grpc-edge';
import * as pb from '@nasnet/proto';
import { InvalidPageTokenError } from '@nasnet/registry';
import { architectureToProto, eventToProto, runStateFromProto, specFromProto, statusToProto, InvalidRequestError } from './convert.js';
import { searchErrors } from './grpc-errors.js';
import type { SearchManager } from './manager.js';

/** What an operator sets to secure SearchService (named when a bind beyond loopback without them is refused). */
export const CONTROLLER_AUTH_HINT = 'CONTROLLER_TOKEN, CONTROLLER_TOKENS_FILE or TLS_CERT and TLS_KEY';

export interface ControllerServerOptions {
  manager: SearchManager;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. @default 50051 */
  port?: number;
  /** Bearer tokens a call must carry one of; the name is recorded as the submitter. @default [] (no check; loopback only) */
  tokens?: readonly NamedToken[];
  /** One token, named DEFAULT_TOKEN_NAME (what CONTROLLER_TOKEN sets); added to `tokens`. */
  token?: string;
  /** PEM files for TLS; with `clientCa`, clients must present a certificate (mutual TLS). */
  tls?: TlsFiles;
  /** Largest request accepted. @default 1 MiB */
  maxReceiveBytes?: number;
  /** Where unexpected errors are logged. @default console.error */
  log?: (line: string) => void;
}

export type RunningServer = RunningGrpcServer;

const PAGE_SIZE = 50;

/** SearchService over a SearchManager: only mapping, validation lives in the libs. */
export function searchServiceHandlers(manager: SearchManager): Record<keyof pb.SearchServiceServer, EdgeMethod> {
  return {
    submitSearch: unary(searchErrors, async (req: pb.SubmitSearchRequest, ctx) => {
      const { input, resources } = specFromProto(req.spec);
      const s = await manager.submit(input, { resources, ...(req.requestId ? { requestId: req.requestId } : {}), ...(ctx.caller ? { submitter: ctx.caller } : {}) });
      return { searchId: s.id, status: statusToProto(s) };
    }),
    getSearch: unary(searchErrors, async (req: pb.GetSearchRequest) => ({ status: statusToProto(await manager.get(req.searchId)) })),
    listSearches: unary(searchErrors, async (req: pb.ListSearchesRequest) => {
      const states = req.states.map((s, i) => runStateFromProto(s, `states[${i}]`));
      const page = await manager.list({ states, pageSize: req.pageSize > 0 ? req.pageSize : PAGE_SIZE, pageToken: req.pageToken }).catch((err: unknown) => {
        if (err instanceof InvalidPageTokenError) throw new InvalidRequestError('page_token', `'${err.token.slice(0, 40)}' is not a token this server issued`);
        throw err;
      });
      return { searches: page.jobs.map(statusToProto), nextPageToken: page.nextPageToken };
    }),
    cancelSearch: unary(searchErrors, async (req: pb.CancelSearchRequest) => ({ status: statusToProto(await manager.cancel(req.searchId, req.reason || 'cancelled by request')) })),
    topArchitectures: unary(searchErrors, async (req: pb.TopArchitecturesRequest) => ({
      architectures: (await manager.top(req.searchId, req.k > 0 ? Math.min(req.k, 1000) : 5)).map((a) => architectureToProto(a)),
    })),
    watchSearch: serverStream(searchErrors, (req: pb.WatchSearchRequest) => ({
      from: Math.max(1, req.fromSequence),
      subscribe: (from, deliver) => manager.watch(req.searchId, from, (e) => deliver(e === 'end' ? e : eventToProto(e))),
    })),
  };
}

/** Serves SearchService through the gRPC edge (tokens, TLS, limits, tolerant decoding; closed by default). */
export function startControllerServer(options: ControllerServerOptions): Promise<RunningServer> {
  const tokens = [...(options.tokens ?? []), ...(options.token ? [{ name: DEFAULT_TOKEN_NAME, token: options.token }] : [])];
  return startGrpcServer({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 50051,
    services: [{ definition: pb.SearchServiceService, handlers: searchServiceHandlers(options.manager) }],
    tokens,
    authHint: CONTROLLER_AUTH_HINT,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.maxReceiveBytes !== undefined ? { maxReceiveBytes: options.maxReceiveBytes } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
}
