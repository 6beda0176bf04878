import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@nasnet/random';
import {
  CIFAR10_CLASS_NAMES, CIFAR10_RECORD_BYTES, CIFAR10_TRAIN_FILES, DatasetCorruptError, DatasetFileMissingError, DatasetOptionError, DatasetTruncatedError,
  loadCifar10,
} from '../src/index.js';
import type { ImageSplit } from '../src/index.js';
import {
  CIFAR10_FIXTURE_TEST_ID0, cifarFixtureLabel, cifarFixturePixel, cifarFixtureRecords, writeCifar10Folder,
} from '../src/testing.js';

/** Asserts every pixel and label of `split` against the record ids it should hold. */
function assertHolds(split: ImageSplit, ids: number[]): void {
  assert.equal(split.count, ids.length);
  assert.deepEqual([...split.labels], ids.map(cifarFixtureLabel));
  for (let n = 0; n < ids.length; n++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const got = split.images[((n * 32 + y) * 32 + x) * 3 + c];
          if (got !== cifarFixturePixel(ids[n]!, c, y, x)) assert.fail(`image ${n} (id ${ids[n]}) pixel (${y}, ${x}, ${c}) is ${got}, expected ${cifarFixturePixel(ids[n]!, c, y, x)}`);
        }
      }
    }
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

test('cifar10 - a known pixel of the R, G and B planes lands at its NHWC index', async () => {
  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    // Record 1 of data_batch_1: pixel (y=5, x=7) gets R=11, G=22, B=33 in its planes.
    const path = join(dir, 'data_batch_1.bin');
    const bytes = readFileSync(path);
    const rec = 1 * CIFAR10_RECORD_BYTES;
    bytes[rec + 1 + 0 * 1024 + 5 * 32 + 7] = 11;
    bytes[rec + 1 + 1 * 1024 + 5 * 32 + 7] = 22;
    bytes[rec + 1 + 2 * 1024 + 5 * 32 + 7] = 33;
    writeFileSync(path, bytes);
    const data = await loadCifar10(dir, { strict: false, validationSize: 2 });
    const at = ((1 * 32 + 5) * 32 + 7) * 3;
    assert.deepEqual([...data.train.images.subarray(at, at + 3)], [11, 22, 33]);
    // Its neighbour in the row keeps the generated values.
    assert.deepEqual([...data.train.images.subarray(at + 3, at + 6)], [cifarFixturePixel(1, 0, 5, 8), cifarFixturePixel(1, 1, 5, 8), cifarFixturePixel(1, 2, 5, 8)]);
  } finally {
    cleanup();
  }
});

test('cifar10 - the last validationSize training records are held out, in file order', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 4);
  try {
    const data = await loadCifar10(dir, { strict: false, validationSize: 4 });
    assert.equal(data.name, 'cifar10');
    assert.deepEqual([data.height, data.width, data.channels, data.numClasses], [32, 32, 3, 10]);
    assert.deepEqual(data.classNames, CIFAR10_CLASS_NAMES);
    assertHolds(data.train, range(0, 11));
    assertHolds(data.validation, range(11, 15)); // last record of file 4, all of file 5
    assertHolds(data.test!, range(CIFAR10_FIXTURE_TEST_ID0, CIFAR10_FIXTURE_TEST_ID0 + 4));
    assert.equal(data.stats.mean.length, 3);
  } finally {
    cleanup();
  }
});

test('cifar10 - maxTrain, maxValidation and maxTest keep prefixes of each split', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 4);
  try {
    const data = await loadCifar10(dir, { strict: false, validationSize: 5, maxTrain: 4, maxValidation: 2, maxTest: 3 });
    assertHolds(data.train, range(0, 4));
    assertHolds(data.validation, range(10, 12));
    assertHolds(data.test!, range(CIFAR10_FIXTURE_TEST_ID0, CIFAR10_FIXTURE_TEST_ID0 + 3));
    const none = await loadCifar10(dir, { strict: false, validationSize: 0, loadTest: false });
    assertHolds(none.train, range(0, 15));
    assert.equal(none.validation.count, 0);
    assert.equal(none.test, undefined);
  } finally {
    cleanup();
  }
});

