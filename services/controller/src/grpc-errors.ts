import { status } from '@grpc/grpc-js';
import type { ErrorTable } from '@nasnet/grpc-edge';
import { SearchSpecError } from '@nasnet/search';
import { GenotypeValidationError } from '@nasnet/search-space';
import { ProtoConversionError } from '@nasnet/proto';
import { InvalidPageTokenError, JobStoreError } from '@nasnet/registry';
import { InvalidRequestError, protoFieldFor } from './convert.js';
import { SearchNotFoundError, TooManySearchesError } from './manager.js';

/**
 * SearchService's error table: the errors its handlers may throw and the
 * status each becomes (the edge builds the status; anything else is
 * INTERNAL, logged). INVALID_ARGUMENT names the proto field in the details
 * and in the `field` trailer.
 */
export const searchErrors: ErrorTable = (err) => {
  if (err instanceof SearchSpecError) {
    const field = protoFieldFor(err.field);
    return { code: status.INVALID_ARGUMENT, message: `${field}: ${err.reason}`, field };
  }
  if (err instanceof InvalidRequestError) return { code: status.INVALID_ARGUMENT, message: err.message, field: err.field };
  if (err instanceof InvalidPageTokenError) return { code: status.INVALID_ARGUMENT, message: err.message, field: 'page_token' };
  if (err instanceof ProtoConversionError || err instanceof GenotypeValidationError) return { code: status.INVALID_ARGUMENT, message: err.message };
  if (err instanceof SearchNotFoundError) return { code: status.NOT_FOUND, message: err.message };
  if (err instanceof TooManySearchesError) return { code: status.RESOURCE_EXHAUSTED, message: err.message };
  // The state store is out of reach: nothing was registered, the client may retry.
  if (err instanceof JobStoreError) return { code: status.UNAVAILABLE, message: err.message };
  return undefined;
};
