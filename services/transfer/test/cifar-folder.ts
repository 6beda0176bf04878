// Writes a tiny CIFAR-10 folder in the official binary format (1 label byte,
// then 1024 R, 1024 G, 1024 B bytes per record) for the tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RECORD = 1 + 32 * 32 * 3;

/** Records of class id % 10 whose colour planes depend on the class, plus a per-record ripple. */
function records(first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(count * RECORD);
  for (let r = 0; r < count; r++) {
    const id = first + r;
    const label = id % 10;
    bytes[r * RECORD] = label;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) bytes[r * RECORD + 1 + c * 1024 + p] = (label * 25 + c * 60 + ((p + id) % 7)) & 255;
    }
  }
  return bytes;
}

/** data_batch_1..5 with `perFile` records each and test_batch.bin with `testCount`. */
export function writeTinyCifar(perFile: number, testCount: number): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'nasnet-transfer-cifar-'));
  for (let f = 0; f < 5; f++) writeFileSync(join(dir, `data_batch_${f + 1}.bin`), records(f * perFile, perFile));
  writeFileSync(join(dir, 'test_batch.bin'), records(1000, testCount));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
