import { status } from '@grpc/grpc-js';
import type { ErrorTable } from '@nasnet/grpc-edge';
import { InvalidPageTokenError, JobStoreError } from '@nasnet/registry';
import { ControllerCallError, SearchNotReadyError } from './controller-client.js';
import {
  DatasetUnavailableError, InvalidTransferRequestError, SearchNotFoundError, SearchResolverMissingError, TransferNotFoundError, TransferQueueFullError,
} from './errors.js';

/**
 * TransferService's error table: the errors its handlers may throw and the
 * status each becomes (the edge builds the status; anything else is
 * INTERNAL, logged). INVALID_ARGUMENT names the proto field in the details
 * and in the `field` trailer.
 */
export const transferErrors: ErrorTable = (err) => {
  if (err instanceof InvalidTransferRequestError) return { code: status.INVALID_ARGUMENT, message: err.message, field: err.field };
  if (err instanceof InvalidPageTokenError) return { code: status.INVALID_ARGUMENT, message: err.message, field: 'page_token' };
  if (err instanceof TransferQueueFullError) return { code: status.RESOURCE_EXHAUSTED, message: err.message };
  if (err instanceof TransferNotFoundError || err instanceof SearchNotFoundError) return { code: status.NOT_FOUND, message: err.message };
  if (err instanceof SearchResolverMissingError || err instanceof DatasetUnavailableError || err instanceof SearchNotReadyError) {
    return { code: status.FAILED_PRECONDITION, message: err.message };
  }
  if (err instanceof ControllerCallError) {
    // An unreachable controller may come back (retry); a refusal (token, TLS) is this server's set-up.
    const transient = err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED;
    return { code: transient ? status.UNAVAILABLE : status.FAILED_PRECONDITION, message: err.message };
  }
  // The state store is out of reach: nothing was registered, the client may retry.
  if (err instanceof JobStoreError) return { code: status.UNAVAILABLE, message: err.message };
  return undefined;
};
