import { loadCifar10 } from './cifar10.js';
import type { Cifar10Options } from './cifar10.js';
import type { ImageDataset } from './dataset.js';
import { DatasetSpecError } from './errors.js';
import { loadMnist } from './mnist.js';
import type { MnistOptions } from './mnist.js';
import { syntheticDataset } from './synthetic.js';
import type { SyntheticOptions } from './synthetic.js';

export interface LoadDatasetOptions {
  /** Options for `cifar10:<folder>`. */
  cifar10?: Cifar10Options;
  /** Options for `mnist`. */
  mnist?: MnistOptions;
  /** Options for `synthetic`; `seed` defaults to `seed` below. */
  synthetic?: Partial<SyntheticOptions>;
  /** Seed of the synthetic data set and of MNIST's split, unless their own options name one. @default 0 for synthetic, MNIST_SPLIT_SEED for mnist */
  seed?: number;
}

/** The data set kinds `loadDataset` accepts, as written in a spec. */
export const DATASET_SPECS = ['mnist', 'synthetic', 'cifar10:/path/to/folder'] as const;

/**
 * Loads a data set named by a spec string, as a user writes it on a command
 * line or in a search config: `mnist`, `synthetic`, or `cifar10:<folder>`
 * (the folder holding data_batch_1.bin..data_batch_5.bin and test_batch.bin;
 * relative paths resolve against the working directory).
 */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<ImageDataset> {
  const trimmed = spec.trim();
  if (trimmed === 'mnist') {
    const seed = options.mnist?.seed ?? options.seed;
    return loadMnist({ ...options.mnist, ...(seed !== undefined ? { seed } : {}) });
  }
  if (trimmed === 'synthetic') {
    return syntheticDataset({ ...options.synthetic, seed: options.synthetic?.seed ?? options.seed ?? 0 });
  }
  const colon = trimmed.indexOf(':');
  const kind = colon < 0 ? trimmed : trimmed.slice(0, colon);
  if (kind === 'cifar10') {
    const folder = colon < 0 ? '' : trimmed.slice(colon + 1);
    if (folder === '') throw new DatasetSpecError(spec, 'cifar10 needs the folder that holds its binary files after the colon');
    return loadCifar10(folder, options.cifar10);
  }
  if (kind === 'mnist' || kind === 'synthetic') throw new DatasetSpecError(spec, `${kind} takes no argument`);
  throw new DatasetSpecError(spec, trimmed === '' ? 'the spec is empty' : `'${kind}' is not a known data set`);
}
