import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { DatasetOptionError, channelStats, emptySplit, makeSplit } from '@nasnet/data';
import type { ImageDataset, ImageSplit } from '@nasnet/data';
import { Rng, deriveSeed } from '@nasnet/random';
import {
  EmptyClassFolderError, ImageDecodeError, ImageFolderMissingError, NoImageClassesError, UnknownImageClassError,
} from './errors.js';
import { resizeImage } from './resize.js';
import type { CropMode } from './resize.js';

/** File name endings read as JPEG images (case-insensitive). */
export const IMAGE_FOLDER_EXTENSIONS: readonly string[] = Object.freeze(['.jpg', '.jpeg']);
/** Sub-folder names that hold a held-out test split next to `train/`, in the order looked for. */
export const IMAGE_FOLDER_TEST_DIRS: readonly string[] = Object.freeze(['val', 'test']);
/** Share of each class's training images held out for validation by default (CIFAR-10's is 5,000 / 50,000). */
export const DEFAULT_VALIDATION_FRACTION = 0.1;

export interface ImageFolderOptions {
  /** Side of the square images after resizing. @default 224 (the paper's ImageNet size) */
  imageSize?: number;
  /** Share of every class's training images held out for validation, in [0, 1). @default 0.1 */
  validationFraction?: number;
  /** Seeds which images of a class are held out. @default 0 */
  seed?: number;
  /** Read at most this many files per class and split, first by name (0 = all). @default 0 */
  maxPerClass?: number;
  /** `center`: largest centred square, then resize; `stretch`: resize the whole image. @default 'center' */
  crop?: CropMode;
  /** Data set name in the result. @default 'imagefolder' */
  name?: string;
}

/** What is in an image folder, found without decoding anything. */
export interface ImageFolderListing {
  /** Class names (sub-folder names), sorted: label k is classNames[k]. */
  classNames: string[];
  /** Folder holding the training class folders (`dir` or `dir/train`). */
  trainDir: string;
  /** Folder holding the test class folders (`dir/val` or `dir/test`), when present. */
  testDir?: string;
  /** JPEG files per class, sorted by name, before maxPerClass. */
  trainFiles: string[][];
  testFiles?: string[][];
}

function isJpeg(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith('.') && IMAGE_FOLDER_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

async function isDir(path: string): Promise<boolean> {
  try { return (await stat(path)).isDirectory(); } catch { return false; }
}

async function subFolders(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new ImageFolderMissingError(dir, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(dir, e.name))))) names.push(e.name);
  }
  return names.sort();
}

