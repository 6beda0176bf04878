/**
 * Out-of-memory handling of the wasm backend, so a child network too large
 * for a trainer fails that child with a reason and leaves the trainer able
 * to train the next one.
 *
 * What goes wrong without it (measured here with tfjs-backend-wasm 4.22):
 * - its allocator (dlmalloc, emscripten heap growth up to 4 GiB - 64 KiB)
 *   traps inside malloc ("memory access out of bounds") when the heap
 *   nears 4 GiB, and the module is left broken: every later op of the
 *   process traps the same way, so one oversized child fails every child
 *   the trainer takes after it;
 * - below that, a malloc that cannot grow the heap returns 0, and
 *   BackendWasm.move registers the tensor at address 0 and copies its data
 *   there, over the module's own static data: the same broken module.
 * So heap growth is capped `headroom` below 4 GiB (or lower, at a limit the
 * trainer's memory allows), and a tensor allocation the heap cannot hold
 * throws WasmOutOfMemoryError before anything is written.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** WebAssembly page size (spec). */
const PAGE_BYTES = 65_536;

/**
 * Heap cap by default: 4 GiB less 256 MiB. With it, a request that does
 * not fit makes malloc return 0 cleanly (checked up to a 3.65 GiB heap);
 * letting the heap reach 4 GiB is what traps.
 */
export const DEFAULT_WASM_HEAP_LIMIT_BYTES = 4 * GiB - 256 * MiB;

/** A tensor the wasm heap cannot hold: the child is too large for this trainer. */
export class WasmOutOfMemoryError extends Error {
  constructor(readonly bytes: number, readonly heapBytes: number, readonly limitBytes: number) {
    super(`wasm backend out of memory: a tensor of ${mib(bytes)} does not fit (heap ${mib(heapBytes)}, limit ${mib(limitBytes)}); `
      + 'train this child with a smaller batchSize or initialFilters, or on a trainer with more memory');
    this.name = 'WasmOutOfMemoryError';
  }
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

interface GrowableMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface EmscriptenModule {
  _malloc: (bytes: number) => number;
  asm?: { malloc?: (bytes: number) => number; memory?: GrowableMemory };
  /** The threaded build's (shared) memory, created in JS and imported by the module. */
  wasmMemory?: GrowableMemory;
}

/** The limit in force, per guarded module (initBackend may lower or raise it later). */
const limits = new WeakMap<object, { limitBytes: number }>();

/**
 * Installs the guard on the backend's module, with `limitBytes` (clamped to
 * DEFAULT_WASM_HEAP_LIMIT_BYTES) or the default; a later call changes the
 * limit when it names one. Throws when the module does not have the layout
 * of tfjs-backend-wasm 4.22.
 */
export function guardWasmHeap(backend: BackendWasm, limitBytes?: number): void {
  if (limitBytes !== undefined && !(limitBytes >= 64 * MiB)) throw new RangeError(`the wasm heap limit must be at least 64 MiB, got ${limitBytes} bytes`);
  const module = backend.wasm as unknown as EmscriptenModule;
  const held = limits.get(module);
  const limit = Math.min(limitBytes ?? DEFAULT_WASM_HEAP_LIMIT_BYTES, DEFAULT_WASM_HEAP_LIMIT_BYTES);
  if (held) {
    if (limitBytes !== undefined) held.limitBytes = limit;
    return;
  }
  const malloc = module.asm?.malloc;
  const memory = module.asm?.memory ?? module.wasmMemory;
  if (typeof malloc !== 'function' || !memory || typeof memory.grow !== 'function') {
    throw new TypeError('tfjs wasm backend: module.asm.malloc or the module\'s memory is missing; the heap guard needs tfjs-backend-wasm 4.22\'s module layout');
  }
  const state = { limitBytes: limit };
  limits.set(module, state);
  // Emscripten grows the heap through this JS method: refusing here makes its sbrk, and so malloc, fail with 0.
  const grow = memory.grow.bind(memory);
  Object.defineProperty(memory, 'grow', {
    configurable: true,
    value: (pages: number) => {
      if (memory.buffer.byteLength + pages * PAGE_BYTES > state.limitBytes) throw new RangeError('wasm heap limit reached');
      return grow(pages);
    },
  });
  // The module's own _malloc is a lazy stub that replaces itself with asm.malloc on first use: wrap the real one.
  module._malloc = (bytes: number): number => {
    // Above the limit it cannot fit; at 2^32 and beyond the i32 argument would wrap around to a small size.
    if (bytes > state.limitBytes) throw new WasmOutOfMemoryError(bytes, memory.buffer.byteLength, state.limitBytes);
    const at = malloc(bytes);
    if (at === 0 && bytes > 0) throw new WasmOutOfMemoryError(bytes, memory.buffer.byteLength, state.limitBytes);
    return at;
  };
}
