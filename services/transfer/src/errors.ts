/**
 * Errors of the transfer service, one per failure; `grpc-errors.ts` turns
 * them into gRPC statuses.
 */

/** A request field is invalid; `field` is its proto path, e.g. `spec.recipe.batch_size`. */
export class InvalidTransferRequestError extends Error {
  readonly field: string;
  readonly reason: string;

  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`${field}: ${reason}`, options);
    this.name = 'InvalidTransferRequestError';
    this.field = field;
    this.reason = reason;
  }
}

/** No transfer has this id. */
export class TransferNotFoundError extends Error {
  readonly transferId: string;

  constructor(transferId: string, options?: ErrorOptions) {
    super(`no transfer with id '${transferId}'`, options);
    this.name = 'TransferNotFoundError';
    this.transferId = transferId;
  }
}

/** spec.search_id names a search the controller does not know (or that has no finished child yet). */
export class SearchNotFoundError extends Error {
  readonly searchId: string;

  constructor(searchId: string, detail = 'no such search', options?: ErrorOptions) {
    super(`search '${searchId}': ${detail}`, options);
    this.name = 'SearchNotFoundError';
    this.searchId = searchId;
  }
}

/** spec.search_id was given but this server was started without a way to ask the controller. */
export class SearchResolverMissingError extends Error {
  constructor(searchId: string, options?: ErrorOptions) {
    super(`spec.search_id '${searchId}': this transfer server has no controller to resolve searches; send spec.genotype instead`, options);
    this.name = 'SearchResolverMissingError';
  }
}

/** The data set a spec names is not usable right now (missing folder, empty class...). */
export class DatasetUnavailableError extends Error {
  constructor(dataset: string, reason: string, options?: ErrorOptions) {
    super(`spec.dataset '${dataset}': ${reason}`, options);
    this.name = 'DatasetUnavailableError';
  }
}

/** The training process ended without a result. */
export class TransferWorkerExitedError extends Error {
  readonly code: number | null;
  readonly signal: string | null;

  constructor(code: number | null, signal: string | null, stderrTail: string, options?: ErrorOptions) {
    super(`the training process exited with ${signal ? `signal ${signal}` : `code ${code}`} before reporting a result${stderrTail ? `: ${stderrTail}` : ''}`, options);
    this.name = 'TransferWorkerExitedError';
    this.code = code;
    this.signal = signal;
  }
}

/** The transfer queue is full (the operator's limits.maxQueued); the client may retry later. */
export class TransferQueueFullError extends Error {
  constructor(readonly limit: number, options?: ErrorOptions) {
    super(`the transfer queue is full (limit ${limit} waiting transfers, maxQueued); retry once one has started`, options);
    this.name = 'TransferQueueFullError';
  }
}