async function jpegFiles(classDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(classDir);
  } catch (err) {
    throw new ImageFolderMissingError(classDir, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const files = names.filter(isJpeg).sort();
  if (files.length === 0) throw new EmptyClassFolderError(classDir);
  return files.map((f) => join(classDir, f));
}

/**
 * Lists an image folder without decoding: either `dir/<class>/*.jpg`, or
 * ImageNet's own arrangement `dir/train/<class>/*.jpg` with a held-out
 * `dir/val/<class>/` (or `dir/test/<class>/`), used only when both `train`
 * and one of them exist. Throws when the folder is missing, has no class
 * folders, a class folder holds no JPEG, or the held-out split names a
 * class that training lacks (it may lack some of training's).
 */
export async function listImageFolder(dir: string): Promise<ImageFolderListing> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageFolderMissingError(dir, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`, { cause: err });
  }
  if (!st.isDirectory()) throw new ImageFolderMissingError(dir, 'is not a folder');
  const top = await subFolders(dir);
  const testName = IMAGE_FOLDER_TEST_DIRS.find((n) => top.includes(n));
  const split = top.includes('train') && testName !== undefined;
  const trainDir = split ? join(dir, 'train') : dir;
  const classNames = split ? await subFolders(trainDir) : top;
  if (classNames.length === 0) throw new NoImageClassesError(trainDir);
  const trainFiles: string[][] = [];
  for (const c of classNames) trainFiles.push(await jpegFiles(join(trainDir, c)));
  if (!split) return { classNames, trainDir, trainFiles };
  const testDir = join(dir, testName!);
  const testFiles: string[][] = classNames.map(() => []);
  for (const c of await subFolders(testDir)) {
    const k = classNames.indexOf(c);
    if (k < 0) throw new UnknownImageClassError(join(testDir, c), classNames);
    testFiles[k] = await jpegFiles(join(testDir, c));
  }
  return { classNames, trainDir, testDir, trainFiles, testFiles };
}

/** Decodes one JPEG file to interleaved RGB bytes (greyscale is replicated to 3 channels). */
export async function decodeJpegFile(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ImageDecodeError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  try {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
    if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
      throw new Error(`decoded ${img.width}x${img.height} with ${img.data.length} bytes`);
    }
    return { data: img.data, width: img.width, height: img.height };
  } catch (err) {
    throw new ImageDecodeError(file, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function checkOptions(options: ImageFolderOptions): Required<ImageFolderOptions> {
  const o = {
    imageSize: options.imageSize ?? 224,
    validationFraction: options.validationFraction ?? DEFAULT_VALIDATION_FRACTION,
    seed: options.seed ?? 0,
    maxPerClass: options.maxPerClass ?? 0,
    crop: options.crop ?? 'center',
    name: options.name ?? 'imagefolder',
  };
  if (!Number.isInteger(o.imageSize) || o.imageSize < 1) throw new DatasetOptionError('imageSize', `must be an integer >= 1, got ${o.imageSize}`);
  if (!(o.validationFraction >= 0 && o.validationFraction < 1)) {
    throw new DatasetOptionError('validationFraction', `must be in [0, 1), got ${o.validationFraction}`);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new DatasetOptionError('seed', `must be an integer >= 0, got ${o.seed}`);
  if (!Number.isInteger(o.maxPerClass) || o.maxPerClass < 0) throw new DatasetOptionError('maxPerClass', `must be an integer >= 0, got ${o.maxPerClass}`);
  if (o.crop !== 'center' && o.crop !== 'stretch') throw new DatasetOptionError('crop', `must be 'center' or 'stretch', got ${String(o.crop)}`);
  return o;
}

interface Entry { file: string; label: number }

async function decodeSplit(entries: readonly Entry[], o: Required<ImageFolderOptions>, numClasses: number): Promise<ImageSplit> {
  const size = o.imageSize;
  if (entries.length === 0) return emptySplit(size, size, 3);
  const px = size * size * 3;
  const images = new Uint8Array(entries.length * px);
  const labels = numClasses <= 256 ? new Uint8Array(entries.length) : new Int32Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const { file, label } = entries[i]!;
    const img = await decodeJpegFile(file);
    images.set(resizeImage(img.data, img.height, img.width, 3, size, o.crop), i * px);
    labels[i] = label;
  }
  return makeSplit(entries.length, size, size, 3, images, labels);
}

/**
 * Loads an ImageNet-style folder of JPEG files, one sub-folder per class
 * (see listImageFolder), decoded with jpeg-js and resized to imageSize x
 * imageSize x 3 bytes (NHWC), into an ImageDataset. From each class,
 * round(validationFraction x count) images chosen with `seed` go to
 * `validation`, the rest to `train`; a `val/` (or `test/`) folder becomes
 * `test`. Stats come from the training split. Everything is held in memory
 * as bytes (150 KB per 224 x 224 image): use maxPerClass for large sets.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions = {}): Promise<ImageDataset> {
  const o = checkOptions(options);
  const listing = await listImageFolder(dir);
  const numClasses = listing.classNames.length;
  const cap = (files: string[]): string[] => (o.maxPerClass > 0 ? files.slice(0, o.maxPerClass) : files);
  const train: Entry[] = [];
  const validation: Entry[] = [];
  listing.trainFiles.forEach((all, label) => {
    const files = cap(all);
    const order = files.map((_, i) => i);
    new Rng(deriveSeed(o.seed, 'validation', listing.classNames[label]!)).shuffle(order);
    const held = Math.min(files.length - 1, Math.round(o.validationFraction * files.length));
    const heldSet = new Set(order.slice(0, held));
    files.forEach((file, i) => (heldSet.has(i) ? validation : train).push({ file, label }));
  });
  const test: Entry[] = [];
  listing.testFiles?.forEach((files, label) => cap(files).forEach((file) => test.push({ file, label })));

  const trainSplit = await decodeSplit(train, o, numClasses);
  const validationSplit = await decodeSplit(validation, o, numClasses);
  const testSplit = listing.testFiles ? await decodeSplit(test, o, numClasses) : undefined;
  return {
    name: o.name,
    height: o.imageSize,
    width: o.imageSize,
    channels: 3,
    numClasses,
    classNames: listing.classNames,
    train: trainSplit,
    validation: validationSplit,
    ...(testSplit ? { test: testSplit } : {}),
    stats: channelStats(trainSplit),
  };
}
