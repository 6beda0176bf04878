/**
 * `npm run bench`: training throughput of the search-time NASNet child on
 * each tfjs backend this machine can start, next to the same network in
 * PyTorch on the CPU.
 *
 *   npm run bench                                  # wasm (+ webgpu, tensorflow when they start) and PyTorch
 *   npm run bench -- --steps 10 --warmup 2 --json  # shorter; last line is one JSON object
 *   npm run bench -- --backends wasm,cpu --filters 8
 *
 * The child is NASNET_A in the CIFAR layout with N = 2 normal cells per stack
 * (paper section 4: children are searched with N = 2), 32x32x3 images, 10
 * classes, batch 32 and F0 = 16 initial filters (`--filters`): F0 = 16 is
 * defaultRecipe()'s value, what every search trains; `--filters 32` is the
 * final CIFAR model's width, and `--cells 6 --filters 32` the final model
 * itself (3.3M parameters). `--checkpoint` trains with cell checkpointing.
 *
 * Memory: each side reports the peak resident memory of its training
 * process (getrusage maxrss, read by each process itself), and the JSON
 * holds peakRssBytes, referencePeakRssBytes and memoryRatio. The trainer's
 * step frees activations and gradients as soon as they are used
 * (@nasnet/engine applyReleasing and variableGradsReleasing); before that,
 * tfjs kept every activation and every intermediate gradient of a step
 * until the step ended (1.94 GB at F0 = 16) and the final model did not fit
 * the 4 GiB address space of wasm32.
 *
 * Each backend trains in its own process through the product's own code
 * path: trainChild (@nasnet/trainer) on a seeded synthetic 32x32x3 data set
 * (@nasnet/data), timing the steps after the warm-up steps from the
 * trainer's per-step progress reports. So the figure includes batching,
 * the loss read-back every step and the momentum update, as a search sees
 * them. PyTorch trains the network of the same plan (planNetwork, drop path
 * off), built by torch_reference.py, with the same optimizer, batch and
 * steps; it runs once with all the cores this process may use (the anchor)
 * and once with 1 thread, for information. The wasm backend trains on
 * `--threads` threads (default: the same cores; initBackend `threads`),
 * `--threads 1` times it on one.
 *
 * Throughput is wall time: other processes on the machine slow both sides,
 * so the bench prints the load average it started under.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { syntheticDataset } from '@nasnet/data';
import { buildNetwork, planNetwork } from '@nasnet/network';
import { Rng, deriveSeed } from '@nasnet/random';
import { defaultRecipe, type ChildRecipe } from '@nasnet/search';
import { NASNET_A } from '@nasnet/search-space';
import { trainChild } from '@nasnet/trainer';
import { BACKEND_NAMES, defaultWasmThreads, initBackend, type BackendName } from '../src/index.js';

type Backend = Exclude<BackendName, 'auto'>;

interface BenchOptions {
  /** Timed steps per backend. @default 20 */
  steps: number;
  /** Untimed steps first (V8 and wasm tier-up, heap growth). @default 3 */
  warmup: number;
  /** F0. @default 16 */
  filters: number;
  /** @default 32 */
  batch: number;
  /** N, normal cells per stack. @default 2 (the search child) */
  cells: number;
  /** Train with cell checkpointing (trainChild checkpointCells). @default false */
  checkpoint: boolean;
  /** @default ['wasm', 'webgpu', 'tensorflow'] */
  backends: Backend[];
  /** Print one JSON object as the last line. @default false */
  json: boolean;
  /** @default 1 */
  seed: number;
  /** Python with torch. @default '/usr/bin/python3' (Debian's python3-torch) */
  python: string;
  /** Where PyTorch trains the reference: 'cpu' (the anchor of the CPU targets) or 'cuda' (the GPU run's anchor). @default 'cpu' */
  torchDevice: 'cpu' | 'cuda';
  /** Threads of the wasm backend. @default defaultWasmThreads() (the cores this process may use, at most 8) */
  threads: number;
  /** Threads of XNNPACK's own pool on wasm. @default 1 (initBackend's default) */
  xnnpackThreads: number;
  /**
   * Rounds of (our backends, then PyTorch on all threads), each pair timed
   * minutes apart at most; the ratio is the median of the rounds' ratios.
   * On a shared host whose speed drifts by tens of percent within minutes,
   * pairs measured close together compare fairly where one long run each
   * does not. @default 1
   */
  rounds: number;
}

