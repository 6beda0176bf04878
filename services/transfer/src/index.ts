/**
 * The transfer service: gRPC TransferService (proto/nas/v1/transfer_service.proto)
 * over @nasnet/transfer. StartTransfer checks and sizes the spec at once
 * (INVALID_ARGUMENT names the proto field), queues the transfer and trains
 * it in a child process, so the server stays responsive; WatchTransfer
 * streams numbered events, resumable from any sequence number.
 *
 * ```ts
 * import { startTransferServer } from '@nasnet/transfer-service';
 * const server = await startTransferServer({ port: 0, resolveSearchBest: async (id) => bestGenotypeOf(id) });
 * console.log(server.address); // 127.0.0.1:<port>
 * await server.close();
 * ```
 */
export { DEFAULT_TRANSFER_PORT, startTransferServer, TRANSFER_AUTH_HINT, transferServiceHandlers } from './server.js';
export type { TransferServer, TransferServerOptions } from './server.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, TransferManager, isFinalState } from './manager.js';
export type { StoredTransfer, TransferFields, TransferManagerOptions, TransferSpecRecord } from './manager.js';
export { runTransferService } from './run.js';
export type { RunningTransfer, TransferServiceDeps } from './run.js';
export { ProcessTransferRunner, TRANSFER_WORKER_ENTRY } from './runner.js';
export type { ProcessRunnerOptions, RunnerLogLevel, TransferRunHooks, TransferRunner, TransferWorkerSettings } from './runner.js';
export { acceptSpec, protoFieldFor } from './spec.js';
export type { AcceptedSpec, ResolveSearchBest } from './spec.js';
export { transferErrors } from './grpc-errors.js';
export {
  DatasetUnavailableError, InvalidTransferRequestError, SearchNotFoundError, SearchResolverMissingError, TransferNotFoundError,
  TransferWorkerExitedError,
} from './errors.js';
export { ControllerCallError, controllerSearchBest, SearchNotReadyError } from './controller-client.js';
