/**
 * Worker threads that run our SIMD programs on the wasm heap alongside the
 * calling thread, so one training step uses more than one core.
 *
 * Each worker instantiates the same compiled module against the same shared
 * WebAssembly.Memory (tfjs's threaded build creates the heap shared), so a
 * program call means the same thing on any thread: every pointer is a byte
 * offset into that heap. Calls are handed over through a SharedArrayBuffer,
 * not messages: the caller writes each worker's calls (program index and
 * arguments as float64), bumps the worker's sequence number and wakes it
 * with Atomics.notify, runs its own share, then sleeps in Atomics.wait until
 * every worker has counted itself done. A kernel call is synchronous, as
 * tfjs kernels are, and never waits for the event loop.
 *
 * The worker's code is a string run with `eval: true`: it needs no file of
 * its own, so it works from the sources, from images and from a bundle.
 */
import { Worker } from 'node:worker_threads';
import { wasmApi, type WasmMemory } from './webassembly.js';

/** A program failed on a worker thread (a wasm trap: an out-of-bounds pointer, for instance). */
export class KernelThreadError extends Error {
  constructor(readonly program: string, detail: string) {
    super(`SIMD program '${program}' failed on a kernel thread: ${detail}`);
    this.name = 'KernelThreadError';
  }
}

/** A kernel thread did not start, or stopped answering. */
export class KernelThreadStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KernelThreadStartError';
  }
}

/** Most arguments of one program (dwForward takes 21). */
const MAX_ARGS = 24;
/** Most calls in one run (records are kept in a ring of this size). */
export const MAX_CALLS = 64;
/** float64 slots of one call record: program index, argument count, arguments. */
const RECORD = 2 + MAX_ARGS;
/**
 * int32 control words: the next ticket, the end of the current run's
 * tickets, tickets done, the wake-up sequence, workers asleep (in
 * Atomics.wait on WAKE) and whether the caller sleeps (in Atomics.wait on
 * DONE). Each side notifies only when the other sleeps: a notify costs
 * ~10 us, and with ~1,500 runs a step most find the worker still polling.
 * (Sequentially consistent atomics make this safe: a sleeper counts itself
 * before it waits, and the wait re-checks the word the other side changed
 * before it looked at the count.)
 */
const NEXT = 0, END = 1, DONE = 2, WAKE = 3, SLEEPERS = 4, CALLER_SLEEPS = 5;
/** int32 words before the per-call statuses. */
const HEADER = 16;
/** Bytes of a failed call's error text. */
const ERROR_BYTES = 256;
/**
 * How long a worker keeps polling for the next run before it sleeps, and
 * the caller for its workers' last calls, ms. Kernel calls in a training
 * step come a fraction of a millisecond apart, and waking a sleeping
 * thread (a futex wake, then the OS scheduling it) takes 50-100 us or, on
 * a busy machine, much longer: a worker that sleeps between calls wakes
 * after the caller has run every ticket itself. Polling keeps it ready;
 * idle longer than this, it sleeps and costs nothing.
 */
export const SPIN_MS = 0.5;
/** A run whose calls have not all finished after this long is reported as stuck (a step's largest call takes well under a second). */
const STUCK_MS = 120_000;

/** Control block layout, shared by both sides: header and statuses (int32), records (float64), error texts. */
function layout() {
  const intsBytes = (HEADER + MAX_CALLS) * 4;
  const recordsAt = Math.ceil(intsBytes / 8) * 8;
  const errorsAt = recordsAt + MAX_CALLS * RECORD * 8;
  return { recordsAt, errorsAt, bytes: errorsAt + MAX_CALLS * ERROR_BYTES };
}