test('cifar10 - stats are the per-channel mean and std of the kept training images', async () => {
  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    const data = await loadCifar10(dir, { strict: false, validationSize: 3 });
    for (let c = 0; c < 3; c++) {
      const values: number[] = [];
      for (let i = c; i < data.train.images.length; i += 3) values.push(data.train.images[i]!);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      assert.ok(Math.abs(data.stats.mean[c]! - mean) < 1e-9, `channel ${c} mean ${data.stats.mean[c]} vs ${mean}`);
      assert.ok(Math.abs(data.stats.std[c]! - std) < 1e-9, `channel ${c} std ${data.stats.std[c]} vs ${std}`);
    }
  } finally {
    cleanup();
  }
});

test('cifar10 - test_batch.bin is optional when loadTest is false', async () => {
  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    rmSync(join(dir, 'test_batch.bin'));
    const data = await loadCifar10(dir, { strict: false, validationSize: 2, loadTest: false });
    assert.equal(data.test, undefined);
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 2 }), (err: unknown) => {
      assert.ok(err instanceof DatasetFileMissingError);
      assert.match(err.message, new RegExp(`${escape(join(dir, 'test_batch.bin'))} does not exist`));
      return true;
    });
  } finally {
    cleanup();
  }
});

test('cifar10 - the cifar-10-batches-bin folder of the tarball is found from its parent', async () => {
  const { root, cleanup } = writeCifar10Folder(2, 1, { sub: 'cifar-10-batches-bin' });
  try {
    const data = await loadCifar10(root, { strict: false, validationSize: 2 });
    assertHolds(data.train, range(0, 8));
  } finally {
    cleanup();
  }
});

