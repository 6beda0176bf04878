/**
 * Error classes of the network lib, one per failure. Each names the place it
 * refers to (an option field, a cell and block, a file) as a property as well
 * as in its message.
 */

/** A network option has a value the builder cannot use. */
export class InvalidNetworkOptionError extends Error {
  /** Option name, e.g. `filters`. */
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, reason: string, options?: ErrorOptions) {
    super(`network option ${field} = ${JSON.stringify(value)}: ${reason}`, options);
    this.name = 'InvalidNetworkOptionError';
    this.field = field;
    this.value = value;
  }
}

/**
 * A cell of the genotype cannot be wired into a network: a state index out
 * of range, an empty concat list, or shapes that cannot meet.
 */
export class CellConstructionError extends Error {
  /** Where: e.g. `normal cell 3, block 2, input 1` or `reduction cell 7, concat`. */
  readonly where: string;
  readonly reason: string;

  constructor(where: string, reason: string, options?: ErrorOptions) {
    super(`${where}: ${reason}`, options);
    this.name = 'CellConstructionError';
    this.where = where;
    this.reason = reason;
  }
}

/** The network's spatial size shrinks below what a layer needs (e.g. the auxiliary head's 5x5 pool). */
export class FeatureMapTooSmallError extends Error {
  /** Layer that does not fit. */
  readonly layer: string;

  constructor(layer: string, reason: string, options?: ErrorOptions) {
    super(`layer ${layer}: ${reason}`, options);
    this.name = 'FeatureMapTooSmallError';
    this.layer = layer;
  }
}

/** A saved model folder could not be read back (missing file, bad JSON, wrong weight byte count). */
export class ModelLoadError extends Error {
  /** File that was being read. */
  readonly file: string;

  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`cannot load model from ${file}: ${reason}`, options);
    this.name = 'ModelLoadError';
    this.file = file;
  }
}

/** A model could not be written to a folder. */
export class ModelSaveError extends Error {
  /** File that was being written. */
  readonly file: string;

  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`cannot save model to ${file}: ${reason}`, options);
    this.name = 'ModelSaveError';
    this.file = file;
  }
}

/** Weights cannot move from one model into another (copyWeights): a layer is missing or its shapes differ. */
export class WeightCopyError extends Error {
  /** The target layer. */
  readonly layer: string;

  constructor(layer: string, reason: string, options?: ErrorOptions) {
    super(`cannot copy weights into layer ${layer}: ${reason}`, options);
    this.name = 'WeightCopyError';
    this.layer = layer;
  }
}
