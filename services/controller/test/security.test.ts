import { MemoryStateStore } from '@nasnet/bus';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { SearchManager, startControllerServer, type StoredSearch } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl. */
function makePki(): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=nasnet-test-ca', '-keyout', p('ca.key'), '-out', p('ca.pem'));
  writeFileSync(p('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, ext] of [['server', ['-extfile', p('san.cnf')]], ['client', []]] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
    ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-out', p(`${name}.pem`), ...ext);
  }
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

const pki = makePki();
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
