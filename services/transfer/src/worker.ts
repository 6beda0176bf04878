/**
 * A training process of the transfer service (TRANSFER_WORKER_ENTRY): serves
 * the @nasnet/workers protocol, starting the tensor backend its parent names
 * (default: the engine's), then runs the transfer it is sent with
 * runTransfer, reporting progress and the outcome.
 */
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend's gradients
import { initBackend, type BackendName } from '@nasnet/engine';
import { runTransfer, type TransferJob, type TransferOutcome, type TransferProgressInfo } from '@nasnet/transfer';
import { serveWorker } from '@nasnet/workers';
import type { TransferWorkerSettings } from './runner.js';

serveWorker<TransferJob, TransferProgressInfo, TransferOutcome, TransferWorkerSettings>({
  // initBackend checks the name (UnknownBackendError names it); its report line travels in 'ready'.
  start: ({ settings }) => initBackend(settings.backend as BackendName | undefined, { log: () => {} }),
  work: (job, hooks) => runTransfer(job, hooks),
});
