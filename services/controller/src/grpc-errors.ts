import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { SearchSpecError } from '@nasnet/search';
import { GenotypeValidationError } from '@nasnet/search-space';
import { ProtoConversionError } from '@nasnet/proto';
import { InvalidRequestError, protoFieldFor } from './convert.js';
import { SearchNotFoundError, TooManySearchesError } from './manager.js';

export class UnauthenticatedError extends Error {
  constructor(message = 'missing or invalid bearer token') {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** The one place where errors become gRPC statuses. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const make = (code: status, details: string, field?: string): Partial<ServiceError> => {
    const metadata = new Metadata();
    if (field) metadata.set('field', field);
    return { code, details, metadata };
  };
  if (err instanceof UnauthenticatedError) return make(status.UNAUTHENTICATED, err.message);
  if (err instanceof SearchSpecError) {
    const field = protoFieldFor(err.field);
    return make(status.INVALID_ARGUMENT, `${field}: ${err.reason}`, field);
  }
  if (err instanceof InvalidRequestError) return make(status.INVALID_ARGUMENT, err.message, err.field);
  if (err instanceof ProtoConversionError || err instanceof GenotypeValidationError) return make(status.INVALID_ARGUMENT, err.message);
  if (err instanceof SearchNotFoundError) return make(status.NOT_FOUND, err.message);
  if (err instanceof TooManySearchesError) return make(status.RESOURCE_EXHAUSTED, err.message);
  return make(status.INTERNAL, err instanceof Error ? err.message : String(err));
}
