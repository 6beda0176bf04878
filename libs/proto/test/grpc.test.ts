import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServiceError,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { NASNET_A } from '@nasnet/search-space';
import {
  genotypeFromProto,
  genotypeToProto,
  GetSearchResponse,
  SearchEvent,
  SearchServiceClient,
  SearchServiceService,
  SearchState,
  SearchStatus,
  type SearchServiceServer,
} from '../src/index.js';

const SEARCH_ID = 'search-1';

/** Three events of a tiny search: it starts, a child finishes, it succeeds. */
const EVENTS: SearchEvent[] = [
  SearchEvent.fromPartial({
    searchId: SEARCH_ID,
    sequence: 1,
    timeMs: 1_000,
    event: { $case: 'stateChanged', value: { previous: SearchState.SEARCH_STATE_PENDING, current: SearchState.SEARCH_STATE_RUNNING } },
  }),
  SearchEvent.fromPartial({
    searchId: SEARCH_ID,
    sequence: 2,
    timeMs: 2_000,
    event: { $case: 'childQueued', value: { childId: 'c1', genotype: genotypeToProto(NASNET_A), attempt: 1 } },
  }),
  SearchEvent.fromPartial({
    searchId: SEARCH_ID,
    sequence: 3,
    timeMs: 3_000,
    event: { $case: 'stateChanged', value: { previous: SearchState.SEARCH_STATE_RUNNING, current: SearchState.SEARCH_STATE_SUCCEEDED } },
  }),
];

function unimplemented(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<never>): void {
  callback({ code: status.UNIMPLEMENTED, details: 'not in this test server' });
}

/** A tiny SearchService: one known search with a three-event log. */
const impl: SearchServiceServer = {
  getSearch(call, callback) {
    if (call.request.searchId !== SEARCH_ID) {
      callback({ code: status.NOT_FOUND, details: `search ${call.request.searchId} not found` });
      return;
    }
    const statusMsg = SearchStatus.fromPartial({
      searchId: SEARCH_ID,
      state: SearchState.SEARCH_STATE_SUCCEEDED,
      counts: { submitted: 1, trained: 1 },
      bestReward: 0.875,
      bestGenotype: genotypeToProto(NASNET_A),
      createdAtMs: 1_700_000_000_123,
      lastSequence: EVENTS.length,
    });
    callback(null, GetSearchResponse.fromPartial({ status: statusMsg }));
  },
  watchSearch(call) {
    // Resume semantics of the contract: from_sequence 0 or 1 = from the start.
    const from = Math.max(1, call.request.fromSequence);
    for (const event of EVENTS) if (event.sequence >= from) call.write(event);
    call.end();
  },
  submitSearch: unimplemented,
  listSearches: unimplemented,
  cancelSearch: unimplemented,
  topArchitectures: unimplemented,
};

async function startServer(): Promise<{ server: Server; address: string }> {
  const server = new Server();
  server.addService(SearchServiceService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}` };
}

function watch(client: SearchServiceClient, fromSequence: number): Promise<SearchEvent[]> {
  return new Promise((resolve, reject) => {
    const got: SearchEvent[] = [];
    const stream = client.watchSearch({ searchId: SEARCH_ID, fromSequence });
    stream.on('data', (e: SearchEvent) => got.push(e));
    stream.on('error', reject);
    stream.on('end', () => resolve(got));
  });
}

test('grpc - generated client and server talk over a real connection', async (t) => {
  const { server, address } = await startServer();
  const client = new SearchServiceClient(address, credentials.createInsecure());
  t.after(() => {
    client.close();
    server.forceShutdown();
  });

  const res = await new Promise<GetSearchResponse>((resolve, reject) =>
    client.getSearch({ searchId: SEARCH_ID }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  assert.equal(res.status?.state, SearchState.SEARCH_STATE_SUCCEEDED);
  assert.equal(res.status?.bestReward, 0.875);
  assert.equal(res.status?.createdAtMs, 1_700_000_000_123);
  assert.deepEqual(genotypeFromProto(res.status!.bestGenotype!), NASNET_A);

  const missing = await new Promise<ServiceError>((resolve, reject) =>
    client.getSearch({ searchId: 'nope' }, new Metadata(), (err) => (err ? resolve(err) : reject(new Error('expected an error')))),
  );
  assert.equal(missing.code, status.NOT_FOUND);
  assert.match(missing.details, /search nope not found/);

  const unimpl = await new Promise<ServiceError>((resolve, reject) =>
    client.cancelSearch({ searchId: SEARCH_ID, reason: 'test' }, (err) => (err ? resolve(err) : reject(new Error('expected an error')))),
  );
  assert.equal(unimpl.code, status.UNIMPLEMENTED);
});

test('grpc - WatchSearch streams the events in order and resumes from a sequence', async (t) => {
  const { server, address } = await startServer();
  const client = new SearchServiceClient(address, credentials.createInsecure());
  t.after(() => {
    client.close();
    server.forceShutdown();
  });

  const all = await watch(client, 0);
  assert.deepEqual(all, EVENTS);
  assert.deepEqual(all.map((e) => e.event?.$case), ['stateChanged', 'childQueued', 'stateChanged']);
  const queued = all[1]!.event;
  assert.ok(queued?.$case === 'childQueued');
  assert.deepEqual(genotypeFromProto(queued.value.genotype!), NASNET_A);

  // A watcher that saw sequence 2 resumes with from_sequence = 3.
  const rest = await watch(client, 3);
  assert.deepEqual(rest.map((e) => e.sequence), [3]);
});