/** A command-line option with a bad value. */
class BenchOptionError extends Error {
  constructor(option: string, value: string, expected: string) {
    super(`bench option ${option}: '${value}' is not ${expected}`);
    this.name = 'BenchOptionError';
  }
}

/** The cpu backend trains ~1000x slower than wasm: one step is all it gets. */
const CPU_STEPS = 1;
const DEFAULT_BACKENDS: Backend[] = ['wasm', 'webgpu', 'tensorflow'];
const THIS_FILE = fileURLToPath(import.meta.url);
const TORCH_SCRIPT = join(fileURLToPath(new URL('.', import.meta.url)), 'torch_reference.py');
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function parseOptions(argv: string[]): BenchOptions & { worker?: Backend } {
  const o: BenchOptions & { worker?: Backend } = {
    steps: 20, warmup: 3, filters: 16, batch: 32, cells: 2, checkpoint: false, backends: DEFAULT_BACKENDS, json: false, seed: 1, python: '/usr/bin/python3', torchDevice: 'cpu',
    threads: defaultWasmThreads(), xnnpackThreads: 1, rounds: 1,
  };
  const int = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < min) throw new BenchOptionError(name, String(value), `an integer >= ${min}`);
    return n;
  };
  const backend = (name: string, value: string): Backend => {
    if (!(BACKEND_NAMES as readonly string[]).includes(value) || value === 'auto') {
      throw new BenchOptionError(name, value, `one of ${BACKEND_NAMES.filter((b) => b !== 'auto').join(', ')}`);
    }
    return value as Backend;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = (): string | undefined => argv[++i];
    switch (arg) {
      case '--steps': o.steps = int(arg, next(), 1); break;
      case '--warmup': o.warmup = int(arg, next(), 1); break;
      case '--filters': o.filters = int(arg, next(), 2); break;
      case '--batch': o.batch = int(arg, next(), 1); break;
      case '--cells': o.cells = int(arg, next(), 1); break;
      case '--seed': o.seed = int(arg, next(), 0); break;
      case '--threads': o.threads = int(arg, next(), 1); break;
      case '--xnnpack-threads': o.xnnpackThreads = int(arg, next(), 1); break;
      case '--rounds': o.rounds = int(arg, next(), 1); break;
      case '--backends': o.backends = (next() ?? '').split(',').filter(Boolean).map((b) => backend(arg, b)); break;
      case '--python': o.python = next() ?? o.python; break;
      case '--torch-device': {
        const d = next();
        if (d !== 'cpu' && d !== 'cuda') throw new BenchOptionError(arg, d ?? '', "'cpu' or 'cuda'");
        o.torchDevice = d;
        break;
      }
      case '--json': o.json = true; break;
      case '--checkpoint': o.checkpoint = true; break;
      case '--worker': o.worker = backend(arg, next() ?? ''); break;
      case '--help':
        console.log('usage: npm run bench -- [--steps N] [--warmup N] [--filters F] [--batch B] [--cells N] [--checkpoint] [--backends wasm,webgpu,tensorflow,cpu] [--seed S] [--threads N] [--xnnpack-threads N] [--rounds R] [--python PATH] [--torch-device cpu|cuda] [--json]');
        process.exit(0);
      default: throw new BenchOptionError('(argument)', arg, 'a known option (see --help)');
    }
  }
  if (o.backends.length === 0) throw new BenchOptionError('--backends', '', 'a non-empty list');
  return o;
}

