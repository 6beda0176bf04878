import { MemoryStateStore } from '@nasnet/bus';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { Rng } from '@nasnet/random';
import { SearchManager, startControllerServer, type StoredSearch } from '../src/index.js';

const CODES = new Set(Object.values(status).filter((v): v is number => typeof v === 'number'));

test('fuzz - 10,000 seeded random and mutated SubmitSearch requests: every reply is a proper status, the server survives', async () => {
  const store = new MemoryStateStore<StoredSearch>();
  const manager = new SearchManager({
    store,
    // Children never finish: accepted searches just wait, so the test measures request handling only.
    executorFor: () => ({ execute: () => new Promise(() => {}) }),
    maxActiveSearches: 16,
  });
  const srv = await startControllerServer({ manager, port: 0, maxReceiveBytes: 256 * 1024 });
  const raw = new Client(`127.0.0.1:${srv.port}`, credentials.createInsecure());
  const rng = new Rng(2024);
  const valid = pb.SubmitSearchRequest.encode({
    requestId: '', spec: pb.SearchSpec.fromPartial({
      name: 'fuzz', dataset: 'synthetic', strategy: pb.SearchStrategy.SEARCH_STRATEGY_RANDOM, seed: 1,
      budget: { maxArchitectures: 10, maxConcurrentChildren: 2 }, recipe: { epochs: 1, learningRate: 0.1 }, controller: { lstmUnits: 8 },
    }),
  }).finish();
  const mutate = (): Uint8Array => {
    const kind = rng.int(4);
    if (kind === 0) return Uint8Array.from({ length: rng.int(200) }, () => rng.int(256));
    const b = Uint8Array.from(valid);
    if (kind === 1) { for (let k = 0, n = 1 + rng.int(6); k < n; k++) b[rng.int(b.length)] = rng.int(256); return b; }
    if (kind === 2) return b.subarray(0, rng.int(b.length));
    const i = rng.int(b.length), j = rng.int(b.length);
    return Uint8Array.from([...b.subarray(0, Math.min(i, j)), ...b.subarray(Math.min(i, j), Math.max(i, j)), ...b.subarray(Math.min(i, j))]);
  };
  const counts = new Map<number, number>();
  const N = 10_000;
  const batch = 100;
  for (let start = 0; start < N; start += batch) {
    await Promise.all(Array.from({ length: batch }, () => new Promise<void>((resolve) => {
      const body = Buffer.from(mutate());
      raw.makeUnaryRequest('/nas.v1.SearchService/SubmitSearch', (x: Buffer) => x, (x: Buffer) => x, body, new Metadata(), (err: ServiceError | null) => {
        const code = err ? err.code : status.OK;
        assert.ok(CODES.has(code), `unknown status ${code}`);
        if (err) assert.ok(err.details.length > 0, 'every error says why');
        counts.set(code, (counts.get(code) ?? 0) + 1);
        resolve();
      });
    })));
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, N);
  assert.ok((counts.get(status.INVALID_ARGUMENT) ?? 0) > N / 4, JSON.stringify([...counts]));
  assert.ok(!counts.has(status.INTERNAL), `no internal errors: ${JSON.stringify([...counts])}`);
  // Still serving a well-formed request.
  const ok = await new Promise<ServiceError | null>((resolve) => raw.makeUnaryRequest('/nas.v1.SearchService/ListSearches', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new Metadata(), (e: ServiceError | null) => resolve(e)));
  assert.equal(ok, null);
  for (const s of (await manager.list({ states: ['running'], pageSize: 1000 })).jobs) await manager.cancel(s.id, 'test over');
  raw.close();
  await srv.close();
});
