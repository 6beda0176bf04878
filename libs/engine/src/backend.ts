/**
 * Chooses and starts the tfjs backend that trains our networks.
 *
 * `auto` takes the fastest one this process can run (DESIGN.md section 3):
 * `tensorflow` (tfjs-node-gpu, then tfjs-node, present only in images built
 * with them), then `webgpu` (Dawn through the `webgpu` package, when it finds
 * a GPU adapter), then `wasm` with our training kernels. `cpu` is the
 * numerical reference and is never picked by `auto`: it trains convolutions
 * about 2000x slower than PyTorch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registerTrainingGradients, registerWasmTrainingKernels } from './kernels/register.js';
import { setKernelThreadPool } from './kernels/parallel.js';
import { isSharedMemory, simdModuleFor, simdPrograms } from './kernels/simd/programs.js';
import { ProgramPool } from './kernels/simd/thread-pool.js';
import { programsFor, wasmMemoryOf } from './kernels/wasm-heap.js';
import { guardWasmHeap } from './wasm-memory.js';
import { MAX_WASM_THREADS, prepareThreadedWasm } from './wasm-threads.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const BACKEND_NAMES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The backend that ended up active and why it was chosen. */
export interface BackendChoice {
  backend: Exclude<BackendName, 'auto'>;
  reason: string;
}

export interface InitBackendOptions {
  /**
   * Receives the one line that reports the choice.
   * @default console.error
   */
  log?: (line: string) => void;
  /**
   * On wasm: the most the heap may grow to. A tensor that does not fit fails
   * its op with WasmOutOfMemoryError, and the backend stays usable. Set it
   * under a container's memory limit so the kernel's OOM killer never has
   * to. Clamped to (and by default) DEFAULT_WASM_HEAP_LIMIT_BYTES.
   */
  wasmHeapLimitBytes?: number;
  /**
   * On wasm: threads one training step runs on (XNNPACK's pool and our SIMD
   * kernels' threads, the calling thread included), 1 to 8. Fixed when the
   * wasm backend first starts in a process. A child trains to the same
   * weights on any count (kernels/parallel.ts).
   * @default the cores this process may use (os.availableParallelism()), at most 8
   */
  threads?: number;
  /**
   * On wasm: threads in XNNPACK's own pool (tfjs's ops: matrix products,
   * elementwise arithmetic), 1 to 8. One by default: that pool hands each
   * thread a fixed share and waits for the slowest, so a thread the OS has
   * not scheduled stalls every op, and most of tfjs's ops in a training
   * step are too small to split; our kernels (most of the step's time) take
   * their threads from `threads`, which never wait for a late thread.
   * @default 1
   */
  xnnpackThreads?: number;
}

/** The default thread count: the cores this process may use, at most MAX_WASM_THREADS. */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, availableParallelism()));
}

/** The backend name is not one we know. */
export class UnknownBackendError extends Error {
  constructor(name: string, source: string) {
    super(`unknown backend '${name}' (from ${source}); expected one of ${BACKEND_NAMES.join(', ')}`);
    this.name = 'UnknownBackendError';
  }
}

/** The named backend cannot run in this process. */
export class BackendUnavailableError extends Error {
  constructor(name: string, reason: string, options?: { cause?: unknown }) {
    super(`backend '${name}' is not available: ${reason}`, options);
    this.name = 'BackendUnavailableError';
  }
}

/** tfjs-core's gradient definitions could not be loaded. */
export class GradientRegistrationError extends Error {
  constructor(module: string, options?: { cause?: unknown }) {
    super(`cannot register tfjs gradients from '${module}' (it loads through tsx's CommonJS hook; ` +
      `run node with --import tsx)`, options);
    this.name = 'GradientRegistrationError';
  }
}

const require = createRequire(import.meta.url);
const GRADIENTS_MODULE = '@tensorflow/tfjs-core/dist/register_all_gradients.js';
let gradientsReady = false;

/**
 * tfjs-core's Node bundle ships no gradients; its ESM tree registers them
 * into the same global registry. A static ESM import of that tree fails in
 * Node (it imports the directory './gradients'), while tsx's CommonJS hook
 * loads it. Our dilation-capable conv gradients go on top.
 */
function ensureGradients(): void {
  if (gradientsReady) return;
  try {
    // A bundle (scripts/gpu-bench.sh) imports the gradient tree statically at its entry.
    if (tf.getGradient('Conv2D') === undefined) require(GRADIENTS_MODULE);
  } catch (cause) {
    throw new GradientRegistrationError(GRADIENTS_MODULE, { cause });
  }
  registerTrainingGradients();
  gradientsReady = true;
}

type Attempt = { ok: true; reason: string } | { ok: false; reason: string; cause?: unknown };

