import { stat } from 'node:fs/promises';
import { CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, DatasetFileMissingError, MNIST_SIZE, defaultSyntheticOptions, loadDataset } from '@nasnet/data';
import type { AugmentOptions, ImageDataset } from '@nasnet/data';
import type { NetworkLayout } from '@nasnet/network';
import { TransferSpecError } from './errors.js';
import { listImageFolder, loadImageFolder } from './image-folder.js';
import type { TransferDatasetOptions } from './job.js';

/** The shape of a transfer's data set, known before any image is decoded. */
export interface TransferDatasetShape {
  /** `cifar10`, `imagefolder`, `mnist` or `synthetic`. */
  kind: 'cifar10' | 'imagefolder' | 'mnist' | 'synthetic';
  /** The folder of `cifar10:` and `imagefolder:` specs. */
  folder?: string;
  imageSize: number;
  channels: number;
  numClasses: number;
}

// The layouts' input sizes (reference default_image_size: 32, 224 and 331 for nasnet_large).
const IMAGE_FOLDER_DEFAULT_SIZE: Record<NetworkLayout, number> = { cifar: 32, imagenet: 224, 'imagenet-large': 331 };

function parseSpec(spec: string): { kind: string; folder: string } {
  const trimmed = spec.trim();
  const colon = trimmed.indexOf(':');
  return colon < 0 ? { kind: trimmed, folder: '' } : { kind: trimmed.slice(0, colon), folder: trimmed.slice(colon + 1) };
}

/**
 * Reads what a data-set spec will give without loading it: image size,
 * channels, classes (an image folder is listed, not decoded). `imageSize`
 * (0 = default) resizes image folders only; for the other kinds it must be
 * 0 or their own size.
 */
export async function describeTransferDataset(
  spec: string, options: { layout?: NetworkLayout; imageSize?: number; datasetOptions?: TransferDatasetOptions } = {},
): Promise<TransferDatasetShape> {
  const { kind, folder } = parseSpec(spec);
  const requested = options.imageSize ?? 0;
  const fixed = (shape: TransferDatasetShape): TransferDatasetShape => {
    if (requested !== 0 && requested !== shape.imageSize) {
      throw new TransferSpecError('recipe.imageSize', `${kind} images are ${shape.imageSize}x${shape.imageSize}; only imagefolder data sets are resized (got ${requested})`);
    }
    return shape;
  };
  switch (kind) {
    case 'cifar10':
      if (folder === '') throw new TransferSpecError('dataset', 'cifar10 needs its folder after the colon: cifar10:/path/to/folder');
      {
        const shape = fixed({ kind, folder, imageSize: 32, channels: 3, numClasses: 10 });
        // Only the folder is checked here; loadCifar10 checks every file when the transfer runs.
        const isDir = await stat(folder).then((st) => st.isDirectory(), () => false);
        if (!isDir) throw new DatasetFileMissingError(folder, 'folder', folder, [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE], 'does not exist or is not a folder');
        return shape;
      }
    case 'imagefolder': {
      if (folder === '') throw new TransferSpecError('dataset', 'imagefolder needs its folder after the colon: imagefolder:/path/to/folder');
      const listing = await listImageFolder(folder);
      const imageSize = requested || IMAGE_FOLDER_DEFAULT_SIZE[options.layout ?? 'cifar'];
      return { kind, folder, imageSize, channels: 3, numClasses: listing.classNames.length };
    }
    case 'mnist':
      if (folder !== '') throw new TransferSpecError('dataset', 'mnist takes no argument');
      return fixed({ kind, imageSize: MNIST_SIZE, channels: 1, numClasses: 10 });
    case 'synthetic': {
      if (folder !== '') throw new TransferSpecError('dataset', 'synthetic takes no argument');
      const s = { ...defaultSyntheticOptions(0), ...options.datasetOptions?.synthetic };
      if (s.height !== s.width) throw new TransferSpecError('dataset', `synthetic images must be square, got ${s.height}x${s.width}`);
      return fixed({ kind, imageSize: s.height, channels: s.channels, numClasses: s.numClasses });
    }
    default:
      throw new TransferSpecError('dataset', `'${spec.trim().slice(0, 80)}' is not one of cifar10:PATH, imagefolder:PATH, mnist, synthetic`);
  }
}

/** Loads the data set a spec names (image folders resized to `imageSize` and split with `seed`). */
export async function loadTransferDataset(shape: TransferDatasetShape, seed: number, datasetOptions: TransferDatasetOptions = {}): Promise<ImageDataset> {
  switch (shape.kind) {
    case 'imagefolder':
      return loadImageFolder(shape.folder!, { ...datasetOptions.imageFolder, imageSize: shape.imageSize, seed });
    case 'cifar10':
      return loadDataset(`cifar10:${shape.folder!}`, datasetOptions);
    default:
      return loadDataset(shape.kind, datasetOptions);
  }
}

/**
 * Training augmentation per data set. CIFAR-10: 4-pixel pad + crop and flip
 * (paper), plus cutout when the recipe asks. MNIST: 2-pixel shifts, no flip
 * (as the search trainer). Image folders: the same crop-and-flip with the
 * padding scaled to the image (size / 8, CIFAR's 4 of 32) - ours, not the
 * paper's Inception preprocessing. Synthetic: none.
 */
export function transferAugment(shape: TransferDatasetShape, cutout: number): AugmentOptions | false {
  const c = { cutout };
  switch (shape.kind) {
    case 'cifar10': return { padding: 4, flip: true, ...c };
    case 'mnist': return { padding: 2, flip: false, ...c };
    case 'imagefolder': return { padding: Math.max(1, Math.round(shape.imageSize / 8)), flip: true, ...c };
    case 'synthetic': return cutout > 0 ? { padding: 0, flip: false, ...c } : false;
  }
}
