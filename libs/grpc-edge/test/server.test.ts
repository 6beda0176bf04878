import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import {
  grpcClientOptions, HandlerSetupError, isLoopback, OpenServerError, startGrpcServer, TlsFileError, TokenChecker, TokenListError, unary,
} from '../src/index.js';
import { makeTestPki } from '../src/testing.js';
import { bearer, errors, fixture, getSearch, rawCall } from './fixture.js';

const pki = makeTestPki();
after(() => pki.cleanup());

const tokens = [{ name: 'alice', token: 'alice-token-0123456789' }, { name: 'ci-bot', token: 'bot-token-abcdefghij' }];

test('grpc edge - named tokens: the token name reaches the handler as the caller; missing, wrong and foreign-scheme tokens get UNAUTHENTICATED', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service], tokens });
  const client = new pb.SearchServiceClient(srv.address, credentials.createInsecure());
  try {
    assert.equal((await getSearch(client, 'a', bearer(tokens[0]!.token))).value?.status?.submitter, 'alice');
    assert.equal((await getSearch(client, 'b', bearer(tokens[1]!.token))).value?.status?.submitter, 'ci-bot');
    assert.equal((await getSearch(client, 'c', bearer(tokens[1]!.token, 'bearer'))).value?.status?.submitter, 'ci-bot', 'the scheme is case-insensitive');
    const handled = f.handled;
    const sameLength = tokens[0]!.token.replace(/9$/, '8');
    const refused = [
      new Metadata(),
      bearer(sameLength),
      bearer(`${tokens[0]!.token}0`),
      bearer('x'),
      bearer(tokens[0]!.token, 'Basic'),
      bearer(`${tokens[0]!.token} ${tokens[1]!.token}`),
    ];
    for (const md of refused) {
      const { error } = await getSearch(client, 'a', md);
      assert.equal(error?.code, status.UNAUTHENTICATED, `${JSON.stringify(md.getMap())}: ${error?.details}`);
      assert.match(error!.details, /missing or invalid bearer token/);
    }
    assert.equal(f.handled, handled, 'no refused call reached a handler');
  } finally {
    client.close();
    await srv.close();
  }
});

test('grpc edge - tokens are checked before the request is read: garbage and oversized bodies without a token get UNAUTHENTICATED, undecoded', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service], tokens, maxReceiveBytes: 64 * 1024 });
  const creds = credentials.createInsecure();
  try {
    const garbage = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256);
    const large = new Uint8Array(48 * 1024).fill(0xff);
    const oversized = new Uint8Array(512 * 1024).fill(0x0a);
    for (const body of [garbage, large, oversized]) {
      const err = await rawCall(srv.address, creds, 'SubmitSearch', body);
      assert.equal(err?.code, status.UNAUTHENTICATED, `${body.length} bytes: ${err?.code} ${err?.details}`);
    }
    // A flood: many at once, all refused the same way.
    const flood = await Promise.all(Array.from({ length: 50 }, () => rawCall(srv.address, creds, 'SubmitSearch', large)));
    assert.deepEqual(new Set(flood.map((e) => e?.code)), new Set([status.UNAUTHENTICATED]));
    assert.equal(f.decoded, 0, 'nothing was deserialized');
    assert.equal(f.handled, 0);

    // The same garbage with a token is decoded and refused as malformed, naming the method and the problem.
    const err = await rawCall(srv.address, creds, 'SubmitSearch', garbage, bearer(tokens[0]!.token));
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err!.details, /^malformed SubmitSearch request: \S/);
    assert.equal(f.decoded, 1);
    // Oversized with a token: RESOURCE_EXHAUSTED from the receive limit.
    const big = await rawCall(srv.address, creds, 'SubmitSearch', oversized, bearer(tokens[0]!.token));
    assert.equal(big?.code, status.RESOURCE_EXHAUSTED);
  } finally {
    await srv.close();
  }
});

test('grpc edge - malformed protobuf without auth is INVALID_ARGUMENT naming the problem, not INTERNAL, and the server keeps serving', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service] });
  const creds = credentials.createInsecure();
  try {
    // Field 1 (spec), length-delimited, claiming 100 bytes of which 2 follow; then a wire type 7 (which does not exist).
    for (const body of [Uint8Array.from([0x0a, 100, 1, 2]), Uint8Array.from([0x0f, 1])]) {
      const err = await rawCall(srv.address, creds, 'SubmitSearch', body);
      assert.equal(err?.code, status.INVALID_ARGUMENT, `${err?.code} ${err?.details}`);
      assert.match(err!.details, /^malformed SubmitSearch request: /);
    }
    const ok = new pb.SearchServiceClient(srv.address, creds);
    assert.equal((await getSearch(ok, 'still-here')).value?.status?.searchId, 'still-here');
    assert.equal((await getSearch(ok, 'still-here')).value?.status?.submitter, '', 'no caller without tokens');
    ok.close();
  } finally {
    await srv.close();
  }
});

