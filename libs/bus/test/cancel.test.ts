import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelBoard } from '../src/index.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

/** Resolves once `check` holds, polling (the watch delivers asynchronously); fails after 5 s with `what`. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting until ${what}`);
}

test('cancel board - mayBeMarked answers "ask" until the board follows, then knows markers made before and after', async () => {
  const controller = await CancelBoard.open(await nats.connect('board-controller'));
  await controller.cancel('mb', 'child stopped', 3);
  await controller.cancel('mb-gone', 'search stopped');

  const trainer = await CancelBoard.open(await nats.connect('board-trainer'));
  // Not following: nothing is known locally.
  assert.equal(trainer.mayBeMarked('mb', 1), true);
  await trainer.follow();
  try {
    // Markers made before the board followed were listed.
    assert.equal(trainer.mayBeMarked('mb', 3), true);
    assert.equal(await trainer.reasonFor('mb', 3), 'child stopped');
    assert.equal(trainer.mayBeMarked('mb-gone', 7), true, 'a search marker covers each of its children');
    assert.equal(await trainer.reasonFor('mb-gone', 7), 'search stopped');
    // Unmarked children of other searches and of the same search need no lookup.
    assert.equal(trainer.mayBeMarked('mb', 1), false);
    assert.equal(trainer.mayBeMarked('other', 3), false);

    // A marker made later reaches a listener and the local keys.
    const heard: string[] = [];
    const unlisten = trainer.onCancel('mb', 5, (reason) => heard.push(reason));
    await controller.cancel('mb', 'later', 5);
    await until(() => heard.length === 1, 'the listener hears of the marker of child 5');
    assert.deepEqual(heard, ['later']);
    assert.equal(trainer.mayBeMarked('mb', 5), true);
    unlisten();

    // A cleared marker (the child is queued again) is forgotten, and reasonFor agrees.
    await controller.clear('mb', 3);
    await until(() => !trainer.mayBeMarked('mb', 3), 'the cleared marker of child 3 is forgotten');
    assert.equal(await trainer.reasonFor('mb', 3), undefined);
  } finally {
    trainer.stop();
  }
  // A stopped board knows nothing any more.
  assert.equal(trainer.mayBeMarked('mb', 1), true);
});
