/**
 * More than one thread inside one wasm training process.
 *
 * tfjs-backend-wasm 4.22 ships a threaded build (XNNPACK on a pthreadpool
 * over emscripten pthreads, shared memory) but turns it off in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is false there, tfjs issue #3830): its
 * loader hands emscripten a `blob:` URL for the pthread worker script and
 * a Blob for the main script, and Node's worker_threads take neither. And
 * the build caps its pool at navigator.hardwareConcurrency / 2 (it assumes
 * two hyperthreads per core), which in Node is os.cpus().length / 2.
 *
 * What this module does about each, without touching node_modules:
 * - emscripten creates its workers with `new Worker(url)` through the
 *   global `Worker`, which its Node glue sets to worker_threads' Worker.
 *   We make `globalThis.Worker` a class that starts a blob: URL's worker
 *   from our own bootstrap instead (PTHREAD_BOOTSTRAP below): it runs the
 *   worker glue tfjs ships as a CommonJS string, and answers the glue's
 *   request for the main script (a Blob it cannot read in Node) with the
 *   same emscripten module tfjs ships as a file in wasm-out/;
 * - the pool size: os.cpus() reports twice the wanted thread count while
 *   the module starts (its constructor reads it once), then is restored;
 *   setThreadsCount asks for the count itself.
 * Our own SIMD kernels then run on the shared heap from kernel threads of
 * their own (kernels/simd/thread-pool.ts, kernels/parallel.ts).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EventEmitter } from 'node:events';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** The most threads the build's pthreadpool takes (tfjs precreates 8 workers and caps its pool there). */
export const MAX_WASM_THREADS = 8;

/** The threaded build cannot run here; the caller falls back to one thread. */
export class WasmThreadsUnavailableError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the threaded wasm build cannot run here: ${reason}`, options);
    this.name = 'WasmThreadsUnavailableError';
  }
}

/** Where tfjs-backend-wasm keeps the emscripten files of its threaded build. */
interface ThreadedBuildFiles {
  /** CommonJS module exporting `wasmWorkerContents`, the pthread worker glue. */
  workerScript: string;
  /** The emscripten main script, defining WasmBackendModuleThreadedSimd. */
  mainScript: string;
}

function threadedBuildFiles(): ThreadedBuildFiles {
  let root: string;
  try {
    root = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  } catch (cause) {
    throw new WasmThreadsUnavailableError('@tensorflow/tfjs-backend-wasm\'s package folder cannot be found (a bundle ships without it)', { cause });
  }
  const files = {
    workerScript: join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
    mainScript: join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js'),
  };
  for (const file of Object.values(files)) {
    if (!existsSync(file)) throw new WasmThreadsUnavailableError(`${file} is missing`);
  }
  return files;
}

/**
 * Runs in each emscripten pthread worker (eval: true, so CommonJS `require`).
 * It takes the glue's 'message' listener, runs the glue, and rewrites the
 * glue's 'load' command so the main script comes from the file, not a Blob.
 * Commands that arrive while the module loads (a lazily started worker gets
 * 'load' and 'run' back to back) wait until the glue reports 'loaded'.
 */
const PTHREAD_BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { workerScript, mainScript } = workerData;
const MAIN = 'nasnet:threaded-main-script';
// The glue is a string in a template literal whose "\\\\n" became newlines; tfjs escapes them back before use too.
const glue = require(workerScript).wasmWorkerContents.replace(/\\n/g, '\\\\n');
let deliver = null;
const on = parentPort.on;
parentPort.on = function (event, listener) {
  if (event === 'message' && deliver === null) { deliver = listener; return this; }
  return on.call(this, event, listener);
};
new Function('require', '__filename', glue)(require, workerScript);
parentPort.on = on;
if (deliver === null) throw new Error('the pthread worker glue registered no message listener');
let held = null;
const post = globalThis.postMessage;
globalThis.postMessage = (message, transfer) => {
  post(message, transfer);
  if (held !== null && message && message.cmd === 'loaded') {
    const waiting = held;
    held = null;
    for (const data of waiting) deliver(data);
  }
};
parentPort.on('message', (data) => {
  if (held !== null) { held.push(data); return; }
  if (data && data.cmd === 'load') {
    if (typeof data.urlOrBlob !== 'string') {
      const source = fs.readFileSync(mainScript, 'utf8');
      const load = globalThis.importScripts;
      globalThis.importScripts = (url) => (url === MAIN ? (0, eval)(source + '\\n//# sourceURL=' + mainScript) : load(url));
      data = { ...data, urlOrBlob: MAIN };
    }
    held = [];
  }
  deliver(data);
});
`;

let installedFiles: ThreadedBuildFiles | null = null;