test('grpc edge - statuses come from the service table; unknown errors are INTERNAL with a generic message and logged', async () => {
  const f = fixture();
  const logged: string[] = [];
  const srv = await startGrpcServer({ port: 0, services: [f.service], log: (line) => logged.push(line) });
  const client = new pb.SearchServiceClient(srv.address, credentials.createInsecure());
  try {
    const missing = (await getSearch(client, 'missing')).error;
    assert.equal(missing?.code, status.NOT_FOUND);
    assert.equal(missing?.details, "search 'missing' not found");
    assert.deepEqual(missing?.metadata.get('field'), ['search_id']);
    const crash = (await getSearch(client, 'crash')).error;
    assert.equal(crash?.code, status.INTERNAL);
    assert.doesNotMatch(crash!.details, /secret/, 'internals stay in the log');
    assert.match(crash!.details, /GetSearch/);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /GetSearch: unexpected error: Error: disk \/var\/secret\/state.db is corrupt/);
  } finally {
    client.close();
    await srv.close();
  }
});

test('grpc edge - TLS with a token through grpcClientOptions; plaintext clients and missing tokens are refused', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service], tokens, tls: { cert: pki.serverCert, key: pki.serverKey } });
  try {
    const good = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, token: tokens[1]!.token, tls: { ca: pki.ca } }));
    assert.equal((await getSearch(good, 'x')).value?.status?.submitter, 'ci-bot');
    good.close();
    const noToken = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, tls: { ca: pki.ca } }));
    assert.equal((await getSearch(noToken, 'x')).error?.code, status.UNAUTHENTICATED);
    noToken.close();
    const plain = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, token: tokens[1]!.token }));
    assert.equal((await getSearch(plain, 'x')).error?.code, status.UNAVAILABLE, 'a plaintext client cannot talk to the TLS port');
    plain.close();
    const untrusted = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, token: tokens[1]!.token, tls: {} }));
    assert.equal((await getSearch(untrusted, 'x')).error?.code, status.UNAVAILABLE, 'the system roots do not trust the test CA');
    untrusted.close();
  } finally {
    await srv.close();
  }
});

test('grpc edge - mutual TLS refuses clients without a certificate', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service], tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca } });
  try {
    const withCert = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } }));
    assert.equal((await getSearch(withCert, 'm')).value?.status?.searchId, 'm');
    withCert.close();
    const noCert = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, tls: { ca: pki.ca } }));
    assert.equal((await getSearch(noCert, 'm')).error?.code, status.UNAVAILABLE);
    noCert.close();
  } finally {
    await srv.close();
  }
});

test('grpc edge - oversized requests get RESOURCE_EXHAUSTED and the server keeps serving', async () => {
  const f = fixture();
  const srv = await startGrpcServer({ port: 0, services: [f.service], maxReceiveBytes: 16 * 1024 });
  const client = new pb.SearchServiceClient(srv.address, credentials.createInsecure());
  try {
    const huge = pb.SearchSpec.fromPartial({ name: 'x'.repeat(64 * 1024) });
    const err = await new Promise<unknown>((resolve) => client.submitSearch({ spec: huge, requestId: '' }, (e) => resolve(e)));
    assert.equal((err as { code?: number }).code, status.RESOURCE_EXHAUSTED);
    const fits = await new Promise<pb.SubmitSearchResponse>((resolve, reject) => client.submitSearch({ spec: pb.SearchSpec.fromPartial({ name: 'small' }), requestId: '' }, (e, r) => (e ? reject(e) : resolve(r))));
    assert.equal(fits.searchId, 'small');
  } finally {
    client.close();
    await srv.close();
  }
});

