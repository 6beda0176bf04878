import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';
import { channelStats, emptySplit, intOption, makeSplit } from './dataset.js';
import type { ImageDataset, ImageSplit } from './dataset.js';
import { DatasetCorruptError, DatasetFileMissingError, DatasetOptionError, DatasetTruncatedError } from './errors.js';

/** CIFAR-10 binary version: https://www.cs.toronto.edu/~kriz/cifar.html ("Binary version"). */
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR10_TEST_FILE = 'test_batch.bin';
/** 1 label byte + 32 x 32 x 3 pixel bytes (R plane, then G, then B; each row-major). */
export const CIFAR10_RECORD_BYTES = 1 + 32 * 32 * 3;
/** Every official batch file holds exactly 10,000 records. */
export const CIFAR10_RECORDS_PER_FILE = 10_000;
/** NASNet paper, section 4: 5,000 training images held out to compute the reward. */
export const CIFAR10_VALIDATION_SIZE = 5_000;
/** batches.meta.txt of the binary release, in label order. */
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;
/** The folder name the official tarball unpacks to; looked into when the named folder lacks the files. */
const TARBALL_FOLDER = 'cifar-10-batches-bin';

const PLANE = 32 * 32;
const IMAGE_BYTES = PLANE * 3;

export interface Cifar10Options {
  /**
   * How many training images to hold out for validation: the LAST
   * `validationSize` records of data_batch_1..5 read in order (the default
   * 5,000 is records 5,000..9,999 of data_batch_5.bin, as in the ENAS
   * reference code's `images["train"][-num_valids:]`); training gets the
   * records before them. Must be smaller than the training files' total.
   * @default 5000
   */
  validationSize?: number;
  /** Keep only the first `maxTrain` training images (quick runs). @default all */
  maxTrain?: number;
  /** Keep only the first `maxValidation` of the held-out images. @default all */
  maxValidation?: number;
  /** Keep only the first `maxTest` images of test_batch.bin. @default all */
  maxTest?: number;
  /** Read test_batch.bin into `test`. @default true */
  loadTest?: boolean;
  /**
   * Require every file to hold exactly 10,000 records, as the official ones
   * do. With `false` any whole, non-zero number of records is accepted
   * (tests and trimmed copies). Partial records are an error either way.
   * @default true
   */
  strict?: boolean;
}

/**
 * Loads CIFAR-10 from its official binary files in `folder` (or in its
 * `cifar-10-batches-bin/` subfolder) and converts each record's planar
 * R/G/B bytes to NHWC. The split is deterministic: training = data_batch_1..5
 * records [0, total - validationSize), validation = the rest; test_batch.bin
 * is kept apart. Every label byte of every file is checked, even of records
 * a `max*` option drops. Standardisation stats come from the kept training
 * images only.
 */
export async function loadCifar10(folder: string, options: Cifar10Options = {}): Promise<ImageDataset> {
  const strict = options.strict ?? true;
  const loadTest = options.loadTest ?? true;
  const expected = loadTest ? [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE] : [...CIFAR10_TRAIN_FILES];
  const dir = await resolveFolder(folder, expected);

  // Sizes first: a truncated file fails before 150 MB are read.
  const trainPaths = CIFAR10_TRAIN_FILES.map((name) => join(dir, name));
  const trainRecords: number[] = [];
  for (const path of trainPaths) trainRecords.push(recordCount(path, (await statFile(path, dir, expected)).size, strict));
  const testPath = join(dir, CIFAR10_TEST_FILE);
  const testRecords = loadTest ? recordCount(testPath, (await statFile(testPath, dir, expected)).size, strict) : 0;

  const total = trainRecords.reduce((a, b) => a + b, 0);
  const validationSize = intOption('validationSize', options.validationSize, CIFAR10_VALIDATION_SIZE);
  if (validationSize >= total) {
    throw new DatasetOptionError('validationSize', `must leave at least one training image: it is ${validationSize} but the training files hold ${total} images`);
  }
  const trainTotal = total - validationSize;
  const trainKeep = Math.min(trainTotal, intOption('maxTrain', options.maxTrain, trainTotal));
  const validationKeep = Math.min(validationSize, intOption('maxValidation', options.maxValidation, validationSize));
  const testKeep = Math.min(testRecords, intOption('maxTest', options.maxTest, testRecords));

  const train = newBuffers(trainKeep);
  const validation = newBuffers(validationKeep);
  let first = 0; // global index of the file's first record
  for (let f = 0; f < trainPaths.length; f++) {
    const bytes = await readBytes(trainPaths[f]!, dir, expected);
    const n = recordCount(trainPaths[f]!, bytes.length, strict); // the file may have changed since stat
    checkLabels(trainPaths[f]!, bytes, n);
    // Records [first, first + n) of the concatenation; copy the ones kept.
    const trainEnd = Math.min(first + n, trainKeep);
    if (trainEnd > first) decodeInto(bytes, 0, trainEnd - first, train, first);
    const vFrom = Math.max(first, trainTotal);
    const vTo = Math.min(first + n, trainTotal + validationKeep);
    if (vTo > vFrom) decodeInto(bytes, vFrom - first, vTo - vFrom, validation, vFrom - trainTotal);
    first += n;
  }
  if (first !== total) {
    throw new DatasetOptionError('folder', `changed while it was read: the training files now hold ${first} records, ${total} at first`);
  }

  let test: ImageSplit | undefined;
  if (loadTest) {
    const bytes = await readBytes(testPath, dir, expected);
    const n = recordCount(testPath, bytes.length, strict);
    checkLabels(testPath, bytes, n);
    const keep = Math.min(n, testKeep);
    const buffers = newBuffers(keep);
    decodeInto(bytes, 0, keep, buffers, 0);
    test = makeSplit(keep, 32, 32, 3, buffers.images, buffers.labels);
  }

  const trainSplit = makeSplit(trainKeep, 32, 32, 3, train.images, train.labels);
  return {
    name: 'cifar10',
    height: 32, width: 32, channels: 3,
    numClasses: 10,
    classNames: CIFAR10_CLASS_NAMES,
    train: trainSplit,
    validation: validationKeep > 0 ? makeSplit(validationKeep, 32, 32, 3, validation.images, validation.labels) : emptySplit(32, 32, 3),
    ...(test ? { test } : {}),
    stats: channelStats(trainSplit),
  };
}

