/**
 * Error classes of the transfer lib, one per failure. Each names what was
 * wrong and where (a spec field, a folder, a file) as a property as well as
 * in its message.
 */

/** A transfer spec field has a value the transfer cannot use. */
export class TransferSpecError extends Error {
  /** Dotted field path in TransferJob terms, e.g. `recipe.batchSize` or `size.budgetParams`. */
  readonly field: string;
  /** What is wrong, without the field. */
  readonly reason: string;

  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`transfer spec field ${field}: ${reason}`, options);
    this.name = 'TransferSpecError';
    this.field = field;
    this.reason = reason;
  }
}

/** No N@F in the searched range fits the parameter or mult-add budget. */
export class NoSizeFitsError extends Error {
  /** `budgetParams` or `budgetMultAdds`. */
  readonly field: 'budgetParams' | 'budgetMultAdds';
  readonly budget: number;
  /** The smallest size searched, with its count of the budgeted quantity. */
  readonly smallest: { cells: number; filters: number; count: number };

  constructor(field: 'budgetParams' | 'budgetMultAdds', budget: number, smallest: { cells: number; filters: number; count: number }, options?: ErrorOptions) {
    const unit = field === 'budgetParams' ? 'parameters' : 'mult-adds';
    super(
      `${field} ${budget.toLocaleString('en-US')}: no network fits; the smallest size searched, ` +
        `${smallest.cells}@${smallest.filters}, has ${smallest.count.toLocaleString('en-US')} ${unit}`,
      options,
    );
    this.name = 'NoSizeFitsError';
    this.field = field;
    this.budget = budget;
    this.smallest = smallest;
  }
}

/** The image folder (or a train/val sub-folder) does not exist or is not a folder. */
export class ImageFolderMissingError extends Error {
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`image folder ${path} ${reason}`, options);
    this.name = 'ImageFolderMissingError';
    this.path = path;
  }
}

/** The image folder holds no class sub-folders. */
export class NoImageClassesError extends Error {
  readonly path: string;

  constructor(path: string, options?: ErrorOptions) {
    super(`image folder ${path} has no class sub-folders; expected one folder of JPEG files per class (e.g. ${path}/cat/1.jpg)`, options);
    this.name = 'NoImageClassesError';
    this.path = path;
  }
}

/** A class sub-folder holds no JPEG files. */
export class EmptyClassFolderError extends Error {
  readonly path: string;

  constructor(path: string, options?: ErrorOptions) {
    super(`class folder ${path} holds no JPEG files (.jpg or .jpeg)`, options);
    this.name = 'EmptyClassFolderError';
    this.path = path;
  }
}

/** A held-out split (val/ or test/) names a class the training folder lacks. */
export class UnknownImageClassError extends Error {
  readonly path: string;

  constructor(path: string, classes: readonly string[], options?: ErrorOptions) {
    super(`class folder ${path} is not one of the training classes (${classes.slice(0, 10).join(', ')}${classes.length > 10 ? ', ...' : ''})`, options);
    this.name = 'UnknownImageClassError';
    this.path = path;
  }
}

/** A file could not be read or decoded as a JPEG image. */
export class ImageDecodeError extends Error {
  readonly file: string;

  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`cannot decode JPEG ${file}: ${reason}`, options);
    this.name = 'ImageDecodeError';
    this.file = file;
  }
}

/** The loss became NaN or infinite while training the transferred network. */
export class TransferDivergedError extends Error {
  constructor(reason: string, options?: ErrorOptions) {
    super(`transfer training diverged: ${reason}`, options);
    this.name = 'TransferDivergedError';
  }
}
