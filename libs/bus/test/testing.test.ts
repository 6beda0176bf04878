import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectBus, ensureStreams, STREAM_EVENTS } from '../src/index.js';
import { startNatsServer } from '../src/testing.js';

test('testing - restart() brings nats-server back on the same port with the same JetStream store; clients reconnect', async () => {
  const server = await startNatsServer();
  const bus = await connectBus(server.url, { name: 'restart-test', log: () => {}, reconnectTimeWaitMs: 100 });
  try {
    await ensureStreams(bus.jsm); // file storage, as in production
    await bus.js.publish('nas.events.system', new TextEncoder().encode('{"before":1}'));
    const reconnected = (async () => {
      for await (const s of bus.nc.status()) if (s.type === 'reconnect') return true;
      return false;
    })();
    const { port, url } = server;
    await server.restart();
    assert.equal(server.port, port);
    assert.equal(server.url, url);
    assert.equal(await reconnected, true);
    const info = await bus.jsm.streams.info(STREAM_EVENTS);
    assert.equal(info.state.messages, 1, 'the stored message survived the restart');
    await bus.js.publish('nas.events.system', new TextEncoder().encode('{"after":1}'));
    assert.equal((await bus.jsm.streams.info(STREAM_EVENTS)).state.messages, 2);
    assert.equal(server.log().match(/Server is ready/g)?.length, 2, 'the log keeps both runs');
  } finally {
    await bus.nc.close();
    await server.stop();
  }
  await assert.rejects(server.restart(), /stopped; it cannot be restarted/);
});
