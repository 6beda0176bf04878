import type { FromWorker, ToWorker, TrainFunction } from './protocol.js';

/**
 * The worker side: call once in the worker module. Trains one task at a time
 * with `train`, forwards progress, answers every task with a result or an
 * error, and exits on shutdown or when the parent goes away.
 */
export function serveWorker(train: TrainFunction, ready?: { backend: string; reason: string }): void {
  if (!process.send) throw new Error('serveWorker must run in a process started with an IPC channel (child_process.fork)');
  const send = (msg: FromWorker) => process.send!(msg);
  let current: { childId: number; abort: AbortController } | undefined;
  if (ready) send({ type: 'ready', ...ready });
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'shutdown') {
      current?.abort.abort(new Error('worker shutting down'));
      process.disconnect();
      return;
    }
    if (msg.type === 'cancel') {
      if (current?.childId === msg.childId) current.abort.abort(new Error('cancelled'));
      return;
    }
    const task = msg.task;
    const abort = new AbortController();
    current = { childId: task.childId, abort };
    train(task, { onProgress: (progress) => send({ type: 'progress', childId: task.childId, progress }), signal: abort.signal })
      .then(
        (result) => send({ type: 'result', childId: task.childId, result }),
        (err: unknown) => send({ type: 'error', childId: task.childId, message: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => { if (current?.childId === task.childId) current = undefined; });
  });
}