/**
 * The worker: instantiate the programs on the shared heap, say ready, then
 * loop: sleep until the wake-up sequence moves, then take tickets (calls)
 * until none is left, running each and counting it done. The caller takes
 * tickets the same way, so a worker the OS has not scheduled yet delays
 * nothing: the caller runs its calls, and a worker that wakes late finds no
 * ticket left. A ticket is taken with compare-and-swap, and only below the
 * current run's end: the caller starts the next run only when every ticket
 * of this one is done, so a ticket below the end always belongs to the run
 * whose records are in place.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, names, header, maxCalls, record, recordsAt, errorsAt, errorBytes } = workerData;
const exported = new WebAssembly.Instance(module, { env: { memory } }).exports;
const programs = names.map((name) => exported[name]);
const ints = new Int32Array(control);
const records = new Float64Array(control, recordsAt, maxCalls * record);
const errors = new Uint8Array(control, errorsAt, maxCalls * errorBytes);
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  if (Atomics.load(ints, ${WAKE}) === seen) {
    const until = performance.now() + ${SPIN_MS};
    while (Atomics.load(ints, ${WAKE}) === seen && performance.now() < until) {}
  }
  Atomics.add(ints, ${SLEEPERS}, 1);
  Atomics.wait(ints, ${WAKE}, seen);
  Atomics.sub(ints, ${SLEEPERS}, 1);
  seen = Atomics.load(ints, ${WAKE});
  if (seen === -1) break;
  for (;;) {
    const ticket = Atomics.load(ints, ${NEXT});
    if (((ticket - Atomics.load(ints, ${END})) | 0) >= 0) break;
    if (Atomics.compareExchange(ints, ${NEXT}, ticket, (ticket + 1) | 0) !== ticket) continue;
    const slot = ((ticket % maxCalls) + maxCalls) % maxCalls;
    const at = slot * record;
    let status = 0;
    try {
      programs[records[at]](${Array.from({ length: MAX_ARGS }, (_, a) => `records[at + ${a + 2}]`).join(', ')});
    } catch (error) {
      status = 1;
      const text = new TextEncoder().encode(String((error && error.message) || error)).subarray(0, errorBytes - 1);
      errors.fill(0, slot * errorBytes, (slot + 1) * errorBytes);
      errors.set(text, slot * errorBytes);
    }
    ints[header + slot] = status;
    Atomics.add(ints, ${DONE}, 1);
    if (Atomics.load(ints, ${CALLER_SLEEPS}) !== 0) Atomics.notify(ints, ${DONE});
  }
}
`;

export type ProgramCall = readonly [program: string, args: readonly number[]];

/** The calling thread plus `workers` kernel threads over one shared heap. */
export class ProgramPool {
  /** Threads that run calls, the caller included. */
  readonly threads: number;
  private readonly ints: Int32Array;
  private readonly records: Float64Array;
  private readonly errors: Uint8Array;
  private readonly index: Map<string, number>;
  private readonly own: Array<(...args: number[]) => void>;
  private closed = false;

  private constructor(private readonly workers: Worker[], control: SharedArrayBuffer, names: string[], own: Record<string, unknown>) {
    this.threads = workers.length + 1;
    const { recordsAt, errorsAt } = layout();
    this.ints = new Int32Array(control);
    this.records = new Float64Array(control, recordsAt, MAX_CALLS * RECORD);
    this.errors = new Uint8Array(control, errorsAt, MAX_CALLS * ERROR_BYTES);
    this.index = new Map(names.map((name, i) => [name, i]));
    this.own = names.map((name) => own[name] as (...args: number[]) => void);
  }

