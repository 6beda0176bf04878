import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BusRetryExhaustedError, connectBus, ensureStreams, isTransientBusError, STREAM_EVENTS, withBusRetry, type BusConnection,
} from '../src/index.js';
import { startNatsServer } from '../src/testing.js';

const server = await startNatsServer();
const open: BusConnection[] = [];
after(async () => {
  for (const c of open) await c.nc.close().catch(() => {});
  await server.stop();
});

async function connect(name: string): Promise<BusConnection> {
  const bus = await connectBus(server.url, { name, log: () => {}, reconnectTimeWaitMs: 100, apiTimeoutMs: 1000 });
  open.push(bus);
  return bus;
}

const bus = await connect('retry');
await ensureStreams(bus.jsm);

test('retry - a publish made while nats-server is down is retried until the server is back and stored once', async () => {
  const lines: string[] = [];
  const down = server.restart(2500);
  await new Promise((r) => setTimeout(r, 300)); // the server is gone
  const ack = await withBusRetry(() => bus.js.publish('nas.events.retry', new Uint8Array([1]), { msgID: 'retry-once' }), {
    what: 'publishing an event', log: (l) => lines.push(l), nc: bus.nc, isClosed: () => bus.nc.isClosed(),
  });
  await down;
  assert.ok(lines.length >= 1, 'at least one try failed while the server was down');
  assert.match(lines[0]!, /publishing an event failed \(try 1: .*\); retrying in \d+ ms/);
  const info = await bus.jsm.streams.info(STREAM_EVENTS, { subjects_filter: 'nas.events.retry' });
  assert.equal(info.state.subjects?.['nas.events.retry'], 1, 'stored once');
  assert.equal(ack.stream, STREAM_EVENTS);
});

test('retry - an answer of the server (a refused publish) is not retried; an outage longer than the bound ends with BusRetryExhaustedError', async () => {
  let calls = 0;
  await assert.rejects(withBusRetry(async () => {
    calls++;
    // A subject of the results stream already written: the server answers with an error.
    await bus.js.publish('nas.results.retry.1.1', new Uint8Array([1]));
    await bus.js.publish('nas.results.retry.1.1', new Uint8Array([2]));
  }, { what: 'writing twice' }), /maximum messages per subject exceeded/);
  assert.equal(calls, 1);

  const other = await startNatsServer();
  const lonely = await connectBus(other.url, { name: 'bounded', log: () => {}, reconnectTimeWaitMs: 100, apiTimeoutMs: 300 });
  await ensureStreams(lonely.jsm);
  await other.stop(); // gone for longer than the bound below
  let tries = 0;
  const err = await withBusRetry(() => { tries++; return lonely.js.publish('nas.events.x', new Uint8Array([1])); }, { what: 'publishing into the void', maxMs: 1500 })
    .then(() => assert.fail('published with no server'), (e: unknown) => e);
  assert.ok(err instanceof BusRetryExhaustedError, String(err));
  assert.match(err.message, /publishing into the void: the NATS server did not answer in \d+ tries/);
  assert.ok(isTransientBusError(err.cause), `the last error was a transient one: ${String(err.cause)}`);
  assert.ok(tries >= 2);
  await lonely.nc.close();
});