test('cifar10 - full-size files load strictly as 45,000 / 5,000 / 10,000', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nasnet-cifar-full-'));
  try {
    // One real-size file (10,000 records, ids 0..9999) behind all six names.
    const real = join(root, 'batch.bin');
    writeFileSync(real, cifarFixtureRecords(0, 10_000));
    for (const name of [...CIFAR10_TRAIN_FILES, 'test_batch.bin']) symlinkSync(real, join(root, name));
    const start = performance.now();
    const data = await loadCifar10(root);
    t.diagnostic(`loaded 60,000 CIFAR-10 records in ${(performance.now() - start).toFixed(0)} ms`);
    assert.equal(data.train.count, 45_000);
    assert.equal(data.validation.count, 5_000);
    assert.equal(data.test!.count, 10_000);
    // Validation = records 5,000..9,999 of data_batch_5; train image 10,000 = record 0 of data_batch_2.
    assertHolds({ ...data.validation, count: 2, images: data.validation.images.subarray(0, 2 * 3072), labels: data.validation.labels.subarray(0, 2) }, [5000, 5001]);
    assert.equal(data.validation.labels[4999], cifarFixtureLabel(9999));
    assert.equal(data.train.images[10_000 * 3072 + 2], cifarFixturePixel(0, 2, 0, 0));
    assert.equal(data.train.images[44_999 * 3072], cifarFixturePixel(4999, 0, 0, 0));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cifar10 - strict rejects a file with fewer than 10,000 records at the first missing record', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 1);
  try {
    await assert.rejects(loadCifar10(dir), (err: unknown) => {
      assert.ok(err instanceof DatasetTruncatedError);
      assert.equal(err.file, join(dir, 'data_batch_1.bin'));
      assert.equal(err.offset, 3 * CIFAR10_RECORD_BYTES);
      assert.match(err.message, new RegExp(`${escape(join(dir, 'data_batch_1.bin'))} is truncated at byte offset 9219 \\(record 3\\)`));
      assert.match(err.message, /strict: false/);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('cifar10 - strict rejects a file with more than 10,000 records where the extra data starts', async () => {
  const { dir, cleanup } = writeCifar10Folder(1, 1);
  try {
    writeFileSync(join(dir, 'data_batch_1.bin'), new Uint8Array(10_001 * CIFAR10_RECORD_BYTES));
    await assert.rejects(loadCifar10(dir), (err: unknown) => {
      assert.ok(err instanceof DatasetCorruptError);
      assert.match(err.message, new RegExp(`${escape(join(dir, 'data_batch_1.bin'))} is corrupt at byte offset 30730000 \\(record 10000\\)`));
      return true;
    });
  } finally {
    cleanup();
  }
});

test('cifar10 - a missing folder names the path and the expected files', async () => {
  const missing = join(tmpdir(), 'nasnet-no-such-cifar-folder');
  await assert.rejects(loadCifar10(missing), (err: unknown) => {
    assert.ok(err instanceof DatasetFileMissingError);
    assert.equal(err.path, missing);
    assert.match(err.message, new RegExp(`folder ${escape(missing)} does not exist`));
    for (const name of [...CIFAR10_TRAIN_FILES, 'test_batch.bin']) assert.ok(err.message.includes(name), `message lacks ${name}: ${err.message}`);
    assert.ok(err.cause, 'the fs error is kept as cause');
    return true;
  });
  const { dir, cleanup } = writeCifar10Folder(1, 1);
  try {
    const file = join(dir, 'data_batch_1.bin');
    await assert.rejects(loadCifar10(file), (err: unknown) => err instanceof DatasetFileMissingError && err.message.includes(`${file} is not a directory`));
  } finally {
    cleanup();
  }
});

test('cifar10 - a missing batch file names its path and the expected files', async () => {
  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    rmSync(join(dir, 'data_batch_3.bin'));
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 1 }), (err: unknown) => {
      assert.ok(err instanceof DatasetFileMissingError);
      assert.equal(err.path, join(dir, 'data_batch_3.bin'));
      assert.match(err.message, /data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin, test_batch\.bin/);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('cifar10 - a partial last record names the file and the byte offset where it starts', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 1);
  try {
    const file = join(dir, 'data_batch_2.bin');
    truncateSync(file, 3 * CIFAR10_RECORD_BYTES - 100);
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 1 }), (err: unknown) => {
      assert.ok(err instanceof DatasetTruncatedError);
      assert.equal(err.file, file);
      assert.equal(err.offset, 2 * CIFAR10_RECORD_BYTES);
      assert.equal(err.record, 2);
      assert.match(err.message, new RegExp(`${escape(file)} is truncated at byte offset 6146 \\(record 2\\): 9119 bytes`));
      return true;
    });
    truncateSync(file, 0);
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 1 }), (err: unknown) =>
      err instanceof DatasetTruncatedError && err.offset === 0 && err.message.includes(`${file} is truncated at byte offset 0`) && err.message.includes('empty'));
  } finally {
    cleanup();
  }
});

test('cifar10 - a label byte above 9 names the file, record and byte offset', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 2);
  for (const name of ['data_batch_4.bin', 'test_batch.bin']) {
    const file = join(dir, name);
    const pristine = readFileSync(file);
    const bytes = Buffer.from(pristine);
    bytes[1 * CIFAR10_RECORD_BYTES] = 10;
    writeFileSync(file, bytes);
    try {
      // maxTrain drops the record, yet its label is still checked.
      await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 1, maxTrain: 1 }), (err: unknown) => {
        assert.ok(err instanceof DatasetCorruptError);
        assert.equal(err.file, file);
        assert.equal(err.record, 1);
        assert.equal(err.offset, 3073);
        assert.match(err.message, new RegExp(`${escape(file)} is corrupt at byte offset 3073 \\(record 1\\): label byte 10`));
        return true;
      });
    } finally {
      writeFileSync(file, pristine);
    }
  }
  cleanup();
});

test('cifar10 - option values that cannot be honoured are rejected by name', async () => {
  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    await assert.rejects(loadCifar10(dir, { strict: false }), (err: unknown) =>
      err instanceof DatasetOptionError && err.option === 'validationSize' && /5000 .*10 images/.test(err.message));
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 10 }), DatasetOptionError);
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 2, maxTrain: -1 }), (err: unknown) =>
      err instanceof DatasetOptionError && err.option === 'maxTrain');
    await assert.rejects(loadCifar10(dir, { strict: false, validationSize: 1.5 }), DatasetOptionError);
  } finally {
    cleanup();
  }
});

