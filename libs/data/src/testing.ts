/**
 * Test fixtures, not for production (import from `@nasnet/data/testing`):
 * small CIFAR-10 folders in the official binary format (per record: 1 label
 * byte, then the 1024 R, 1024 G and 1024 B bytes of a 32x32 image, row by
 * row; https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * Every byte is a known function of the record's global id, so a reader
 * test can check each pixel (cifarFixturePixel) and tell every record apart
 * (the id is written into the first two R bytes), and the colour planes
 * depend on the class, so a network trained on a fixture can learn
 * something.
 *
 * ```ts
 * const data = writeCifar10Folder(8, 16);             // 5 x 8 training records, 16 test records
 * await loadDataset(`cifar10:${data.dir}`, { cifar10: { strict: false } });
 * data.cleanup();
 * ```
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CIFAR10_RECORD_BYTES, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES } from './cifar10.js';

/** Test records get global ids from here on, so they differ from training records. */
export const CIFAR10_FIXTURE_TEST_ID0 = 1000;

/** Label of the record with global id `id`. */
export function cifarFixtureLabel(id: number): number {
  return id % 10;
}

/** Byte of channel `c` (0 R, 1 G, 2 B) at (y, x) of the record with global id `id`. */
export function cifarFixturePixel(id: number, c: number, y: number, x: number): number {
  if (c === 0 && y === 0 && x < 2) return x === 0 ? id & 255 : (id >> 8) & 255;
  return (cifarFixtureLabel(id) * 25 + c * 60 + ((y * 32 + x + id) % 7)) & 255;
}

/** One file's bytes: `count` records with global ids first..first+count-1. */
export function cifarFixtureRecords(first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(count * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const id = first + r;
    const base = r * CIFAR10_RECORD_BYTES;
    bytes[base] = cifarFixtureLabel(id);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) bytes[base + 1 + c * 1024 + y * 32 + x] = cifarFixturePixel(id, c, y, x);
      }
    }
  }
  return bytes;
}

export interface Cifar10FolderOptions {
  /** Write the files into this sub-folder of the new folder (e.g. 'cifar-10-batches-bin'). */
  sub?: string;
  /** Make the new folder inside this one instead of the system's temporary folder. */
  under?: string;
}

/**
 * A new folder with data_batch_1..5 of `perFile` records each (global ids
 * 0..5*perFile-1 in file order) and test_batch.bin of `testCount` records
 * (ids from CIFAR10_FIXTURE_TEST_ID0). `dir` holds the files; `root` is the
 * new folder (`dir` unless `sub` is given); cleanup() removes `root`.
 */
export function writeCifar10Folder(perFile: number, testCount: number, options: Cifar10FolderOptions = {}): { root: string; dir: string; cleanup: () => void } {
  if (!Number.isInteger(perFile) || perFile < 0 || !Number.isInteger(testCount) || testCount < 0) {
    throw new RangeError(`writeCifar10Folder: record counts must be non-negative integers, got perFile ${perFile}, testCount ${testCount}`);
  }
  const root = mkdtempSync(join(options.under ?? tmpdir(), 'nasnet-cifar-'));
  const dir = options.sub ? join(root, options.sub) : root;
  if (options.sub) mkdirSync(dir, { recursive: true });
  CIFAR10_TRAIN_FILES.forEach((name, f) => writeFileSync(join(dir, name), cifarFixtureRecords(f * perFile, perFile)));
  writeFileSync(join(dir, CIFAR10_TEST_FILE), cifarFixtureRecords(CIFAR10_FIXTURE_TEST_ID0, testCount));
  return { root, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