function recipeFor(o: BenchOptions, steps: number): ChildRecipe {
  // One epoch of exactly warmup + steps steps; drop path off and no aux head, as in the search.
  return { ...defaultRecipe(), epochs: 1, batchSize: o.batch, initialFilters: o.filters, cells: o.cells, maxStepsPerEpoch: o.warmup + steps, validationLimit: o.batch };
}

/** What one backend's worker process reports. */
interface BackendResult {
  backend: Backend;
  available: boolean;
  /** Why it is unavailable or failed, or how it was started. */
  reason: string;
  failed?: boolean;
  imagesPerSec?: number;
  msPerStep?: number;
  medianMsPerStep?: number;
  steps?: number;
  paramCount?: number;
  /** Peak resident memory of the worker process (getrusage maxrss), the whole run. */
  peakRssBytes?: number;
  /** Size of the wasm heap at the end (it only grows), wasm only. */
  wasmHeapBytes?: number;
}

/** Peak resident memory of this process: getrusage's maxrss (KiB on Linux), as torch_reference.py reads its own. */
function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function wasmHeapBytes(): number | undefined {
  const module = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return module?.HEAPU8?.buffer.byteLength;
}

/** Worker: start one backend and train the child with trainChild, timing the steps after warm-up. */
async function worker(backend: Backend, o: BenchOptions): Promise<BackendResult> {
  let reason: string;
  try {
    reason = (await initBackend(backend, { log: () => {}, threads: o.threads, xnnpackThreads: o.xnnpackThreads })).reason;
  } catch (error) {
    return { backend, available: false, reason: (error as Error).message.replace(/^backend '\w+' is not available: /, '') };
  }
  const steps = backend === 'cpu' ? Math.min(o.steps, CPU_STEPS) : o.steps;
  const recipe = recipeFor(o, steps);
  const dataset = syntheticDataset({
    seed: o.seed, height: 32, width: 32, channels: 3, numClasses: 10, trainCount: o.batch * (o.warmup + steps), validationCount: o.batch,
  });
  // Time at the end of each step: the trainer reports every step when asked to.
  const ends: number[] = [];
  const result = await trainChild({
    genotype: NASNET_A, recipe, dataset, seed: o.seed, progressEverySteps: 1, augment: false, checkpointCells: o.checkpoint,
    onProgress: (p) => { if (p.validationAccuracy === undefined) ends.push(performance.now()); },
  });
  if (result.status !== 'ok' || ends.length !== o.warmup + steps) {
    return {
      backend, available: true, failed: true, reason: `training ended ${result.status} after ${ends.length} steps: ${result.reason ?? ''}`,
      peakRssBytes: peakRssBytes(), wasmHeapBytes: wasmHeapBytes(),
    };
  }
  const timed = ends.slice(o.warmup - 1);
  const stepMs = timed.slice(1).map((t, i) => t - (timed[i] as number));
  const totalMs = (timed[timed.length - 1] as number) - (timed[0] as number);
  const sorted = [...stepMs].sort((a, b) => a - b);
  return {
    backend, available: true, reason, steps,
    imagesPerSec: (steps * o.batch) / (totalMs / 1000),
    msPerStep: totalMs / steps,
    medianMsPerStep: sorted[Math.floor(sorted.length / 2)] as number,
    paramCount: result.paramCount,
    peakRssBytes: peakRssBytes(),
    wasmHeapBytes: wasmHeapBytes(),
  };
}

/** Runs one backend in a fresh process (its own wasm heap; a crash there is a result here). */
function runWorker(backend: Backend, argv: string[]): Promise<BackendResult> {
  return new Promise((resolve) => {
    // Bundled (scripts/gpu-bench.sh: one .mjs file, no tsx on the GPU machine) the file runs as it is.
    const entry = THIS_FILE.endsWith('.mjs') ? [THIS_FILE] : ['--import', 'tsx', THIS_FILE];
    const child = spawn(process.execPath, [...entry, ...argv, '--worker', backend], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as BackendResult);
      } catch {
        // Keep the error's first line (tfjs-backend-wasm's minified glue can fill one line with 40 kB).
        const lines = err.split('\n').filter((l) => l.trim() && l.length < 400);
        const why = lines.find((l) => /Error|Abort/.test(l)) ?? lines.pop() ?? `exit ${code ?? signal}`;
        // A step that needs more than wasm32's 4 GiB (F0 = 32 at batch 32) aborts inside the wasm glue.
        const hint = backend === 'wasm' && /Abort|out of bounds|memory/i.test(why)
          ? ' (a training step needs more than the 4 GiB a wasm32 heap can hold: lower --filters or --batch)' : '';
        resolve({ backend, available: true, failed: true, reason: `worker process died (${code ?? signal}): ${why.trim()}${hint}` });
      }
    });
  });
}

