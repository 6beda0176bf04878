import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { genotypeFromProto } from '@nasnet/proto';
import type { Genotype } from '@nasnet/search-space';
import type { ResolveSearchBest } from './spec.js';

/**
 * A search's best genotype, asked from the controller's SearchService
 * (TopArchitectures with k = 1). NOT_FOUND passes through as it is.
 */
export function controllerSearchBest(address: string, token?: string): ResolveSearchBest {
  return (searchId: string) => new Promise<Genotype>((resolve, reject) => {
    const client = new pb.SearchServiceClient(address, credentials.createInsecure());
    const md = new Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    client.topArchitectures({ searchId, k: 1 }, md, (err: ServiceError | null, res?: pb.TopArchitecturesResponse) => {
      client.close();
      if (err) return reject(err);
      const best = res?.architectures[0]?.genotype;
      if (!best) return reject(Object.assign(new Error(`search '${searchId}' has no trained architecture yet`), { code: status.FAILED_PRECONDITION }));
      try { resolve(genotypeFromProto(best)); } catch (e) { reject(e); }
    });
  });
}