test('grpc edge - closed by default: beyond loopback a server needs a token or TLS, and the refusal names what to set', async () => {
  const f = fixture();
  await assert.rejects(
    startGrpcServer({ host: '0.0.0.0', port: 0, services: [f.service], authHint: 'CONTROLLER_TOKEN, CONTROLLER_TOKENS_FILE or TLS_CERT and TLS_KEY' }),
    (err: Error) => err instanceof OpenServerError && /0\.0\.0\.0:0/.test(err.message) && /CONTROLLER_TOKEN, CONTROLLER_TOKENS_FILE or TLS_CERT and TLS_KEY/.test(err.message),
  );
  await assert.rejects(startGrpcServer({ host: '::', port: 0, services: [f.service] }), OpenServerError);
  for (const open of [{ tokens }, { tls: { cert: pki.serverCert, key: pki.serverKey } }]) {
    const srv = await startGrpcServer({ host: '0.0.0.0', port: 0, services: [f.service], ...open });
    assert.ok(srv.port > 0);
    await srv.close();
  }
  const local = await startGrpcServer({ host: 'localhost', port: 0, services: [f.service] });
  await local.close();
  assert.deepEqual(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'].filter((h) => !isLoopback(h)), []);
  assert.deepEqual(['0.0.0.0', '::', '', '10.0.0.1', '128.0.0.1', 'controller.nasnet.svc', '::ffff:10.0.0.1'].filter(isLoopback), []);
});

test('grpc edge - set-up errors name what is wrong: token lists, TLS files, handlers', async () => {
  const f = fixture();
  assert.throws(() => new TokenChecker([{ name: 'a', token: 't1' }, { name: 'a', token: 't2' }]), (e: Error) => e instanceof TokenListError && /tokens\[1\]: the name 'a' is given twice/.test(e.message));
  assert.throws(() => new TokenChecker([{ name: 'a', token: 't1' }, { name: 'b', token: 't1' }]), /tokens\[1\]: 'b' has the same token as tokens\[0\]/);
  assert.throws(() => new TokenChecker([{ name: '', token: 't1' }]), /tokens\[0\]: the name is empty/);
  assert.throws(() => new TokenChecker([{ name: 'a', token: '' }]), /tokens\[0\]: the token of 'a' is empty/);
  await assert.rejects(startGrpcServer({ port: 0, services: [f.service], tls: { cert: '/nonexistent/server.pem', key: pki.serverKey } }),
    (e: Error) => e instanceof TlsFileError && e.role === 'cert' && e.message.includes("'/nonexistent/server.pem'"));
  assert.throws(() => grpcClientOptions({ address: 'x:1', tls: { ca: '/nonexistent/ca.pem' } }), (e: Error) => e instanceof TlsFileError && e.role === 'ca');
  assert.throws(() => grpcClientOptions({ address: 'x:1', tls: { cert: pki.clientCert } }), /TLS key: a client certificate and its key go together/);
  const { watchSearch: _omitted, ...partial } = f.service.handlers;
  await assert.rejects(startGrpcServer({ port: 0, services: [{ definition: f.service.definition, handlers: partial }] }),
    (e: Error) => e instanceof HandlerSetupError && /nas\.v1\.SearchService: no handler for 'watchSearch'/.test(e.message));
  await assert.rejects(startGrpcServer({ port: 0, services: [{ definition: f.service.definition, handlers: { ...f.service.handlers, watchSearch: unary(errors, () => ({})) } }] }),
    /'watchSearch' is a serverStream method, its handler is unary/);
  await assert.rejects(startGrpcServer({ port: 0, services: [{ definition: f.service.definition, handlers: { ...f.service.handlers, getSearch: (() => {}) as never } }] }),
    /handler 'getSearch' was not made with unary\(\) or serverStream\(\)/);
});

test('grpc edge - the token checker compares every token in constant time and finds the right name', () => {
  const checker = new TokenChecker(tokens);
  assert.equal(checker.enabled, true);
  assert.equal(new TokenChecker([]).enabled, false);
  assert.equal(checker.callerOf([`Bearer ${tokens[1]!.token}`]), 'ci-bot');
  assert.equal(checker.callerOf(['Bearer wrong', `Bearer ${tokens[0]!.token}`]), 'alice', 'any of the values may carry the token');
  // Wrong guesses of the same and of other lengths, a prefix and an extension: none matches, none throws
  // (timingSafeEqual would throw on unequal lengths if raw tokens were compared).
  const t = tokens[0]!.token;
  for (const guess of [t.slice(0, -1) + 'X', t.slice(0, -1), `${t}X`, '', 'x'.repeat(5000), t.toUpperCase()]) {
    assert.equal(checker.callerOf([`Bearer ${guess}`]), undefined, guess);
  }
  assert.equal(checker.callerOf([`Bearer ${'y'.repeat(10_000)}`]), undefined);
  assert.equal(checker.callerOf([Buffer.from(`Bearer ${t}`)]), undefined, 'binary values are no bearer tokens');
});