/**
 * Converts `count` records starting at record `from` of a batch file into
 * NHWC bytes at image `to` of the destination. One pass per record, reading
 * the three planes in step, so writes are sequential.
 */
function decodeInto(bytes: Uint8Array, from: number, count: number, dst: Buffers, to: number): void {
  const { images, labels } = dst;
  for (let r = 0; r < count; r++) {
    const rec = (from + r) * CIFAR10_RECORD_BYTES;
    labels[to + r] = bytes[rec]!;
    const red = rec + 1, green = red + PLANE, blue = green + PLANE;
    let o = (to + r) * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++) {
      images[o++] = bytes[red + p]!;
      images[o++] = bytes[green + p]!;
      images[o++] = bytes[blue + p]!;
    }
  }
}

interface Buffers { images: Uint8Array; labels: Uint8Array }

function newBuffers(count: number): Buffers {
  return { images: new Uint8Array(count * IMAGE_BYTES), labels: new Uint8Array(count) };
}

function checkLabels(file: string, bytes: Uint8Array, records: number): void {
  for (let r = 0; r < records; r++) {
    const offset = r * CIFAR10_RECORD_BYTES;
    const label = bytes[offset]!;
    if (label > 9) throw new DatasetCorruptError(file, offset, r, `label byte ${label} is not a CIFAR-10 class (0..9)`);
  }
}

/** Number of whole records in a file of `size` bytes, or the error that describes why it is wrong. */
function recordCount(file: string, size: number, strict: boolean): number {
  const whole = Math.floor(size / CIFAR10_RECORD_BYTES);
  if (size % CIFAR10_RECORD_BYTES !== 0) {
    throw new DatasetTruncatedError(file, whole * CIFAR10_RECORD_BYTES, whole,
      `${size} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte records; the last record has only ${size % CIFAR10_RECORD_BYTES} bytes`);
  }
  if (whole === 0) throw new DatasetTruncatedError(file, 0, 0, 'the file is empty');
  if (strict && whole < CIFAR10_RECORDS_PER_FILE) {
    throw new DatasetTruncatedError(file, size, whole,
      `it holds ${whole} records, an official batch holds ${CIFAR10_RECORDS_PER_FILE} (pass strict: false to accept smaller files)`);
  }
  if (strict && whole > CIFAR10_RECORDS_PER_FILE) {
    const offset = CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD_BYTES;
    throw new DatasetCorruptError(file, offset, CIFAR10_RECORDS_PER_FILE,
      `it holds ${whole} records, more than the ${CIFAR10_RECORDS_PER_FILE} of an official batch (pass strict: false to accept other sizes)`);
  }
  return whole;
}

async function resolveFolder(folder: string, expected: readonly string[]): Promise<string> {
  let st: Stats;
  try {
    st = await stat(folder);
  } catch (err) {
    throw new DatasetFileMissingError(folder, 'folder', folder, expected, why(err), { cause: err });
  }
  if (!st.isDirectory()) throw new DatasetFileMissingError(folder, 'folder', folder, expected, 'is not a directory');
  // Accept the folder the tarball was unpacked in as well as the one it creates.
  if (!(await exists(join(folder, expected[0]!))) && (await exists(join(folder, TARBALL_FOLDER, expected[0]!)))) {
    return join(folder, TARBALL_FOLDER);
  }
  return folder;
}

async function exists(path: string): Promise<boolean> {
  try { await stat(path); return true; } catch { return false; }
}

async function statFile(path: string, dir: string, expected: readonly string[]): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    throw new DatasetFileMissingError(path, 'file', dir, expected, why(err), { cause: err });
  }
  if (!st.isFile()) throw new DatasetFileMissingError(path, 'file', dir, expected, 'is not a regular file');
  return st;
}

async function readBytes(path: string, dir: string, expected: readonly string[]): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new DatasetFileMissingError(path, 'file', dir, expected, why(err), { cause: err });
  }
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
}
