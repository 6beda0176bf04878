import type { FromWorker, ToWorker, WorkerContext, WorkerReady, WorkHooks } from './protocol.js';

export interface ServeWorkerOptions<T, P, R, S> {
  /**
   * Runs once, with the parent's settings, before the first task (start the
   * tensor backend, say). What it returns is reported to the parent as ready.
   * If it throws, the parent is told (`start_failed`) and the process exits.
   */
  start?: (context: WorkerContext<S>) => Promise<WorkerReady | void> | WorkerReady | void;
  /** Does one task; a throw becomes the task's error in the parent, keeping the error's name. */
  work: (task: T, hooks: WorkHooks<P>, context: WorkerContext<S>) => Promise<R>;
}

const describe = (err: unknown) => (err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) });

/**
 * The worker side: call once, at the top of the worker module (before any
 * await, so the parent's first message finds a handler). Does one task at a
 * time with `work`, forwards progress, answers every task with a result or
 * an error, and exits on shutdown or when the parent goes away.
 */
export function serveWorker<T, P, R, S = undefined>(options: ServeWorkerOptions<T, P, R, S>): void {
  if (!process.send) throw new Error('serveWorker must run in a process started with an IPC channel (child_process.fork)');
  const send = (msg: FromWorker<P, R>, then?: () => void) => process.send!(msg, undefined, {}, () => then?.());
  let context: WorkerContext<S> | undefined;
  let current: { id: number; abort: AbortController } | undefined;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: ToWorker<T, S>) => {
    switch (msg.type) {
      case 'start': {
        if (context) return;
        const started: WorkerContext<S> = { worker: msg.worker, settings: msg.settings };
        context = started;
        Promise.resolve()
          .then(() => options.start?.(started))
          .then(
            (ready) => send({ type: 'ready', backend: ready?.backend ?? 'none', reason: ready?.reason ?? 'no start function' }),
            (err: unknown) => send({ type: 'start_failed', ...describe(err) }, () => process.exit(1)),
          );
        return;
      }
      case 'shutdown':
        current?.abort.abort(new Error('worker shutting down'));
        process.disconnect();
        return;
      case 'cancel':
        if (current?.id === msg.id) current.abort.abort(new Error('cancelled'));
        return;
      case 'task': {
        if (!context) {
          send({ type: 'error', id: msg.id, name: 'WorkerNotStartedError', message: 'a task arrived before start' });
          return;
        }
        const { id, task } = msg;
        const abort = new AbortController();
        current = { id, abort };
        Promise.resolve()
          .then(() => options.work(task, { onProgress: (progress) => send({ type: 'progress', id, progress }), signal: abort.signal }, context!))
          .then(
            (result) => send({ type: 'result', id, result }),
            (err: unknown) => send({ type: 'error', id, ...describe(err) }),
          )
          .finally(() => { if (current?.id === id) current = undefined; });
        return;
      }
    }
  });
  send({ type: 'listening' });
}
