import { status } from '@grpc/grpc-js';
import type { ErrorTable } from '@nasnet/grpc-edge';
import { SearchLimitError, SearchSpecError } from '@nasnet/search';
import { InvalidTrainerResourcesError, TrainerImageNotAllowedError, TrainerResourceLimitError, UnknownTrainerProfileError } from '@nasnet/launcher';
import { PathOutsideRootError, PathRootUnsetError } from '@nasnet/data';
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
  // Operator limits: cluster capacity is RESOURCE_EXHAUSTED, the size of one search INVALID_ARGUMENT; both name the field and the limit.
  if (err instanceof SearchLimitError) {
    const field = protoFieldFor(err.field);
    return { code: err.kind === 'capacity' ? status.RESOURCE_EXHAUSTED : status.INVALID_ARGUMENT, message: `${field}: ${err.message}`, field };
  }
  if (err instanceof TrainerImageNotAllowedError || err instanceof UnknownTrainerProfileError || err instanceof InvalidTrainerResourcesError) {
    const field = `spec.resources.${err.field}`;
    return { code: status.INVALID_ARGUMENT, message: `${field}: ${err.message}`, field };
  }
  if (err instanceof TrainerResourceLimitError) return { code: status.RESOURCE_EXHAUSTED, message: `spec.resources.${err.field}: ${err.message}`, field: `spec.resources.${err.field}` };
  if (err instanceof PathOutsideRootError || err instanceof PathRootUnsetError) return { code: status.INVALID_ARGUMENT, message: err.message.replace(/^dataset:/, 'spec.dataset:'), field: 'spec.dataset' };
  if (err instanceof SearchNotFoundError) return { code: status.NOT_FOUND, message: err.message };
  if (err instanceof TooManySearchesError) return { code: status.RESOURCE_EXHAUSTED, message: err.message };
  // The state store is out of reach: nothing was registered, the client may retry.
  if (err instanceof JobStoreError) return { code: status.UNAVAILABLE, message: err.message };
  return undefined;
};
