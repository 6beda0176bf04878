import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSearchQueue, connectBus, ensureStreams, natsAuthConfig, openSearchQueue, readQueueEpoch, STREAM_TASKS, taskSubject,
} from '../src/index.js';
import { startNatsServer } from '../src/testing.js';

const PASSWORDS = { controller: 'cControllerPass0001', trainer: 'tTrainerPass000002', metrics: 'mMetricsPass000003', transfer: 'xTransferPass00004' };

test('queue epoch - the controller user of natsPermissions() may raise, read and settle it (close, open, executor read)', async () => {
  const server = await startNatsServer({ config: natsAuthConfig(PASSWORDS) });
  try {
    const bus = await connectBus(server.url, { name: 'epoch-auth', user: 'controller', pass: PASSWORDS.controller, log: () => {}, waitOnFirstConnect: false });
    try {
      await ensureStreams(bus.jsm, { storage: 'memory' });
      await openSearchQueue(bus, 'guarded');
      await bus.js.publish(taskSubject('guarded'), new Uint8Array([1]));
      await closeSearchQueue(bus, 'guarded');
      assert.equal(await readQueueEpoch(bus, 'guarded'), 1);
      assert.equal((await bus.jsm.streams.info(STREAM_TASKS)).state.messages, 0, 'purged');
      await openSearchQueue(bus, 'guarded');
      await closeSearchQueue(bus, 'guarded');
      assert.equal(await readQueueEpoch(bus, 'guarded'), 2);
    } finally {
      await bus.close();
    }
  } finally {
    await server.stop();
  }
});