function importFailure(pkg: string, error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return `${pkg} not installed`;
  return `${pkg} failed to load: ${String((error as Error)?.message ?? error).split('\n')[0]}`;
}

async function tryTensorflow(): Promise<Attempt> {
  const failures: string[] = [];
  let cause: unknown;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
    } catch (error) {
      failures.push(importFailure(pkg, error));
      cause ??= error;
      continue;
    }
    if (await tf.setBackend('tensorflow')) return { ok: true, reason: `${pkg} (libtensorflow)` };
    failures.push(`${pkg} loaded but the 'tensorflow' backend did not initialise`);
  }
  return { ok: false, reason: failures.join(', '), cause };
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
}

/** What a probe process found: an adapter, none (with Dawn's first complaint), or a failure. */
type AdapterProbe = { adapter: true } | { adapter: false; detail: string } | { failed: string } | { bundled: true };

/**
 * Runs in a throwaway process: creates a Dawn instance, asks for an adapter
 * and prints one JSON line. Dawn's native code writes its adapter discovery
 * failures ("Warning: Couldn't load Vulkan: libvulkan.so.1 ..." and a source
 * location) straight to fd 2, which a Node process cannot redirect around an
 * addon call; the probe's stderr is captured here instead of reaching ours.
 */
const PROBE_SCRIPT = `
const { create } = await import(process.argv[1]);
const adapter = await create([]).requestAdapter();
process.stdout.write(JSON.stringify({ adapter: adapter != null }) + '\\n');
process.exit(0);
`;

/** How long the probe may take (loading Dawn and enumerating adapters takes well under a second here). */
const PROBE_TIMEOUT_MS = 30_000;

function probeAdapter(): Promise<AdapterProbe> {
  let entry: string;
  try {
    entry = pathToFileURL(require.resolve('webgpu')).href;
  } catch {
    // Bundled into one file (scripts/gpu-bench.sh): Dawn is inside the bundle and has no package to probe
    // from a second process; the attempt loads it here instead.
    return Promise.resolve({ bundled: true });
  }
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, entry], { timeout: PROBE_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      // Dawn's complaint without its stack line, e.g. "Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file".
      const complaint = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('at '))?.replace(/^Warning:\s*/, '');
      const line = stdout.trim().split('\n').pop() ?? '';
      if (!error && line.startsWith('{')) {
        const found = (JSON.parse(line) as { adapter: boolean }).adapter;
        resolve(found ? { adapter: true } : { adapter: false, detail: complaint ?? '' });
        return;
      }
      const why = (error as { killed?: boolean } | null)?.killed ? `timed out after ${PROBE_TIMEOUT_MS} ms` : `exited with ${error?.code ?? 'no answer'}`;
      resolve({ failed: `the adapter probe ${why}${complaint ? ` (${complaint})` : ''}` });
    });
  });
}

async function tryWebgpu(): Promise<Attempt> {
  // Probe in a child process first: with no GPU, Dawn's stderr noise stays there and this process never loads it.
  const probe = await probeAdapter();
  if ('failed' in probe) return { ok: false, reason: probe.failed };
  if ('adapter' in probe && !probe.adapter) {
    return { ok: false, reason: `Dawn found no GPU adapter${probe.detail ? ` (${probe.detail})` : ''}` };
  }
  let gpu: GpuLike;
  try {
    const spec = 'webgpu';
    const { create } = (await import(spec)) as { create(options: string[]): GpuLike };
    gpu = create([]);
  } catch (error) {
    return { ok: false, reason: importFailure('webgpu (Dawn)', error), cause: error };
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { ok: false, reason: 'Dawn found no GPU adapter (navigator.gpu.requestAdapter() returned null)' };
  // tfjs-backend-webgpu reads navigator.gpu when it is imported.
  const g = globalThis as { navigator?: object };
  Object.defineProperty(globalThis, 'navigator', {
    value: { ...(g.navigator ?? {}), gpu }, configurable: true, writable: true,
  });
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    return { ok: false, reason: importFailure('@tensorflow/tfjs-backend-webgpu', error), cause: error };
  }
  if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: 'the webgpu backend did not initialise on the adapter' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return { ok: true, reason: `GPU adapter: ${name}` };
}

