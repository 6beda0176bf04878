/**
 * A training process of the transfer service: starts the tensor backend
 * (NAS_BACKEND, default auto), runs the one transfer its parent sends with
 * runTransfer, reports progress and the outcome over IPC, then exits.
 */
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before initBackend's gradients
import { initBackend } from '@nasnet/engine';
import { runTransfer } from '@nasnet/transfer';
import type { FromTransferWorker, ToTransferWorker } from './runner.js';

if (!process.send) throw new Error('the transfer worker must be started with an IPC channel (child_process.fork)');
const send = (msg: FromTransferWorker, then?: () => void) => process.send!(msg, undefined, {}, () => then?.());
const abort = new AbortController();
let started = false;

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: ToTransferWorker) => {
  if (msg.type === 'cancel') {
    abort.abort(new Error('cancelled'));
    if (!started) process.exit(0);
    return;
  }
  if (started) return;
  started = true;
  runTransfer(msg.job, { signal: abort.signal, onProgress: (progress) => send({ type: 'progress', progress }) }).then(
    (outcome) => send({ type: 'result', outcome }, () => process.exit(0)),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      send({ type: 'error', name: e.name, message: e.message }, () => process.exit(1));
    },
  );
});

const choice = await initBackend(undefined, { log: () => {} }); // reported through 'ready'
send({ type: 'ready', backend: choice.backend, reason: choice.reason });