/** How many emscripten pthread workers have really started (tests read it). */
let startedPthreadWorkers = 0;
export function pthreadWorkersStarted(): number {
  return startedPthreadWorkers;
}

type Message = { cmd?: string } & Record<string, unknown>;

/**
 * An emscripten pthread worker that starts its thread only when the module
 * first gives it a thread to run. emscripten creates a pool of 8 workers
 * when the module starts and loads the module into each (about 14 MB of
 * resident memory apiece), while XNNPACK's pool uses threads - 1 of them:
 * none when it runs on one thread. Until then this object answers the
 * 'load' command itself; its first other message starts the real worker,
 * which gets the held 'load' and, once it reports loaded, everything sent
 * in between, in order.
 */
class LazyPthreadWorker extends EventEmitter {
  private real: NodeWorker | null = null;
  private load: { message: Message; transfer?: readonly unknown[] } | null = null;
  private swallowLoaded = false;

  postMessage(message: Message, transfer?: readonly unknown[]): void {
    if (this.real === null && message?.cmd === 'load') {
      this.load = { message, transfer };
      setImmediate(() => this.emit('message', { cmd: 'loaded' }));
      return;
    }
    if (this.real === null) this.start();
    // Straight through: the caller may now block its thread (pthreadpool_create waits for its threads),
    // so nothing here may wait for this thread's event loop. The bootstrap holds commands until it has loaded.
    this.real!.postMessage(message, transfer as never);
  }

  private start(): void {
    if (!this.load) throw new Error('emscripten sent a pthread worker a command before loading it');
    startedPthreadWorkers++;
    const real = new NodeWorker(PTHREAD_BOOTSTRAP, { eval: true, workerData: { ...installedFiles } });
    this.real = real;
    this.swallowLoaded = true;
    real.on('message', (data: Message) => {
      // emscripten heard 'loaded' from us already.
      if (this.swallowLoaded && data?.cmd === 'loaded') { this.swallowLoaded = false; return; }
      this.emit('message', data);
    });
    real.on('error', (error) => this.emit('error', error));
    real.on('exit', (code) => this.emit('exit', code));
    real.unref();
    real.postMessage(this.load.message, this.load.transfer as never);
  }

  /**
   * emscripten refs a worker while it runs a pthread; XNNPACK's pool threads
   * run until the process ends, so that would keep every process alive after
   * its work is done. The pool's threads never hold a process open.
   */
  ref(): void {}

  unref(): void {
    this.real?.unref();
  }

  terminate(): Promise<number> {
    return this.real ? this.real.terminate() : Promise.resolve(0);
  }
}

/** Makes emscripten's `new Worker(blobUrl)` start our bootstrap, lazily (idempotent). */
function installWorkerShim(files: ThreadedBuildFiles): void {
  if (installedFiles) return;
  installedFiles = files;
  // A constructor (emscripten calls `new Worker(url)`) that returns a lazy worker for blob: URLs and a real one otherwise.
  function PthreadWorker(url: string | URL, options?: WorkerOptions): object {
    return String(url).startsWith('blob:') ? new LazyPthreadWorker() : new NodeWorker(url, options);
  }
  // emscripten's Node glue assigns worker_threads' Worker to the global when the module starts; keep ours.
  Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => PthreadWorker, set: () => {} });
}

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');
type CoreEnv = { set(flag: string, value: boolean): void };

/**
 * Prepares tfjs-backend-wasm to start its threaded build (for its shared
 * heap) with `xnnpackThreads` threads in XNNPACK's own pool
 * (1..MAX_WASM_THREADS). Call before the backend initialises, then call
 * the returned function once it has (it restores os.cpus). Throws
 * WasmThreadsUnavailableError when the build's files are missing.
 */
export function prepareThreadedWasm(wasm: WasmPackage, env: CoreEnv, xnnpackThreads: number): () => void {
  if (!Number.isInteger(xnnpackThreads) || xnnpackThreads < 1 || xnnpackThreads > MAX_WASM_THREADS) {
    throw new RangeError(`XNNPACK threads must be 1 to ${MAX_WASM_THREADS}, got ${xnnpackThreads}`);
  }
  if (typeof SharedArrayBuffer !== 'function') throw new WasmThreadsUnavailableError('SharedArrayBuffer is not available');
  installWorkerShim(threadedBuildFiles());
  env.set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(xnnpackThreads);
  const os = require('node:os') as { cpus: () => unknown[] };
  const cpus = os.cpus;
  // The module's constructor sizes its pool as min(requested, cpus().length / 2): report 2 x threads while it starts.
  os.cpus = () => Array.from({ length: 2 * xnnpackThreads }, () => ({ model: 'nasnet-threads', speed: 0, times: {} }));
  return () => { os.cpus = cpus; };
}
