import { status, type ServiceError } from '@grpc/grpc-js';
import { grpcClientOptions, type GrpcClientOptions } from '@nasnet/grpc-edge';
import * as pb from '@nasnet/proto';
import { genotypeFromProto } from '@nasnet/proto';
import type { Genotype } from '@nasnet/search-space';
import { SearchNotFoundError } from './errors.js';
import type { ResolveSearchBest } from './spec.js';

/** The controller knows the search but has no trained architecture for it yet. */
export class SearchNotReadyError extends Error {
  readonly searchId: string;

  constructor(searchId: string) {
    super(`search '${searchId}' has no trained architecture yet`);
    this.name = 'SearchNotReadyError';
    this.searchId = searchId;
  }
}

/** The controller could not be asked, or refused this service (its token, its TLS). */
export class ControllerCallError extends Error {
  /** The status the controller (or the channel to it) answered. */
  readonly code: status;

  constructor(address: string, err: ServiceError) {
    super(`the controller at ${address} answered ${status[err.code] ?? err.code}: ${err.details}`, { cause: err });
    this.name = 'ControllerCallError';
    this.code = err.code;
  }
}

/**
 * A search's best genotype, asked from the controller's SearchService
 * (TopArchitectures with k = 1) through the same edge options as every
 * client: bearer token, TLS (a controller with TLS on needs `tls.ca`), mutual
 * TLS. The PEM files are read here, once. Also callable as
 * `controllerSearchBest(address, token)`.
 */
export function controllerSearchBest(target: GrpcClientOptions | string, token?: string): ResolveSearchBest {
  const options: GrpcClientOptions = typeof target === 'string' ? { address: target, ...(token ? { token } : {}) } : target;
  const args = grpcClientOptions(options);
  return (searchId: string) => new Promise<Genotype>((resolve, reject) => {
    const client = new pb.SearchServiceClient(...args);
    client.topArchitectures({ searchId, k: 1 }, (err: ServiceError | null, res?: pb.TopArchitecturesResponse) => {
      client.close();
      if (err) {
        return reject(err.code === status.NOT_FOUND ? new SearchNotFoundError(searchId, 'the controller knows no such search', { cause: err }) : new ControllerCallError(options.address, err));
      }
      const best = res?.architectures[0]?.genotype;
      if (!best) return reject(new SearchNotReadyError(searchId));
      try { resolve(genotypeFromProto(best)); } catch (e) { reject(e); }
    });
  });
}
