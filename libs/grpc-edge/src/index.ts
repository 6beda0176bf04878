/**
 * The gRPC edge shared by every server and client of the project: TLS and
 * mutual TLS, named bearer tokens compared in constant time and checked
 * before the request is read, a receive limit, tolerant decoding
 * (INVALID_ARGUMENT, not INTERNAL), backpressured event streams, and one
 * error table per service. Closed by default: a server bound beyond
 * loopback refuses to start without a token or TLS.
 *
 * ```ts
 * import { startGrpcServer, unary, serverStream, grpcClientOptions } from '@nasnet/grpc-edge';
 * const errors = (err: unknown) => (err instanceof NotFound ? { code: status.NOT_FOUND, message: err.message } : undefined);
 * const server = await startGrpcServer({
 *   host: '0.0.0.0', port: 0, tokens: [{ name: 'ci', token }], authHint: 'CONTROLLER_TOKEN',
 *   services: [{ definition: pb.SearchServiceService, handlers: {
 *     getSearch: unary(errors, (req: pb.GetSearchRequest, ctx) => get(req.searchId, ctx.caller)),
 *     watchSearch: serverStream(errors, (req: pb.WatchSearchRequest) => ({ from: req.fromSequence, subscribe: (from, deliver) => watch(req.searchId, from, deliver) })),
 *     // ...one per method
 *   } }],
 * });
 * const client = new pb.SearchServiceClient(...grpcClientOptions({ address: server.address, token }));
 * ```
 */
export { checkServerOptions, DEFAULT_CLOSE_GRACE_MS, DEFAULT_MAX_RECEIVE_BYTES, isLoopback, joinHostPort, startGrpcServer } from './server.js';
export type { GrpcServerOptions, GrpcService, RunningGrpcServer } from './server.js';
export { serverStream, unary } from './handlers.js';
export type { EdgeMethod, EventFeed, SequencedMessage } from './handlers.js';
export { grpcClientOptions } from './client.js';
export type { GrpcClientArgs, GrpcClientOptions } from './client.js';
export { TokenChecker } from './tokens.js';
export {
  BindError, HandlerSetupError, MalformedRequestError, OpenServerError, TlsFileError, TokenListError, UnauthenticatedError,
} from './errors.js';
export type { CallContext, ClientTls, ErrorTable, MappedError, NamedToken, TlsFiles } from './types.js';
