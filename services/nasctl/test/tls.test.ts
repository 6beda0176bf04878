import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { serverStream, startGrpcServer, unary } from '@nasnet/grpc-edge';
import { makeTestPki } from '@nasnet/grpc-edge/testing';
import * as pb from '@nasnet/proto';
import { main, type CliIO } from '../src/main.js';
import { nasctlConfigFromEnv } from '../src/config.js';

const pki = makeTestPki();
// A SearchService behind the edge with mutual TLS and a named token; it lists one search submitted by its caller.
const seen: string[] = [];
const none = unary(() => undefined, () => { throw new Error('not served'); });
const server = await startGrpcServer({
  port: 0,
  tokens: [{ name: 'cli-user', token: 'cli-token-123' }],
  tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca },
  log: () => {},
  services: [{
    definition: pb.SearchServiceService,
    handlers: {
      listSearches: unary(() => ({ code: status.INTERNAL, message: 'x' }), (_req: pb.ListSearchesRequest, ctx): pb.ListSearchesResponse => {
        seen.push(ctx.caller ?? '');
        return { searches: [pb.SearchStatus.fromPartial({ searchId: 's-tls', state: pb.SearchState.SEARCH_STATE_RUNNING, submitter: ctx.caller ?? '', spec: { name: 'over-tls' } })], nextPageToken: '' };
      }),
      submitSearch: none, getSearch: none, cancelSearch: none, topArchitectures: none,
      watchSearch: serverStream(() => undefined, () => { throw new Error('not served'); }),
    },
  }],
});
after(async () => { await server.close(); pki.cleanup(); });

function io(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}
const at = ['--server', `localhost:${server.port}`];
const cert = ['--cert', pki.clientCert, '--key', pki.clientKey];

test('nasctl tls - --ca, --cert/--key and --token reach a mutual-TLS server; the token name is the caller', async () => {
  const ok = io();
  assert.equal(await main(['search', 'list', ...at, '--ca', pki.ca, ...cert, '--token', 'cli-token-123'], ok), 0, ok.stderr.join('\n'));
  assert.ok(ok.stdout.some((l) => l.startsWith('s-tls') && l.endsWith('over-tls')), ok.stdout.join('\n'));
  assert.deepEqual(seen, ['cli-user']);
});

test('nasctl tls - a missing token, a missing client certificate and an untrusted server are refused; unreadable files are named', async () => {
  const noToken = io();
  assert.equal(await main(['search', 'list', ...at, '--ca', pki.ca, ...cert], noToken), 1);
  assert.match(noToken.stderr.join('\n'), /UNAUTHENTICATED/);
  const noCert = io();
  assert.equal(await main(['search', 'list', ...at, '--ca', pki.ca, '--token', 'cli-token-123'], noCert), 1);
  assert.match(noCert.stderr.join('\n'), /UNAVAILABLE/);
  const systemRoots = io();
  assert.equal(await main(['search', 'list', ...at, '--tls', ...cert, '--token', 'cli-token-123'], systemRoots), 1);
  assert.match(systemRoots.stderr.join('\n'), /UNAVAILABLE/);
  const unreadable = io();
  assert.equal(await main(['search', 'list', ...at, '--ca', '/nonexistent/ca.pem', '--token', 'cli-token-123'], unreadable), 2);
  assert.match(unreadable.stderr.join('\n'), /--ca: cannot read '\/nonexistent\/ca\.pem'/);
  const half = io();
  assert.equal(await main(['search', 'list', ...at, '--cert', pki.clientCert], half), 2);
  assert.match(half.stderr.join('\n'), /--cert and --key go together/);
  assert.deepEqual(seen, ['cli-user'], 'no refused call reached the handler');
});