/** Images in the batch whose logits PyTorch must reproduce. */
const VERIFY_BATCH = 4;

/**
 * Our network's weights (by layer name, tfjs layouts), a seeded input batch
 * and the logits our model computes for it in training mode (batch
 * statistics), on wasm: torch_reference.py loads the weights and must
 * compute the same logits, which shows the two time the same network.
 */
async function verificationCase(o: BenchOptions): Promise<object | string> {
  try {
    await initBackend('wasm', { log: () => {}, threads: o.threads, xnnpackThreads: o.xnnpackThreads });
  } catch (error) {
    return `no wasm backend to compute our logits with: ${(error as Error).message}`;
  }
  const { model } = buildNetwork(NASNET_A, {
    layout: 'cifar', cells: o.cells, initialFilters: o.filters, imageSize: 32, channels: 3, numClasses: 10, seed: o.seed,
  });
  try {
    const rng = new Rng(deriveSeed(o.seed, 'bench', 'verify'));
    const input = Float32Array.from({ length: VERIFY_BATCH * 32 * 32 * 3 }, () => rng.normal());
    const logits = tf.tidy(() => model.apply(tf.tensor4d(input, [VERIFY_BATCH, 32, 32, 3]), { training: true }) as tf.Tensor);
    const weights: Record<string, Array<{ shape: number[]; values: number[] }>> = {};
    for (const layer of model.layers) {
      const ws = layer.getWeights();
      if (ws.length > 0) weights[layer.name] = ws.map((w) => ({ shape: w.shape, values: Array.from(w.dataSync()) }));
    }
    const result = {
      weights,
      input: { shape: [VERIFY_BATCH, 32, 32, 3], values: Array.from(input) },
      logits: { shape: logits.shape, values: Array.from(await logits.data()) },
    };
    logits.dispose();
    return result;
  } finally {
    model.dispose();
  }
}

interface TorchRun { threads: number; imagesPerSec: number; msPerStep: number }
interface TorchCheck { maxAbsDiff: number; maxAbsLogit: number; ok: boolean }
interface TorchResult {
  available: boolean; reason: string; torch?: string; defaultThreads?: number; paramCount?: number;
  verify?: TorchCheck | null; verifySkipped?: string; runs?: TorchRun[]; peakRssBytes?: number;
}

