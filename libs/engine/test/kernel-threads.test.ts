/**
 * Our SIMD kernels on more than one thread: the pool on a shared heap by
 * itself, the split rules (parallel.ts), and whole processes started on 1
 * and 2 threads, which must compute the same bits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@nasnet/random';
import { reductionGroups, splitRange } from '../src/kernels/parallel.js';
import { simdModuleFor, simdPrograms, isSharedMemory, type SimdPrograms } from '../src/kernels/simd/programs.js';
import { KernelThreadError, ProgramPool } from '../src/kernels/simd/thread-pool.js';
import { wasmApi, type WasmMemory } from '../src/kernels/simd/webassembly.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/train-on-threads.ts', import.meta.url));

function sharedMemory(pages: number): WasmMemory {
  return new wasmApi.Memory({ initial: pages, maximum: 65_536, shared: true });
}

test('kernel threads - splitRange covers every unit once, in order, with aligned starts', () => {
  for (const [total, parts, align] of [[100, 3, 1], [100, 3, 4], [7, 4, 4], [5, 8, 1], [4096, 2, 4], [1, 2, 1]] as const) {
    const ranges = splitRange(total, parts, align);
    assert.ok(ranges.length >= 1 && ranges.length <= parts, `${total}/${parts}: ${ranges.length} ranges`);
    let next = 0;
    for (const [start, count] of ranges) {
      assert.equal(start, next, `${total}/${parts}/${align}: gap or overlap at ${start}`);
      assert.ok(count > 0);
      assert.equal(start % align, 0, `${total}/${parts}/${align}: start ${start} not aligned`);
      next = start + count;
    }
    assert.equal(next, total);
  }
});

test('kernel threads - reduction groups depend on the size of the work, not on the machine', () => {
  assert.equal(reductionGroups(32, 10), 1, 'small work stays one group');
  assert.equal(reductionGroups(3, 1e9), 3, 'never more groups than units');
  assert.equal(reductionGroups(1024, 1e9), 8);
});

test('kernel threads - the programs link against a shared heap, and only the matching module kind does', () => {
  const shared = sharedMemory(2);
  assert.equal(isSharedMemory(shared), true);
  assert.equal(isSharedMemory(new wasmApi.Memory({ initial: 1 })), false);
  assert.equal(typeof simdPrograms(shared).pointwiseConv, 'function');
  const unsharedModule = simdModuleFor(new wasmApi.Memory({ initial: 1 }));
  assert.throws(() => new wasmApi.Instance(unsharedModule, { env: { memory: shared } }), /memory|import/i);
});

test('kernel threads - workers run calls on the shared heap and write the same bits as one call', async () => {
  const memory = sharedMemory(256);
  const own = simdPrograms(memory);
  const pool = await ProgramPool.start(simdModuleFor(memory), memory, 2, own);
  try {
    assert.equal(pool.threads, 3);
    const pixels = 2000, cin = 24, cout = 40;
    const heap = new Float32Array(memory.buffer);
    const x = 0, w = x + pixels * cin, single = w + cin * cout, split = single + pixels * cout;
    const rng = new Rng(5);
    for (let i = 0; i < single; i++) heap[i] = rng.normal();
    own.pointwiseConv(single * 4, x * 4, w * 4, pixels, cin, cout, 0, 0, 1);
    heap.fill(Number.NaN, split, split + pixels * cout);
    // The caller only waits: every part runs on a worker.
    const parts = splitRange(pixels, 7, 4);
    pool.run(parts.map(([p0, n]) => ['pointwiseConv', [(split + p0 * cout) * 4, (x + p0 * cin) * 4, w * 4, n, cin, cout, 0, 0, 1]] as const),
      { callerRuns: false });
    assert.deepEqual(heap.subarray(split, split + pixels * cout), heap.subarray(single, single + pixels * cout));
    // And with the caller taking tickets too, many runs in a row.
    for (let round = 0; round < 50; round++) {
      heap.fill(Number.NaN, split, split + pixels * cout);
      pool.run(parts.map(([p0, n]) => ['pointwiseConv', [(split + p0 * cout) * 4, (x + p0 * cin) * 4, w * 4, n, cin, cout, 0, 0, 1]] as const));
      assert.deepEqual(heap.subarray(split, split + pixels * cout), heap.subarray(single, single + pixels * cout), `round ${round}`);
    }
  } finally {
    await pool.close();
  }
});

test('kernel threads - a call that traps on a worker fails the run naming the program, and the pool keeps working', async () => {
  const memory = sharedMemory(4);
  const own: SimdPrograms = simdPrograms(memory);
  const pool = await ProgramPool.start(simdModuleFor(memory), memory, 1, own);
  try {
    const beyond = memory.buffer.byteLength + 4096;
    assert.throws(() => pool.run([['reluGrad', [beyond, 0, 0, 64]]], { callerRuns: false }),
      (error: unknown) => error instanceof KernelThreadError && error.program === 'reluGrad' && /out of bounds/i.test(error.message));
    assert.throws(() => pool.run([['noSuchProgram', [1]]]), /unknown SIMD program 'noSuchProgram'/);
    const heap = new Float32Array(memory.buffer);
    heap.set([1, -2, 3, -4], 0); // x
    heap.set([10, 20, 30, 40], 8); // dy
    pool.run([['reluGrad', [32, 0, 64, 4]]], { callerRuns: false });
    assert.deepEqual([...heap.subarray(16, 20)], [10, 0, 30, 0]);
  } finally {
    await pool.close();
  }
});

interface Run { reason: string; pthreadWorkers: number; kernels: string; losses: string[]; status: string }

function trainOn(threads: number, xnnpackThreads = 1): Run {
  const run = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, String(threads), String(xnnpackThreads)], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `the ${threads}-thread run failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

test('wasm threads - every training kernel and a short training run give the same bits on 1 and 2 threads', () => {
  const one = trainOn(1);
  const two = trainOn(2);
  assert.match(one.reason, /XNNPACK on 1 thread\(s\), \d+ training kernels on 1/);
  assert.match(two.reason, /XNNPACK on 1 thread\(s\), \d+ training kernels on 2/, `the 2-thread process did not start its kernel threads: ${two.reason}`);
  assert.equal(one.status, 'ok');
  assert.equal(two.status, 'ok');
  assert.equal(two.kernels, one.kernels, 'kernel outputs differ between 1 and 2 threads');
  assert.equal(two.losses.length, 3);
  assert.deepEqual(two.losses, one.losses, 'training losses differ between 1 and 2 threads');
  // XNNPACK on one thread creates no pthread: emscripten's pool of 8 workers never starts a thread.
  assert.equal(two.pthreadWorkers, 0);
});

test('wasm threads - XNNPACK\'s own pool on 2 threads starts its worker on demand and computes the same bits', () => {
  const one = trainOn(1);
  const pooled = trainOn(2, 2);
  assert.match(pooled.reason, /XNNPACK on 2 thread\(s\), \d+ training kernels on 2/, pooled.reason);
  assert.equal(pooled.pthreadWorkers, 1, 'a 2-thread pthreadpool runs one worker besides the caller');
  assert.equal(pooled.kernels, one.kernels);
  assert.deepEqual(pooled.losses, one.losses);
});

test('wasm threads - XNNPACK\'s pool threads do not keep a process alive after its work is done', () => {
  const engine = new URL('../src/index.ts', import.meta.url).href;
  const dir = mkdtempSync(join(tmpdir(), 'nasnet-threads-'));
  try {
    const script = join(dir, 'ends.mjs');
    writeFileSync(script, `const tf = await import(${JSON.stringify(import.meta.resolve('@tensorflow/tfjs-core'))});
const { initBackend } = await import(${JSON.stringify(engine)});
await initBackend('wasm', { threads: 2, xnnpackThreads: 2, log: () => {} });
tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync();
console.log('done');
`);
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('..', import.meta.url)) });
    assert.equal(run.stdout.trim(), 'done', run.stderr);
    assert.equal(run.status, 0, `the process did not end by itself (signal ${run.signal})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
