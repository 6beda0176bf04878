/**
 * Image data sets for NASNet search and training: CIFAR-10 from its official
 * binary files, MNIST from the `mnist` package (built in), and a seeded
 * synthetic set for tests; plus batching with the paper's CIFAR
 * augmentation. Pure TypeScript over typed arrays: pixels stay bytes until
 * `batches()` standardises one batch at a time; nothing is ever downloaded.
 *
 * ```ts
 * import { loadDataset, batches } from '@nasnet/data';
 * import { Rng } from '@nasnet/random';
 * const data = await loadDataset('cifar10:/data/cifar-10-batches-bin');
 * const rng = new Rng(7);
 * for (const { x, y, shape } of batches(data.train, { batchSize: 32, stats: data.stats, shuffle: true, rng, augment: true })) {
 *   // tf.tensor4d(x, shape), tf.tensor1d(y, 'int32') ...
 * }
 * ```
 */
export { channelStats, emptySplit, makeSplit } from './dataset.js';
export type { ChannelStats, ImageDataset, ImageSplit } from './dataset.js';
export {
  CIFAR10_CLASS_NAMES, CIFAR10_RECORD_BYTES, CIFAR10_RECORDS_PER_FILE, CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES, CIFAR10_VALIDATION_SIZE, loadCifar10,
} from './cifar10.js';
export type { Cifar10Options } from './cifar10.js';
export { MNIST_COUNT, MNIST_SIZE, MNIST_SPLIT_SEED, MNIST_TRAIN_COUNT, MNIST_VALIDATION_COUNT, loadMnist } from './mnist.js';
export type { MnistOptions } from './mnist.js';
export { defaultSyntheticOptions, syntheticDataset } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
export { CIFAR10_CUTOUT_SIZE, CIFAR_AUGMENT, batchCount, batches } from './batches.js';
export type { AugmentOptions, Batch, BatchOptions } from './batches.js';
export { DATASET_SPECS, loadDataset } from './load.js';
export type { LoadDatasetOptions } from './load.js';
export { PathOutsideRootError, PathRootUnsetError, confineDataset, confinePath } from './confine.js';
export {
  DatasetCorruptError, DatasetFileMissingError, DatasetOptionError, DatasetSpecError, DatasetTruncatedError,
} from './errors.js';
