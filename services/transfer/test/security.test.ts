import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { grpcClientOptions, OpenServerError, serverStream, startGrpcServer, unary } from '@nasnet/grpc-edge';
import { makeTestPki } from '@nasnet/grpc-edge/testing';
import * as pb from '@nasnet/proto';
import { NASNET_A } from '@nasnet/search-space';
import { ControllerCallError, controllerSearchBest, SearchNotFoundError, startTransferServer, type TransferRunner } from '../src/index.js';

const pki = makeTestPki();
after(() => pki.cleanup());

/** Trains nothing: a transfer stays RUNNING until it is cancelled (these tests are about the edge, not training). */
const idleRunner: TransferRunner = {
  run: (_job, hooks) => new Promise((_resolve, reject) => hooks.signal.addEventListener('abort', () => reject(new Error('cancelled')))),
  close: async () => {},
};

const spec = pb.TransferSpec.fromPartial({
  name: 'edge', source: { $case: 'genotype', value: pb.genotypeToProto(NASNET_A) }, layout: pb.Layout.LAYOUT_CIFAR,
  size: { $case: 'fixed', value: { cells: 1, filters: 4 } }, dataset: 'synthetic', recipe: { epochs: 1, batchSize: 8 },
});

function call<Res>(client: pb.TransferServiceClient, method: unknown, req: unknown, md = new Metadata()): Promise<Res> {
  const fn = method as (req: unknown, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
  return new Promise((resolve, reject) => fn.call(client, req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

test('transfer security - TransferService with a token and TLS: UNAUTHENTICATED without the token, the caller recorded as submitter with it', async () => {
  const server = await startTransferServer({
    host: '0.0.0.0', port: 0, runner: idleRunner,
    tokens: [{ name: 'ops', token: 'transfer-ops-token' }], tls: { cert: pki.serverCert, key: pki.serverKey },
  });
  const address = `127.0.0.1:${server.port}`;
  const noToken = new pb.TransferServiceClient(...grpcClientOptions({ address, tls: { ca: pki.ca } }));
  const wrong = new pb.TransferServiceClient(...grpcClientOptions({ address, token: 'transfer-ops-tokem', tls: { ca: pki.ca } }));
  const ops = new pb.TransferServiceClient(...grpcClientOptions({ address, token: 'transfer-ops-token', tls: { ca: pki.ca } }));
  const plain = new pb.TransferServiceClient(...grpcClientOptions({ address, token: 'transfer-ops-token' }));
  try {
    for (const client of [noToken, wrong]) {
      await assert.rejects(call(client, client.startTransfer, { spec, requestId: '' }), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
      await assert.rejects(call(client, client.listTransfers, pb.ListTransfersRequest.fromPartial({})), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
    }
    await assert.rejects(call(plain, plain.listTransfers, pb.ListTransfersRequest.fromPartial({})), (e: ServiceError) => e.code === status.UNAVAILABLE);
    assert.equal((await call<pb.ListTransfersResponse>(ops, ops.listTransfers, pb.ListTransfersRequest.fromPartial({}))).transfers.length, 0, 'nothing was started without the token');
    const started = await call<pb.StartTransferResponse>(ops, ops.startTransfer, { spec, requestId: '' });
    assert.equal(started.status?.submitter, 'ops');
    const got = await call<pb.GetTransferResponse>(ops, ops.getTransfer, { transferId: started.transferId });
    assert.equal(got.status?.submitter, 'ops');
    // Garbage without the token is refused before it is decoded; with it, it is named malformed.
    const raw = new Client(address, credentials.createSsl(readFileSync(pki.ca)));
    const send = (md: Metadata) => new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest('/nas.v1.TransferService/StartTransfer', (x: Buffer) => x, (x: Buffer) => x, Buffer.from([0x0f, 0x01]), md, (e: ServiceError | null) => resolve(e)));
    assert.equal((await send(new Metadata()))?.code, status.UNAUTHENTICATED);
    const md = new Metadata();
    md.set('authorization', 'Bearer transfer-ops-token');
    const malformed = await send(md);
    assert.equal(malformed?.code, status.INVALID_ARGUMENT, malformed?.details);
    assert.match(malformed!.details, /^malformed StartTransfer request: /);
    raw.close();
    await call(ops, ops.cancelTransfer, { transferId: started.transferId, reason: 'test over' });
  } finally {
    for (const c of [noToken, wrong, ops, plain]) c.close();
    await server.close();
  }
});

test('transfer security - closed by default: beyond loopback TransferService needs TRANSFER_TOKEN, TRANSFER_TOKENS_FILE or TLS', async () => {
  await assert.rejects(startTransferServer({ host: '0.0.0.0', port: 0, runner: idleRunner }),
    (err: Error) => err instanceof OpenServerError && /TRANSFER_TOKEN, TRANSFER_TOKENS_FILE or TLS_CERT and TLS_KEY/.test(err.message));
  const mtls = await startTransferServer({ host: '0.0.0.0', port: 0, runner: idleRunner, tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca } });
  try {
    const address = `127.0.0.1:${mtls.port}`;
    const withCert = new pb.TransferServiceClient(...grpcClientOptions({ address, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } }));
    assert.ok(Array.isArray((await call<pb.ListTransfersResponse>(withCert, withCert.listTransfers, pb.ListTransfersRequest.fromPartial({}))).transfers));
    withCert.close();
    const noCert = new pb.TransferServiceClient(...grpcClientOptions({ address, tls: { ca: pki.ca } }));
    await assert.rejects(call(noCert, noCert.listTransfers, pb.ListTransfersRequest.fromPartial({})), (e: ServiceError) => e.code === status.UNAVAILABLE);
    noCert.close();
  } finally {
    await mtls.close();
  }
});

test('transfer security - the controller client dials a TLS controller with a token; NOT_FOUND and refusals become named errors', async () => {
  // A SearchService that knows one search, behind the edge with TLS and a token: what a secured controller looks like to this client.
  const best = pb.ArchitectureSummary.fromPartial({ rank: 1, genotype: pb.genotypeToProto(NASNET_A) });
  const notFound = (searchId: string) => Object.assign(new Error(`search '${searchId}' not found`), { searchId });
  const errors = (err: unknown) => (err instanceof Error && 'searchId' in err ? { code: status.NOT_FOUND, message: err.message } : undefined);
  const none = unary(errors, () => { throw new Error('not served'); });
  const controller = await startGrpcServer({
    port: 0, tokens: [{ name: 'transfer', token: 'controller-token-for-transfer' }], tls: { cert: pki.serverCert, key: pki.serverKey },
    services: [{
      definition: pb.SearchServiceService,
      handlers: {
        topArchitectures: unary(errors, (req: pb.TopArchitecturesRequest): pb.TopArchitecturesResponse => {
          if (req.searchId !== 's-1') throw notFound(req.searchId);
          return { architectures: [best] };
        }),
        submitSearch: none, getSearch: none, listSearches: none, cancelSearch: none,
        watchSearch: serverStream(errors, () => { throw new Error('not served'); }),
      },
    }],
  });
  try {
    const resolve = controllerSearchBest({ address: controller.address, token: 'controller-token-for-transfer', tls: { ca: pki.ca } });
    assert.deepEqual(await resolve('s-1'), NASNET_A);
    await assert.rejects(async () => resolve('s-2'), (e: Error) => e instanceof SearchNotFoundError && /s-2/.test(e.message));
    const badToken = controllerSearchBest({ address: controller.address, token: 'stale', tls: { ca: pki.ca } });
    await assert.rejects(async () => badToken('s-1'), (e: Error) => e instanceof ControllerCallError && e.code === status.UNAUTHENTICATED && e.message.includes(controller.address));
    // A transfer server using it: a search id resolves through the TLS controller; an unknown one is NOT_FOUND.
    const server = await startTransferServer({ port: 0, runner: idleRunner, resolveSearchBest: resolve });
    const client = new pb.TransferServiceClient(...grpcClientOptions({ address: server.address }));
    try {
      const bySearch = await call<pb.StartTransferResponse>(client, client.startTransfer, { spec: { ...spec, source: { $case: 'searchId', value: 's-1' } }, requestId: '' });
      assert.deepEqual(pb.genotypeFromProto(bySearch.status!.genotype!), NASNET_A);
      await assert.rejects(call(client, client.startTransfer, { spec: { ...spec, source: { $case: 'searchId', value: 's-9' } }, requestId: '' }),
        (e: ServiceError) => e.code === status.NOT_FOUND && e.details.includes('s-9'));
      await call(client, client.cancelTransfer, { transferId: bySearch.transferId, reason: 'test over' });
    } finally {
      client.close();
      await server.close();
    }
  } finally {
    await controller.close();
  }
});
