// Writes small CIFAR-10 folders in the official binary format for the tests.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RECORD = 3073;
export const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];

/** Pixel byte of channel `c` (0 R, 1 G, 2 B) at (y, x) of the record with global id `id`. */
export function pixel(id: number, c: number, y: number, x: number): number {
  return (id * 37 + c * 101 + y * 7 + x * 3) & 255;
}

/** Label of the record with global id `id`. */
export function labelOf(id: number): number {
  return id % 10;
}

/** One file's bytes: `count` records with global ids first..first+count-1, planar R, G, B. */
export function batchBytes(first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(count * RECORD);
  for (let r = 0; r < count; r++) {
    const id = first + r;
    const base = r * RECORD;
    bytes[base] = labelOf(id);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) bytes[base + 1 + c * 1024 + y * 32 + x] = pixel(id, c, y, x);
      }
    }
  }
  return bytes;
}

/** Test records get ids from 1000 on, so they differ from training records. */
export const TEST_ID0 = 1000;

/**
 * A temporary folder with data_batch_1..5 of `perFile` records each (global
 * ids 0..5*perFile-1 in file order) and test_batch.bin of `testCount` records.
 */
export function writeCifarFolder(perFile: number, testCount: number, sub?: string): { root: string; dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'nasnet-cifar-'));
  const dir = sub ? join(root, sub) : root;
  if (sub) mkdirSync(dir, { recursive: true });
  TRAIN_FILES.forEach((name, f) => writeFileSync(join(dir, name), batchBytes(f * perFile, perFile)));
  writeFileSync(join(dir, 'test_batch.bin'), batchBytes(TEST_ID0, testCount));
  return { root, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
