/**
 * The transfer step (Zoph et al. 2017, section 4): stack a found cell into a
 * CIFAR- or ImageNet-layout network of size N@F - given, or the largest that
 * fits a parameter or mult-add budget - train it with the paper's final
 * recipe, evaluate it on the test split and export it (TensorFlow.js format).
 *
 * ```ts
 * import { NASNET_A } from '@nasnet/search-space';
 * import { chooseSize, runTransfer } from '@nasnet/transfer';
 * chooseSize({ genotype: NASNET_A, layout: 'imagenet', imageSize: 224, numClasses: 1000, budgetParams: 5_300_000 });
 * // { cells: 4, filters: 1056, initialFilters: 44, paramCount: 5289978, multAdds: 563638816 }
 *
 * // After initBackend() (import '@nasnet/network' first):
 * const r = await runTransfer(
 *   { genotype: NASNET_A, layout: 'cifar', size: { budgetParams: 3_366_000 }, dataset: 'cifar10:/data/cifar', exportPath: 'out/model' },
 *   { onProgress: (p) => console.log(p.epoch, p.loss) },
 * );
 * r.testAccuracy; // on test_batch.bin
 * ```
 *
 * Data sets: `cifar10:<dir>` (official binary files), `imagefolder:<dir>`
 * (one sub-folder of JPEG files per class, optionally `train/` + `val/`),
 * `mnist`, `synthetic`.
 */
export { DEFAULT_CELLS_OPTIONS, MAX_INITIAL_FILTERS, chooseSize, defaultFilterStep, fixedSize, formatSize } from './size.js';
export type { ChooseSizeOptions, FixedSizeOptions, NetworkSize, SizeNetworkOptions } from './size.js';
export {
  DEFAULT_VALIDATION_FRACTION, IMAGE_FOLDER_EXTENSIONS, IMAGE_FOLDER_TEST_DIRS, decodeJpegFile, listImageFolder, loadImageFolder,
} from './image-folder.js';
export type { ImageFolderListing, ImageFolderOptions } from './image-folder.js';
export { resizeImage } from './resize.js';
export type { CropMode } from './resize.js';
export { IMAGENET_EPOCHS, TRANSFER_DATASET_SPECS, checkTransferJob, defaultTransferRecipe, resolveTransferRecipe } from './job.js';
export type { TransferDatasetOptions, TransferJob, TransferRecipe, TransferSize } from './job.js';
export { describeTransferDataset, loadTransferDataset, transferAugment } from './dataset.js';
export type { TransferDatasetShape } from './dataset.js';
export { planTransfer, runTransfer } from './run.js';
export { DEFAULT_TRANSFER_LIMITS, TransferLimitError, TransferLimitsFileError, checkTransferLimits, parseTransferLimits } from './limits.js';
export type { TransferLimits } from './limits.js';
export type { RunTransferHooks, TransferOutcome, TransferPlan, TransferProgressInfo } from './run.js';
export {
  EmptyClassFolderError, ImageDecodeError, ImageFolderMissingError, NoImageClassesError, NoSizeFitsError,
  TransferDivergedError, TransferSpecError, UnknownImageClassError,
} from './errors.js';
