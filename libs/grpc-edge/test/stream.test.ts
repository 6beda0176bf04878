import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { grpcClientOptions, startGrpcServer } from '../src/index.js';
import { fixture } from './fixture.js';

/** Reads a watch stream to its end. */
function drain(stream: ReturnType<pb.SearchServiceClient['watchSearch']>, into: number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('data', (e: pb.SearchEvent) => into.push(e.sequence));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
}

for (const [searchId, kind] of [['s', 'a feed that subscribes at once'], ['later', 'a feed that subscribes through a promise']] as const) test(`grpc edge - a slow reader pauses event delivery instead of buffering, and gets every event once, in order (${kind})`, async (t) => {
  const f = fixture();
  // 3,000 events of 4 KB (12 MB): far more than the HTTP/2 windows and the stream's high-water mark hold.
  const N = 3000;
  f.log.append(N / 2, 4096);
  const srv = await startGrpcServer({ port: 0, services: [f.service], tokens: [{ name: 'w', token: 'watch-token' }] });
  const client = new pb.SearchServiceClient(...grpcClientOptions({ address: srv.address, token: 'watch-token' }));
  try {
    const stream = client.watchSearch({ searchId, fromSequence: 0 });
    stream.pause();
    // Either the server stops delivery (backpressure) or the feed hands it every event (none).
    const outcome = await new Promise<'paused' | 'everything delivered'>((resolve) => {
      f.log.onStop = () => resolve('paused');
      f.log.onDelivered = (n) => { if (n >= N / 2) resolve('everything delivered'); };
    });
    f.log.onStop = undefined;
    f.log.onDelivered = undefined;
    assert.equal(outcome, 'paused');
    const deliveredWhilePaused = f.log.delivered;
    t.diagnostic(`${deliveredWhilePaused} of ${N / 2} stored events handed over before delivery paused`);
    assert.ok(deliveredWhilePaused < N / 4, `${deliveredWhilePaused} events handed over to a client that reads nothing`);
    // Live events arrive while nobody reads: the paused stream does not take them.
    f.log.append(N / 2, 4096);
    assert.equal(f.log.delivered, deliveredWhilePaused);
    f.log.end();

    const seen: number[] = [];
    const done = drain(stream, seen);
    stream.resume();
    await done;
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i + 1));
    assert.ok(f.log.subscriptions > 1, 'delivery was taken up again after a drain');
    assert.equal(f.log.stops, f.log.subscriptions, 'every subscription was stopped');
  } finally {
    client.close();
    await srv.close();
  }
});

test('grpc edge - a stream resumes from a sequence, ends when the feed ends, and carries the table status of a failed open', async () => {
  const f = fixture();
  f.log.append(10, 8);
  f.log.end();
  const srv = await startGrpcServer({ port: 0, services: [f.service] });
  const client = new pb.SearchServiceClient(srv.address, credentials.createInsecure());
  try {
    const tail: number[] = [];
    await drain(client.watchSearch({ searchId: 's', fromSequence: 7 }), tail);
    assert.deepEqual(tail, [7, 8, 9, 10]);
    const err = await drain(client.watchSearch({ searchId: 'missing', fromSequence: 0 }), []).then(() => undefined, (e: ServiceError) => e);
    assert.equal(err?.code, status.NOT_FOUND);
    assert.equal(err?.details, "search 'missing' not found");
    assert.equal(f.log.stops, f.log.subscriptions);
  } finally {
    client.close();
    await srv.close();
  }
});

test('grpc edge - a client that cancels a live stream ends its subscription', async () => {
  const f = fixture();
  f.log.append(3, 8);
  const srv = await startGrpcServer({ port: 0, services: [f.service] });
  const client = new pb.SearchServiceClient(srv.address, credentials.createInsecure());
  try {
    const stream = client.watchSearch({ searchId: 's', fromSequence: 0 });
    const stopped = new Promise<void>((resolve) => { f.log.onStop = resolve; });
    await new Promise<void>((resolve) => stream.on('data', (e: pb.SearchEvent) => { if (e.sequence === 3) resolve(); }));
    stream.on('error', () => {});
    stream.cancel();
    await stopped;
    assert.equal(f.log.stops, 1);
  } finally {
    client.close();
    await srv.close();
  }
});