test('cifar10 - fuzz: seeded truncations and corruptions fail only with the data set errors', async () => {
  const { dir, cleanup } = writeCifar10Folder(3, 2);
  const names = [...CIFAR10_TRAIN_FILES, 'test_batch.bin'];
  const pristine = new Map(names.map((n) => [n, readFileSync(join(dir, n))]));
  const rng = new Rng(20_240_601);
  const seen = new Map<string, number>();
  try {
    for (let iter = 0; iter < 300; iter++) {
      const name = rng.pick(names);
      const file = join(dir, name);
      const orig = pristine.get(name)!;
      const kind = rng.pick(['truncate', 'label', 'append', 'garbage', 'pixel', 'delete'] as const);
      let expect: { error: Function; offset?: number } | 'ok' | 'any';
      if (kind === 'truncate') {
        const len = rng.int(orig.length);
        writeFileSync(file, orig.subarray(0, len));
        expect = len % CIFAR10_RECORD_BYTES !== 0 || len === 0 ? { error: DatasetTruncatedError, offset: Math.floor(len / CIFAR10_RECORD_BYTES) * CIFAR10_RECORD_BYTES } : 'ok';
      } else if (kind === 'label') {
        const bytes = Buffer.from(orig);
        const r = rng.int(orig.length / CIFAR10_RECORD_BYTES);
        bytes[r * CIFAR10_RECORD_BYTES] = rng.int(256);
        writeFileSync(file, bytes);
        expect = bytes[r * CIFAR10_RECORD_BYTES]! > 9 ? { error: DatasetCorruptError, offset: r * CIFAR10_RECORD_BYTES } : 'ok';
      } else if (kind === 'append' || kind === 'garbage') {
        const extra = new Uint8Array(1 + rng.int(2 * CIFAR10_RECORD_BYTES));
        for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
        writeFileSync(file, kind === 'append' ? Buffer.concat([orig, extra]) : extra);
        expect = 'any';
      } else if (kind === 'pixel') {
        const bytes = Buffer.from(orig);
        for (let k = 0; k < 20; k++) {
          const at = rng.int(orig.length);
          if (at % CIFAR10_RECORD_BYTES !== 0) bytes[at] = rng.int(256);
        }
        writeFileSync(file, bytes);
        expect = 'ok';
      } else {
        rmSync(file);
        expect = { error: DatasetFileMissingError };
      }
      try {
        const data = await loadCifar10(dir, { strict: false, validationSize: 2 });
        if (typeof expect === 'object') assert.fail(`${kind} of ${name} loaded, expected ${expect.error.name}`);
        for (const split of [data.train, data.validation, data.test!]) {
          assert.ok(split.labels.every((l) => l <= 9));
          assert.equal(split.images.length, split.count * 3072);
        }
        seen.set('ok', (seen.get('ok') ?? 0) + 1);
      } catch (err) {
        const known = [DatasetTruncatedError, DatasetCorruptError, DatasetFileMissingError, DatasetOptionError];
        assert.ok(known.some((k) => err instanceof k), `${kind} of ${name} threw ${String(err)}`);
        assert.ok((err as Error).message.includes(file), `${kind}: message does not name ${file}: ${(err as Error).message}`);
        if (expect === 'ok') assert.fail(`${kind} of ${name} should load, threw ${String(err)}`);
        if (typeof expect === 'object') {
          assert.ok(err instanceof expect.error, `${kind} of ${name}: expected ${expect.error.name}, got ${String(err)}`);
          if (expect.offset !== undefined) assert.equal((err as DatasetTruncatedError).offset, expect.offset, `${kind} of ${name}`);
        }
        seen.set((err as Error).name, (seen.get((err as Error).name) ?? 0) + 1);
      } finally {
        writeFileSync(file, orig);
      }
    }
    // The fuzz must actually reach every outcome.
    for (const outcome of ['ok', 'DatasetTruncatedError', 'DatasetCorruptError', 'DatasetFileMissingError']) {
      assert.ok((seen.get(outcome) ?? 0) > 0, `no ${outcome} in ${JSON.stringify([...seen])}`);
    }
  } finally {
    cleanup();
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
