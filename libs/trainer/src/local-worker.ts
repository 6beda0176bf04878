/**
 * The module a local worker process runs (LOCAL_WORKER_ENTRY): serves the
 * worker protocol of @nasnet/workers, starting the tensor backend its parent
 * names, then trains the children it is sent, one at a time, with
 * runChildTask. Each result names the worker that trained it.
 */
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend's gradients
import { initBackend } from '@nasnet/engine';
import type { ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { serveWorker } from '@nasnet/workers';
import { runChildTask } from './task.js';
import { localWorkerName, type TrainerWorkerSettings } from './workers.js';

serveWorker<ChildTask, ChildProgress, ChildResult, TrainerWorkerSettings | undefined>({
  // The backend's one report line goes to stderr, which the parent reads as this worker's log.
  start: ({ settings }) => initBackend(settings?.backend, {
    log: (line) => process.stderr.write(`${line}\n`),
    ...(settings?.threads ? { threads: settings.threads } : {}),
  }),
  work: async (task, hooks, { worker }) => ({ ...(await runChildTask(task, hooks)), trainer: localWorkerName(worker) }),
});
