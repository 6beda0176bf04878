import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import {
  DatasetUnavailableError, InvalidTransferRequestError, SearchNotFoundError, SearchResolverMissingError, TransferNotFoundError,
} from './errors.js';

function grpcCodeOf(err: unknown): status | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16 ? code : undefined;
}

/**
 * The one place where errors become gRPC statuses. INVALID_ARGUMENT carries
 * the offending proto field in its details and in the `field` trailer.
 * Errors that already carry a gRPC code (e.g. thrown by an injected
 * resolveSearchBest that called the controller) keep it.
 */
export function toGrpcError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const make = (code: status, details: string, field?: string) => {
    const metadata = new Metadata();
    if (field) metadata.set('field', field);
    return { code, details, metadata, message: details };
  };
  if (err instanceof InvalidTransferRequestError) return make(status.INVALID_ARGUMENT, err.message, err.field);
  if (err instanceof TransferNotFoundError || err instanceof SearchNotFoundError) return make(status.NOT_FOUND, err.message);
  if (err instanceof SearchResolverMissingError || err instanceof DatasetUnavailableError) return make(status.FAILED_PRECONDITION, err.message);
  const message = err instanceof Error ? err.message : String(err);
  const code = grpcCodeOf(err);
  if (code !== undefined) return make(code, (err as { details?: string }).details ?? message);
  return make(status.INTERNAL, message);
}
