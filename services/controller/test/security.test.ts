import { MemoryStateStore } from '@nasnet/bus';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { grpcClientOptions, OpenServerError } from '@nasnet/grpc-edge';
import { makeTestPki } from '@nasnet/grpc-edge/testing';
import * as pb from '@nasnet/proto';
import { SearchManager, startControllerServer, type StoredSearch } from '../src/index.js';

const pki = makeTestPki();
after(() => pki.cleanup());

const store = new MemoryStateStore<StoredSearch>();
const manager = new SearchManager({
  store,
  executorFor: () => ({ execute: async (t) => ({ childId: t.childId, status: 'ok', reward: 0.5, validationByEpoch: [0.5], trainSeconds: 0, paramCount: 1, multAdds: 1 }) }),
});

function list(client: pb.SearchServiceClient, md: Metadata): Promise<pb.ListSearchesResponse> {
  return new Promise((resolve, reject) => client.listSearches({ pageSize: 1, pageToken: '', states: [] }, md, (e, r) => (e ? reject(e) : resolve(r))));
}
const bearer = (t: string) => { const m = new Metadata(); m.set('authorization', `Bearer ${t}`); return m; };

test('security - TLS with a bearer token; plaintext and wrong tokens are refused', async () => {
  const srv = await startControllerServer({ manager, port: 0, token: 'right', tls: { cert: pki.serverCert, key: pki.serverKey } });
  try {
    const tls = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createSsl(readFileSync(pki.ca)));
    assert.ok(Array.isArray((await list(tls, bearer('right'))).searches));
    const denied = await list(tls, bearer('wrong')).then(() => undefined, (e: ServiceError) => e);
    assert.equal(denied?.code, status.UNAUTHENTICATED);
    tls.close();
    const plain = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createInsecure());
    const refused = await list(plain, bearer('right')).then(() => undefined, (e: ServiceError) => e);
    assert.equal(refused?.code, status.UNAVAILABLE, 'a plaintext client cannot talk to the TLS port');
    plain.close();
  } finally {
    await srv.close();
  }
});

test('security - mutual TLS refuses clients without a certificate', async () => {
  const srv = await startControllerServer({ manager, port: 0, tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca } });
  try {
    const withCert = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createSsl(readFileSync(pki.ca), readFileSync(pki.clientKey), readFileSync(pki.clientCert)));
    assert.ok(Array.isArray((await list(withCert, new Metadata())).searches));
    withCert.close();
    const noCert = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createSsl(readFileSync(pki.ca)));
    const refused = await list(noCert, new Metadata()).then(() => undefined, (e: ServiceError) => e);
    assert.equal(refused?.code, status.UNAVAILABLE);
    noCert.close();
  } finally {
    await srv.close();
  }
});

test('security - oversized requests are refused and the server keeps serving', async () => {
  const srv = await startControllerServer({ manager, port: 0, maxReceiveBytes: 64 * 1024 });
  const client = new pb.SearchServiceClient(`127.0.0.1:${srv.port}`, credentials.createInsecure());
  try {
    const huge = pb.SearchSpec.fromPartial({ name: 'x'.repeat(200 * 1024), dataset: 'synthetic' });
    const err = await new Promise<ServiceError | undefined>((resolve) => client.submitSearch({ spec: huge, requestId: '' }, new Metadata(), (e) => resolve(e ?? undefined)));
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
    assert.ok(Array.isArray((await list(client, new Metadata())).searches));
  } finally {
    client.close();
    await srv.close();
  }
});

test('security - named tokens: the caller is recorded as the search submitter', async () => {
  const tokens = [{ name: 'alice', token: 'alice-secret-1' }, { name: 'ci', token: 'ci-secret-22' }];
  const srv = await startControllerServer({ manager, port: 0, tokens });
  const asCi = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, token: 'ci-secret-22' }));
  try {
    const spec = pb.SearchSpec.fromPartial({ name: 'who', dataset: 'synthetic', strategy: pb.SearchStrategy.SEARCH_STRATEGY_RANDOM, seed: 1, budget: { maxArchitectures: 2, maxConcurrentChildren: 1 } });
    const sub = await new Promise<pb.SubmitSearchResponse>((resolve, reject) => asCi.submitSearch({ spec, requestId: '' }, (e, r) => (e ? reject(e) : resolve(r))));
    assert.equal(sub.status?.submitter, 'ci');
    const got = await new Promise<pb.GetSearchResponse>((resolve, reject) => asCi.getSearch({ searchId: sub.searchId }, bearer('alice-secret-1'), (e, r) => (e ? reject(e) : resolve(r))));
    assert.equal(got.status?.submitter, 'ci', 'the submitter stays whoever reads it');
    const stored = await store.get(sub.searchId);
    assert.equal(stored?.submitter, 'ci');
  } finally {
    asCi.close();
    await srv.close();
  }
});

test('security - closed by default: beyond loopback the controller refuses to start without a token or TLS and names the variables', async () => {
  await assert.rejects(startControllerServer({ manager, host: '0.0.0.0', port: 0 }),
    (err: Error) => err instanceof OpenServerError && /CONTROLLER_TOKEN, CONTROLLER_TOKENS_FILE or TLS_CERT and TLS_KEY/.test(err.message));
  const withToken = await startControllerServer({ manager, host: '0.0.0.0', port: 0, token: 'open-sesame' });
  const client = new pb.SearchServiceClient(`127.0.0.1:${withToken.port}`, credentials.createInsecure());
  try {
    const refused = await list(client, new Metadata()).then(() => undefined, (e: ServiceError) => e);
    assert.equal(refused?.code, status.UNAUTHENTICATED);
    assert.ok(Array.isArray((await list(client, bearer('open-sesame'))).searches));
  } finally {
    client.close();
    await withToken.close();
  }
});

test('security - an unauthenticated garbage body gets UNAUTHENTICATED, an authenticated one INVALID_ARGUMENT', async () => {
  const srv = await startControllerServer({ manager, port: 0, token: 'tkn-123' });
  const raw = new Client(`127.0.0.1:${srv.port}`, credentials.createInsecure());
  const send = (md: Metadata) => new Promise<ServiceError | null>((resolve) =>
    raw.makeUnaryRequest('/nas.v1.SearchService/SubmitSearch', (x: Buffer) => x, (x: Buffer) => x, Buffer.from([0x0a, 0xff, 0x01, 0x07]), md, (e: ServiceError | null) => resolve(e)));
  try {
    assert.equal((await send(new Metadata()))?.code, status.UNAUTHENTICATED);
    assert.equal((await send(bearer('tkn-124')))?.code, status.UNAUTHENTICATED);
    const malformed = await send(bearer('tkn-123'));
    assert.equal(malformed?.code, status.INVALID_ARGUMENT);
    assert.match(malformed!.details, /^malformed SubmitSearch request: /);
  } finally {
    raw.close();
    await srv.close();
  }
});