function torchImportable(python: string): boolean {
  return spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** PyTorch present, or installed now when we may (root), else how to install it. */
function ensureTorch(python: string, log: (line: string) => void): string | null {
  if (torchImportable(python)) return null;
  const how = 'install Debian\'s python3-torch: sudo WITH_TORCH=1 bash scripts/setup-system.sh (or apt-get install python3-torch)';
  if (python !== '/usr/bin/python3') return `${python} cannot import torch; ${how}, or pass --python with one that can`;
  if (process.getuid?.() !== 0) return `${python} cannot import torch and we are not root; ${how}`;
  log('PyTorch missing: installing python3-torch (WITH_TORCH=1 scripts/setup-system.sh) ...');
  const setup = spawnSync('bash', ['scripts/setup-system.sh'], { cwd: ROOT, env: { ...process.env, WITH_TORCH: '1' }, encoding: 'utf8' });
  if (setup.status !== 0 || !torchImportable(python)) {
    return `installing python3-torch failed (${(setup.stderr || setup.stdout || '').trim().split('\n').pop() ?? setup.status}); ${how}`;
  }
  return null;
}

/**
 * Trains the same network with PyTorch: on every CPU thread (the anchor) and,
 * with `oneThread`, on one as well; with `verify` it first checks that
 * PyTorch computes our logits from our weights.
 */
async function runTorch(o: BenchOptions, log: (line: string) => void, { oneThread, verify }: { oneThread: boolean; verify: boolean }): Promise<TorchResult> {
  const missing = ensureTorch(o.python, log);
  if (missing) return { available: false, reason: missing };
  const plan = planNetwork(NASNET_A, { layout: 'cifar', cells: o.cells, initialFilters: o.filters, imageSize: 32, channels: 3, numClasses: 10 });
  const recipe = recipeFor(o, o.steps);
  const dir = await mkdtemp(join(tmpdir(), 'nasnet-bench-'));
  try {
    const planFile = join(dir, 'plan.json');
    await writeFile(planFile, JSON.stringify(plan));
    const check = verify ? await verificationCase(o) : 'checked in the first round';
    const verifyArgs: string[] = [];
    if (typeof check !== 'string') {
      await writeFile(join(dir, 'verify.json'), JSON.stringify(check));
      verifyArgs.push('--verify', join(dir, 'verify.json'));
    }
    const threads = availableParallelism();
    const args = [
      TORCH_SCRIPT, '--plan', planFile, '--steps', String(o.steps), '--warmup', String(o.warmup), '--batch', String(o.batch),
      '--seed', String(o.seed), '--threads', threads > 1 && o.torchDevice === 'cpu' ? (oneThread ? `${threads},1` : String(threads)) : '1', ...verifyArgs,
      '--device', o.torchDevice,
      '--recipe', JSON.stringify({ learningRate: recipe.learningRate, momentum: recipe.momentum, weightDecay: recipe.weightDecay, gradientClipNorm: recipe.gradientClipNorm }),
    ];
    const r = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    try {
      const parsed = JSON.parse(last) as Omit<TorchResult, 'available' | 'reason'>;
      return { available: true, reason: 'ok', ...parsed, ...(typeof check === 'string' ? { verifySkipped: check } : {}) };
    } catch {
      return { available: false, reason: `torch_reference.py failed (${r.status}): ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}` };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The fastest backend that timed its steps, if any. */
function fastest(results: readonly BackendResult[]): BackendResult | undefined {
  return results.filter((r) => r.imagesPerSec !== undefined)
    .reduce<BackendResult | undefined>((b, r) => (!b || (r.imagesPerSec as number) > (b.imagesPerSec as number) ? r : b), undefined);
}

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : x.toFixed(digits));
const gb = (bytes: number | undefined): string => (bytes === undefined ? '-' : `${(bytes / 1e9).toFixed(2)} GB`);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (o.worker) {
    console.log(JSON.stringify(await worker(o.worker, o)));
    return;
  }
  const log = (line: string) => console.log(line);
  const workerArgv = argv.filter((a) => a !== '--json');
  const plan = planNetwork(NASNET_A, { layout: 'cifar', cells: o.cells, initialFilters: o.filters, imageSize: 32, channels: 3, numClasses: 10 });
  const load = loadavg()[0] as number;
  log(`NASNet-A ${o.cells === 2 ? 'search child' : 'network'}: CIFAR layout, N=${o.cells}, F0=${o.filters}, 32x32x3, 10 classes, batch ${o.batch}; ` +
    `${plan.paramCount.toLocaleString('en-US')} parameters, ${(plan.multAdds / 1e6).toFixed(1)}M mult-adds per image`);
  log(`timing ${o.steps} steps after ${o.warmup} warm-up steps; ${availableParallelism()} CPUs, load average ${load.toFixed(2)} at start` +
    (load > 0.5 ? ' (other processes are running: expect noisy figures)' : ''));

  const order = [...o.backends];
  if (!order.includes('cpu')) log('cpu        skipped: the pure-JS reference backend trains ~1000x slower (time it with --backends cpu: 1 step)');
  const rounds: Array<{ results: BackendResult[]; torch: TorchResult }> = [];
  for (let round = 1; round <= o.rounds; round++) {
    if (o.rounds > 1) log(`round ${round} of ${o.rounds}`);
    const results: BackendResult[] = [];
    for (const backend of order) {
      // A backend that is not there, or failed, is not tried again.
      const before = rounds[0]?.results.find((r) => r.backend === backend);
      if (before && (!before.available || before.failed)) continue;
      const r = await runWorker(backend, workerArgv);
      results.push(r);
      const name = backend.padEnd(10);
      if (!r.available) log(`${name} unavailable: ${r.reason}`);
      else if (r.failed) log(`${name} FAILED: ${r.reason}${r.peakRssBytes ? ` (peak RSS ${gb(r.peakRssBytes)})` : ''}`);
      else log(`${name} ${fmt(r.imagesPerSec).padStart(7)} images/s  (${fmt(r.msPerStep, 0)} ms/step, median ${fmt(r.medianMsPerStep, 0)}; ${r.steps} steps; peak RSS ${gb(r.peakRssBytes)}, wasm heap ${gb(r.wasmHeapBytes)})  ${r.reason}`);
    }
    const torch = await runTorch(o, log, { oneThread: round === 1, verify: round === 1 });
    if (torch.available && o.rounds > 1) {
      const anchorRun = torch.runs?.[0];
      const oursNow = fastest(results);
      if (anchorRun) {
        log(`PyTorch    ${fmt(anchorRun.imagesPerSec).padStart(7)} images/s  (${fmt(anchorRun.msPerStep, 0)} ms/step; ${anchorRun.threads} threads)` +
          (oursNow ? `; this round's ratio ${fmt((oursNow.imagesPerSec as number) / anchorRun.imagesPerSec, 2)}` : ''));
      }
    }
    rounds.push({ results, torch });
  }
  // The round whose best backend against its own anchor gives the median ratio stands for the run.
  const roundRatios = rounds.map(({ results: rs, torch: t }) => {
    const b = fastest(rs), a = t.runs?.[0];
    return b && a ? (b.imagesPerSec as number) / a.imagesPerSec : undefined;
  });
  const ranked = rounds.map((_, i) => i).filter((i) => roundRatios[i] !== undefined).sort((i, j) => roundRatios[i]! - roundRatios[j]!);
  const medianRound = ranked.length > 0 ? ranked[Math.floor((ranked.length - 1) / 2)]! : 0;
  const results = rounds[medianRound]!.results.length > 0 ? rounds[medianRound]!.results : rounds[0]!.results;
  // The first round ran the 1-thread reference and the logits check.
  const torch: TorchResult = { ...rounds[0]!.torch, runs: rounds[medianRound]!.torch.runs ?? rounds[0]!.torch.runs };
  const first = rounds[0]!.torch;
  const anchor = torch.runs?.[0];
  const oneThread = first.runs?.find((r) => r.threads === 1);
  if (o.rounds > 1 && ranked.length > 0) {
    log(`rounds: ratios ${roundRatios.map((r) => fmt(r, 2)).join(', ')}; round ${medianRound + 1} (the median) is reported below`);
  }
  if (!torch.available) log(`PyTorch    unavailable: ${torch.reason}`);
  else {
    for (const run of [...(torch.runs ?? []), ...(oneThread && !torch.runs?.includes(oneThread) ? [oneThread] : [])]) {
      log(`PyTorch    ${fmt(run.imagesPerSec).padStart(7)} images/s  (${fmt(run.msPerStep, 0)} ms/step; torch ${torch.torch}, ${o.torchDevice === 'cuda' ? 'CUDA' : 'CPU'}, ${run.threads} thread${run.threads > 1 ? 's' : ''}` +
        `${run === anchor ? ', the anchor' : ', for information'})`);
    }
    if (anchor && oneThread && anchor !== oneThread && anchor.imagesPerSec < oneThread.imagesPerSec) {
      log(`WARNING: PyTorch ran slower on ${anchor.threads} threads than on 1: other processes hold the CPUs ` +
        '(its worker threads wait for each other), so the anchor and the ratio below understate PyTorch; rerun on an idle machine');
    }
    if (torch.defaultThreads !== anchor?.threads) {
      log(`           (torch's own default here is ${torch.defaultThreads} thread(s); the anchor uses every CPU this process may use)`);
    }
    log(`PyTorch    peak RSS ${gb(torch.peakRssBytes)} (the whole process: both thread counts and the check)`);
    const v = torch.verify;
    if (v) {
      log(`${v.ok ? 'same network' : 'WARNING: NOT the same network'}: with our weights PyTorch's logits differ from ours by at most ` +
        `${v.maxAbsDiff.toExponential(1)} (largest logit ${fmt(v.maxAbsLogit, 2)}; ${VERIFY_BATCH} images, batch-statistics BN)`);
    } else if (torch.verifySkipped) log(`           (logits not compared: ${torch.verifySkipped})`);
    const ours = results.find((r) => r.paramCount !== undefined);
    if (ours && ours.paramCount !== torch.paramCount) log(`WARNING: parameter counts differ: ours ${ours.paramCount}, torch ${torch.paramCount}`);
  }

  const timed = results.filter((r) => r.imagesPerSec !== undefined);
  const best = fastest(results);
  const ratio = best && anchor ? (best.imagesPerSec as number) / anchor.imagesPerSec : undefined;
  const ratio1 = best && oneThread ? (best.imagesPerSec as number) / oneThread.imagesPerSec : undefined;
  // Memory of the backend whose speed is reported (or of the first that ran at all) against PyTorch's process.
  const measured = best ?? results.find((r) => r.peakRssBytes !== undefined);
  const memoryRatio = measured?.peakRssBytes && torch.peakRssBytes ? measured.peakRssBytes / torch.peakRssBytes : undefined;
  if (memoryRatio !== undefined) log(`memory ${measured!.backend}/PyTorch (peak RSS): ${fmt(memoryRatio, 2)}`);
  for (const r of timed) {
    if (!anchor) break;
    const vs1 = oneThread && oneThread !== anchor ? `; vs PyTorch 1 thread: ${fmt((r.imagesPerSec as number) / oneThread.imagesPerSec, 2)}` : '';
    log(`ratio ${r.backend}/PyTorch (${anchor.threads} thread${anchor.threads > 1 ? 's' : ''}): ${fmt((r.imagesPerSec as number) / anchor.imagesPerSec, 2)}${vs1}`);
  }
  if (o.json) {
    console.log(JSON.stringify({
      backend: best?.backend ?? null,
      imagesPerSec: best?.imagesPerSec ?? null,
      referenceImagesPerSec: anchor?.imagesPerSec ?? null,
      referenceThreads: anchor?.threads ?? null,
      referenceDevice: o.torchDevice,
      threads: o.threads,
      ratio: ratio ?? null,
      rounds: o.rounds > 1 ? rounds.map(({ results: rs, torch: t }, i) => ({
        imagesPerSec: fastest(rs)?.imagesPerSec ?? null, referenceImagesPerSec: t.runs?.[0]?.imagesPerSec ?? null, ratio: roundRatios[i] ?? null,
      })) : undefined,
      reference1ThreadImagesPerSec: oneThread?.imagesPerSec ?? null,
      ratio1Thread: ratio1 ?? null,
      peakRssBytes: measured?.peakRssBytes ?? null,
      referencePeakRssBytes: torch.peakRssBytes ?? null,
      memoryRatio: memoryRatio ?? null,
      config: { genotype: 'NASNET_A', layout: 'cifar', cells: o.cells, checkpointCells: o.checkpoint, filters: o.filters, batch: o.batch, steps: o.steps, warmup: o.warmup, paramCount: plan.paramCount, multAdds: plan.multAdds },
      loadAverage: load,
      backends: Object.fromEntries(results.map((r) => [r.backend, r])),
      torch,
    }));
  }
  if (!best) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof BenchOptionError ? error.message : error);
  process.exitCode = 1;
});
