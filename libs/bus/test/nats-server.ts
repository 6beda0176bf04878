import { after, before } from 'node:test';
import { connectBus, ensureStreams, type BusConnection } from '../src/index.js';
import { startNatsServer, type NatsServerOptions, type NatsTestServer } from '../src/testing.js';

/**
 * One throwaway nats-server per test file: started in `before`, killed (and
 * its store deleted) in `after`, with every connection opened through
 * `connect()` closed first.
 */
export function useNatsServer(options: NatsServerOptions = {}): {
  server(): NatsTestServer;
  connect(name: string, opts?: { streams?: boolean }): Promise<BusConnection>;
} {
  let server: NatsTestServer | undefined;
  const open = new Set<BusConnection>();
  before(async () => { server = await startNatsServer(options); });
  after(async () => {
    for (const c of open) await c.nc.close().catch(() => {});
    await server?.stop();
  });
  return {
    server: () => server!,
    async connect(name, opts = {}) {
      const bus = await connectBus(server!.url, { name, log: () => {}, reconnectTimeWaitMs: 100 });
      open.add(bus);
      if (opts.streams !== false) await ensureStreams(bus.jsm, { storage: 'memory' });
      return bus;
    },
  };
}
