/**
 * A local worker process of the embedded search: starts the tensor backend
 * (NAS_BACKEND, default auto), then trains the children its parent sends
 * over IPC, one at a time.
 */
import { initBackend } from '@nasnet/engine';
import '@nasnet/network'; // registers the custom layers (and tfjs-layers) before our gradients
import { runChildTask } from '@nasnet/trainer';
import { serveWorker } from '@nasnet/workers';

const choice = await initBackend(undefined, { log: (line) => process.stderr.write(`${line}\n`) });
serveWorker(runChildTask, choice);
