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
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registerTrainingGradients, registerWasmTrainingKernels } from './kernels/register.js';
import { programsFor } from './kernels/wasm-heap.js';
import { guardWasmHeap } from './wasm-memory.js';
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

async function tryWasm(): Promise<Attempt> {
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
  const kernels = registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'the wasm backend did not initialise' };
  try {
    programsFor(tf.backend() as BackendWasm);
  } catch (error) {
    return { ok: false, reason: `our SIMD training kernels cannot run here: ${(error as Error).message}`, cause: error };
  }
  return { ok: true, reason: `XNNPACK, ${wasm.getThreadsCount()} thread(s), ${kernels.length} training kernels` };
}

async function tryCpu(): Promise<Attempt> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'the cpu backend did not initialise' };
  return { ok: true, reason: 'pure-JS reference backend (slow; for checking numbers)' };
}

const ATTEMPTS: Record<Exclude<BackendName, 'auto'>, () => Promise<Attempt>> = {
  tensorflow: tryTensorflow, webgpu: tryWebgpu, wasm: tryWasm, cpu: tryCpu,
};

async function start(name: BackendName): Promise<BackendChoice> {
  ensureGradients();
  if (name !== 'auto') {
    const attempt = await ATTEMPTS[name]();
    if (!attempt.ok) throw new BackendUnavailableError(name, attempt.reason, { cause: attempt.cause });
    return { backend: name, reason: `requested; ${attempt.reason}` };
  }
  const skipped: string[] = [];
  for (const candidate of ['tensorflow', 'webgpu', 'wasm'] as const) {
    const attempt = await ATTEMPTS[candidate]();
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
  pending = start(checked);
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