async function tryWasm(options: InitBackendOptions): Promise<Attempt> {
  const wanted = options.threads ?? defaultWasmThreads();
  const xnnpack = options.xnnpackThreads ?? 1;
  for (const [name, value] of [['threads', wanted], ['xnnpackThreads', xnnpack]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_WASM_THREADS) {
      throw new RangeError(`wasm ${name} must be an integer from 1 to ${MAX_WASM_THREADS}, got ${value}`);
    }
  }
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (error) {
    return { ok: false, reason: importFailure('@tensorflow/tfjs-backend-wasm', error), cause: error };
  }
  if (tf.findBackend('wasm') == null) {
    // Point the loader at the package's own .wasm files, wherever bundling put the JS.
    let dir: string;
    try {
      dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    } catch {
      // Bundled into one file: the bundler (../shared/device/bundle.sh) puts the .wasm files beside it.
      dir = dirname(fileURLToPath(import.meta.url));
    }
    wasm.setWasmPaths(`${dir}/`);
  }
  let restore: (() => void) | undefined;
  let threadNote = '';
  if ((wanted > 1 || xnnpack > 1) && tf.findBackend('wasm') == null) {
    try {
      // The threaded build, for its shared heap (our kernel threads need it) and XNNPACK's pool.
      restore = prepareThreadedWasm(wasm, tf.env(), xnnpack);
    } catch (error) {
      threadNote = `; one thread: ${(error as Error).message}`;
    }
  }
  const kernels = registerWasmTrainingKernels();
  let started: boolean;
  try {
    started = await tf.setBackend('wasm');
  } finally {
    restore?.();
  }
  if (!started) return { ok: false, reason: 'the wasm backend did not initialise' };
  const backend = tf.backend() as BackendWasm;
  try {
    programsFor(backend);
  } catch (error) {
    return { ok: false, reason: `our SIMD training kernels cannot run here: ${(error as Error).message}`, cause: error };
  }
  const xnnThreads = wasm.getThreadsCount();
  let kernelThreads = 1;
  const memory = wasmMemoryOf(backend);
  if (wanted > 1 && isSharedMemory(memory)) {
    try {
      const pool = await ProgramPool.start(simdModuleFor(memory), memory, wanted - 1, simdPrograms(memory));
      setKernelThreadPool(memory, pool);
      kernelThreads = pool.threads;
    } catch (error) {
      threadNote += `; our kernels on one thread: ${(error as Error).message}`;
    }
  }
  return { ok: true, reason: `XNNPACK on ${xnnThreads} thread(s), ${kernels.length} training kernels on ${kernelThreads}${threadNote}` };
}

async function tryCpu(): Promise<Attempt> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'the cpu backend did not initialise' };
  return { ok: true, reason: 'pure-JS reference backend (slow; for checking numbers)' };
}

const ATTEMPTS: Record<Exclude<BackendName, 'auto'>, (options: InitBackendOptions) => Promise<Attempt>> = {
  tensorflow: tryTensorflow, webgpu: tryWebgpu, wasm: tryWasm, cpu: tryCpu,
};

async function start(name: BackendName, options: InitBackendOptions): Promise<BackendChoice> {
  ensureGradients();
  if (name !== 'auto') {
    const attempt = await ATTEMPTS[name](options);
    if (!attempt.ok) throw new BackendUnavailableError(name, attempt.reason, { cause: attempt.cause });
    return { backend: name, reason: `requested; ${attempt.reason}` };
  }
  const skipped: string[] = [];
  for (const candidate of ['tensorflow', 'webgpu', 'wasm'] as const) {
    const attempt = await ATTEMPTS[candidate](options);
    if (attempt.ok) {
      return { backend: candidate, reason: [...skipped, `${candidate}: ${attempt.reason}`].join('; ') };
    }
    skipped.push(`${candidate} skipped: ${attempt.reason}`);
  }
  throw new BackendUnavailableError('auto', skipped.join('; '));
}

const started = new Map<BackendName, Promise<BackendChoice>>();

function checkName(name: string, source: string): BackendName {
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) throw new UnknownBackendError(name, source);
  return name as BackendName;
}

/**
 * Starts a backend, registers gradients (and on wasm our training kernels),
 * makes it tfjs's active backend and reports the choice in one log line.
 * Idempotent: a second call with the same name re-activates the same
 * backend without probing or logging again. The name comes from the
 * caller (a service reads NAS_BACKEND at its edge); undefined means auto.
 */
export async function initBackend(
  name: BackendName = 'auto',
  options: InitBackendOptions = {},
): Promise<BackendChoice> {
  const checked = checkName(name, 'initBackend argument');
  let pending = started.get(checked);
  if (pending) {
    const choice = await pending;
    if (tf.getBackend() !== choice.backend) await tf.setBackend(choice.backend);
    if (choice.backend === 'wasm') guardWasmHeap(tf.backend() as BackendWasm, options.wasmHeapLimitBytes);
    return choice;
  }
  pending = start(checked, options);
  started.set(checked, pending);
  try {
    const choice = await pending;
    if (choice.backend === 'wasm') guardWasmHeap(tf.backend() as BackendWasm, options.wasmHeapLimitBytes);
    (options.log ?? ((line: string) => console.error(line)))(`[engine] tfjs backend: ${choice.backend} (${choice.reason})`);
    return choice;
  } catch (error) {
    started.delete(checked);
    throw error;
  }
}
