import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { toGrpcError } from './grpc-errors.js';
import { TransferManager } from './manager.js';
import type { TransferManagerOptions } from './manager.js';
import { ProcessTransferRunner } from './runner.js';
import type { TransferRunner } from './runner.js';

/** Port of the transfer service unless TRANSFER_PORT says otherwise (the controller has 50051). */
export const DEFAULT_TRANSFER_PORT = 50052;

export interface TransferServerOptions extends Omit<TransferManagerOptions, 'runner'> {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. @default DEFAULT_TRANSFER_PORT */
  port?: number;
  /** Trains the transfers. @default a ProcessTransferRunner (one child process per transfer) */
  runner?: TransferRunner;
}

export interface TransferServer {
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** host:port to dial. */
  readonly address: string;
  readonly server: Server;
  readonly manager: TransferManager;
  /** Stops accepting calls, fails what still runs, kills training processes. */
  close(): Promise<void>;
}

function unary<Req, Res>(fn: (req: Req) => Res | Promise<Res>) {
  return async (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): Promise<void> => {
    try {
      callback(null, await fn(call.request));
    } catch (err) {
      callback(toGrpcError(err), null);
    }
  };
}

/** TransferService handlers over a TransferManager: mapping only. */
export function transferServiceHandlers(manager: TransferManager): pb.TransferServiceServer {
  return {
    startTransfer: unary((req: pb.StartTransferRequest) => manager.start(req)),
    getTransfer: unary((req: pb.GetTransferRequest): pb.GetTransferResponse => ({ status: manager.get(req.transferId) })),
    listTransfers: unary((req: pb.ListTransfersRequest) => manager.list(req)),
    cancelTransfer: unary((req: pb.CancelTransferRequest): pb.CancelTransferResponse => ({ status: manager.cancel(req.transferId, req.reason) })),
    watchTransfer: (call: ServerWritableStream<pb.WatchTransferRequest, pb.TransferEvent>) => {
      let unsubscribe = () => {};
      try {
        unsubscribe = manager.watch(call.request.transferId, call.request.fromSequence, (e) => {
          if (e === 'end') call.end();
          else call.write(e);
        });
      } catch (err) {
        // grpc-js ends a server stream with a status through an 'error' event (destroy() reports CANCELLED).
        call.emit('error', toGrpcError(err));
        return;
      }
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
    },
  };
}

/**
 * Starts the gRPC TransferService on host:port (insecure, as the other
 * services inside the cluster). Tests pass port 0.
 *
 * ```ts
 * const server = await startTransferServer({ port: 0, resolveSearchBest: (id) => controller.best(id) });
 * // dial server.address with TransferServiceClient
 * await server.close();
 * ```
 */
export async function startTransferServer(options: TransferServerOptions = {}): Promise<TransferServer> {
  const host = options.host ?? '127.0.0.1';
  const runner = options.runner ?? new ProcessTransferRunner();
  const manager = new TransferManager({ ...options, runner });
  const server = new Server();
  server.addService(pb.TransferServiceService, transferServiceHandlers(manager));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port ?? DEFAULT_TRANSFER_PORT}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  }).catch(async (err: unknown) => {
    await manager.close();
    throw err;
  });
  return {
    port,
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    manager,
    close: async () => {
      await manager.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
    },
  };
}
