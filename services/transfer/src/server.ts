import type { NamedToken, TlsFiles } from '@nasnet/config';
import { DEFAULT_TOKEN_NAME } from '@nasnet/config';
import { checkServerOptions, serverStream, startGrpcServer, unary, type EdgeMethod, type RunningGrpcServer } from '@nasnet/grpc-edge';
import * as pb from '@nasnet/proto';
import { transferErrors } from './grpc-errors.js';
import { TransferManager } from './manager.js';
import type { TransferManagerOptions } from './manager.js';
import { ProcessTransferRunner } from './runner.js';
import type { TransferRunner } from './runner.js';

/** Port of the transfer service unless TRANSFER_PORT says otherwise (the controller has 50051). */
export const DEFAULT_TRANSFER_PORT = 50052;

/** What an operator sets to secure TransferService (named when a bind beyond loopback without them is refused). */
export const TRANSFER_AUTH_HINT = 'TRANSFER_TOKEN, TRANSFER_TOKENS_FILE or TLS_CERT and TLS_KEY';

export interface TransferServerOptions extends Omit<TransferManagerOptions, 'runner'> {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. @default DEFAULT_TRANSFER_PORT */
  port?: number;
  /** Trains the transfers. @default a ProcessTransferRunner (one child process per transfer) */
  runner?: TransferRunner;
  /** Bearer tokens a call must carry one of; the name is recorded as the submitter. @default [] (no check; loopback only) */
  tokens?: readonly NamedToken[];
  /** One token, named DEFAULT_TOKEN_NAME (what TRANSFER_TOKEN sets); added to `tokens`. */
  token?: string;
  /** PEM files for TLS; with `clientCa`, clients must present a certificate (mutual TLS). */
  tls?: TlsFiles;
  /** Largest request accepted. @default 1 MiB */
  maxReceiveBytes?: number;
}

export interface TransferServer {
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** host:port to dial. */
  readonly address: string;
  readonly server: RunningGrpcServer['server'];
  readonly manager: TransferManager;
  /** Stops accepting calls, fails what still runs, kills training processes. */
  close(): Promise<void>;
}

/** TransferService handlers over a TransferManager: mapping only. */
export function transferServiceHandlers(manager: TransferManager): Record<keyof pb.TransferServiceServer, EdgeMethod> {
  return {
    startTransfer: unary(transferErrors, (req: pb.StartTransferRequest, ctx) => manager.start(req, ctx.caller ? { submitter: ctx.caller } : {})),
    getTransfer: unary(transferErrors, async (req: pb.GetTransferRequest): Promise<pb.GetTransferResponse> => ({ status: await manager.get(req.transferId) })),
    listTransfers: unary(transferErrors, (req: pb.ListTransfersRequest) => manager.list(req)),
    cancelTransfer: unary(transferErrors, async (req: pb.CancelTransferRequest): Promise<pb.CancelTransferResponse> => ({ status: await manager.cancel(req.transferId, req.reason) })),
    watchTransfer: serverStream(transferErrors, (req: pb.WatchTransferRequest) => ({
      from: req.fromSequence,
      subscribe: (from, deliver) => manager.watch(req.transferId, from, deliver),
    })),
  };
}

/**
 * Starts the gRPC TransferService on host:port through the gRPC edge:
 * bearer tokens (TRANSFER_TOKEN), TLS, mutual TLS, a receive limit,
 * tolerant decoding; closed by default beyond loopback. Tests pass port 0.
 *
 * ```ts
 * const server = await startTransferServer({ port: 0, resolveSearchBest: (id) => controller.best(id) });
 * // dial server.address with TransferServiceClient
 * await server.close();
 * ```
 */
export async function startTransferServer(options: TransferServerOptions = {}): Promise<TransferServer> {
  const tokens = [...(options.tokens ?? []), ...(options.token ? [{ name: DEFAULT_TOKEN_NAME, token: options.token }] : [])];
  const edge = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? DEFAULT_TRANSFER_PORT,
    tokens,
    authHint: TRANSFER_AUTH_HINT,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.maxReceiveBytes !== undefined ? { maxReceiveBytes: options.maxReceiveBytes } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  // An open bind, a bad token list or unreadable TLS files stop the service before it resumes any transfer.
  checkServerOptions(edge);
  const runner = options.runner ?? new ProcessTransferRunner();
  const manager = new TransferManager({ ...options, runner });
  // Stored transfers first (unfinished ones are queued again), so no request sees an empty service.
  await manager.recover();
  let grpc: RunningGrpcServer;
  try {
    grpc = await startGrpcServer({ ...edge, services: [{ definition: pb.TransferServiceService, handlers: transferServiceHandlers(manager) }] });
  } catch (err) {
    await manager.close();
    throw err;
  }
  return {
    port: grpc.port,
    address: grpc.address,
    server: grpc.server,
    manager,
    close: async () => {
      await manager.close();
      await grpc.close();
    },
  };
}