  /**
   * Starts `workers` kernel threads running `module` (compiled for a shared
   * memory) on `memory`; `own` is this thread's instance of the same module.
   */
  static async start(module: object, memory: WasmMemory, workers: number, own: object): Promise<ProgramPool> {
    if (!(memory.buffer instanceof SharedArrayBuffer)) throw new KernelThreadStartError('kernel threads need a shared wasm memory (tfjs\'s threaded build)');
    const names = (wasmApi.Module as unknown as { exports(m: object): Array<{ name: string; kind: string }> }).exports(module)
      .filter((e) => e.kind === 'function').map((e) => e.name);
    const { recordsAt, errorsAt, bytes } = layout();
    const control = new SharedArrayBuffer(bytes);
    const threads = Array.from({ length: workers }, () => new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module, memory, control, names, header: HEADER, maxCalls: MAX_CALLS, record: RECORD, recordsAt, errorsAt, errorBytes: ERROR_BYTES },
      // The kernels' data lives on the wasm heap; a worker's own JS heap stays small.
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    }));
    try {
      await Promise.all(threads.map((t, i) => new Promise<void>((resolve, reject) => {
        t.once('message', () => resolve());
        t.once('error', (error) => reject(new KernelThreadStartError(`kernel thread ${i + 1} failed to start: ${error.message}`, { cause: error })));
        t.once('exit', (code) => reject(new KernelThreadStartError(`kernel thread ${i + 1} exited with ${code} before it was ready`)));
      })));
    } catch (error) {
      await Promise.all(threads.map((t) => t.terminate()));
      throw error;
    }
    // Idle kernel threads sleep in Atomics.wait; they must not keep the process alive.
    for (const t of threads) t.unref();
    return new ProgramPool(threads, control, names, own as Record<string, unknown>);
  }

  /**
   * Runs every call and returns when all have finished; calls may run on
   * any thread and in any order, so they must write disjoint memory. Throws
   * KernelThreadError naming the first failed call (after all finished).
   * With `callerRuns: false` the caller only waits (tests use it to make
   * the workers run every call). With `wake: false` sleeping workers are
   * left asleep: only workers still polling take part (for small runs,
   * where waking one costs more than its share saves).
   */
  run(calls: readonly ProgramCall[], options: { callerRuns?: boolean; wake?: boolean } = {}): void {
    if (this.closed) throw new KernelThreadStartError('the kernel thread pool was closed');
    if (calls.length > MAX_CALLS) throw new RangeError(`${calls.length} calls in one run (at most ${MAX_CALLS})`);
    const ints = this.ints, records = this.records;
    const first = Atomics.load(ints, NEXT);
    const fns: number[] = [];
    calls.forEach(([program, args], i) => {
      const fn = this.index.get(program);
      if (fn === undefined) throw new RangeError(`unknown SIMD program '${program}'`);
      fns.push(fn);
      if (args.length > MAX_ARGS) throw new RangeError(`SIMD program '${program}' called with ${args.length} arguments (at most ${MAX_ARGS})`);
      const slot = slotOf(first + i), at = slot * RECORD;
      records[at] = fn;
      records[at + 1] = args.length;
      for (let a = 0; a < args.length; a++) records[at + 2 + a] = args[a]!;
      ints[HEADER + slot] = 0;
    });
    const end = (first + calls.length) | 0;
    // Publishing the end makes the tickets takeable; the wake-up only spares idle workers a poll.
    Atomics.store(ints, END, end);
    Atomics.add(ints, WAKE, 1);
    if ((options.wake !== false || options.callerRuns === false) && Atomics.load(ints, SLEEPERS) > 0) {
      Atomics.notify(ints, WAKE, this.workers.length);
    }
    let failure: unknown;
    for (;;) {
      if (options.callerRuns === false) break;
      const ticket = Atomics.load(ints, NEXT);
      if (((ticket - end) | 0) >= 0) break;
      if (Atomics.compareExchange(ints, NEXT, ticket, (ticket + 1) | 0) !== ticket) continue;
      // Our own calls are still in hand: no reading back from the records.
      const i = (ticket - first) | 0;
      try {
        this.own[fns[i]!]!(...calls[i]![1]);
        Atomics.add(ints, DONE, 1);
      } catch (error) {
        failure ??= error;
        Atomics.add(ints, DONE, 1);
      }
    }
    const since = performance.now();
    const spinUntil = since + SPIN_MS;
    for (;;) {
      const done = Atomics.load(ints, DONE);
      if (((done - end) | 0) >= 0) break;
      // A worker is finishing a call: poll first (it usually ends within the spin), then sleep.
      if (performance.now() < spinUntil) continue;
      Atomics.store(ints, CALLER_SLEEPS, 1);
      Atomics.wait(ints, DONE, done, 1000);
      Atomics.store(ints, CALLER_SLEEPS, 0);
      if (performance.now() - since > STUCK_MS) {
        this.closed = true;
        throw new KernelThreadStartError(`kernel threads did not finish ${calls[0]![0]} within ${STUCK_MS / 1000} s`);
      }
    }
    if (failure !== undefined) throw failure;
    for (let i = 0; i < calls.length; i++) {
      const slot = slotOf(first + i);
      if (ints[HEADER + slot] !== 0) {
        const text = new TextDecoder().decode(this.errors.slice(slot * ERROR_BYTES, (slot + 1) * ERROR_BYTES)).replace(/\0+$/, '');
        throw new KernelThreadError(calls[i]![0], text);
      }
    }
  }

  /** Ends the worker threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ints, WAKE, -1);
    Atomics.notify(this.ints, WAKE);
    await Promise.all(this.workers.map((t) => new Promise<void>((resolve) => {
      t.once('exit', () => resolve());
      setTimeout(() => { void t.terminate().then(() => resolve()); }, 2000).unref();
    })));
  }
}

function slotOf(ticket: number): number {
  return ((ticket % MAX_CALLS) + MAX_CALLS) % MAX_CALLS;
}
