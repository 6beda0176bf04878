/**
 * One error class per way a data set can fail to load or be used. Each
 * message names the file (or option) and, for file contents, the byte offset.
 */

/** A folder or file a loader needs does not exist (or is not what it should be). */
export class DatasetFileMissingError extends Error {
  readonly path: string;
  readonly expected: readonly string[];
  /** `expected` lists the file names the loader needs, in `folder`. */
  constructor(path: string, what: 'folder' | 'file', folder: string, expected: readonly string[], reason: string, options?: ErrorOptions) {
    super(`dataset ${what} ${path} ${reason}; expected the files ${expected.join(', ')} in ${folder}`, options);
    this.name = 'DatasetFileMissingError';
    this.path = path;
    this.expected = expected;
  }
}

/** A file ends inside a record, or holds fewer records than required. */
export class DatasetTruncatedError extends Error {
  readonly file: string;
  /** Byte offset where the incomplete (or first missing) record starts. */
  readonly offset: number;
  /** Index of that record within the file. */
  readonly record: number;
  constructor(file: string, offset: number, record: number, detail: string, options?: ErrorOptions) {
    super(`dataset file ${file} is truncated at byte offset ${offset} (record ${record}): ${detail}`, options);
    this.name = 'DatasetTruncatedError';
    this.file = file;
    this.offset = offset;
    this.record = record;
  }
}

/** A file's bytes are not valid data: a label out of range, a pixel out of range, extra records. */
export class DatasetCorruptError extends Error {
  readonly file: string;
  /** Offset of the offending datum: bytes for binary files, array index for JSON ones. */
  readonly offset: number;
  /** Index of the record within the file that holds it. */
  readonly record: number;
  constructor(file: string, offset: number, record: number, detail: string, options?: ErrorOptions & { unit?: 'byte' | 'value' }) {
    super(`dataset file ${file} is corrupt at ${options?.unit ?? 'byte'} offset ${offset} (record ${record}): ${detail}`, options);
    this.name = 'DatasetCorruptError';
    this.file = file;
    this.offset = offset;
    this.record = record;
  }
}

/** `loadDataset` was given a spec it does not understand. */
export class DatasetSpecError extends Error {
  readonly spec: string;
  constructor(spec: string, detail: string, options?: ErrorOptions) {
    super(`unknown data set spec '${spec}': ${detail}; accepted forms: 'mnist', 'synthetic', 'cifar10:/path/to/folder'`, options);
    this.name = 'DatasetSpecError';
    this.spec = spec;
  }
}

/** An option has a value the loader or batcher cannot honour. */
export class DatasetOptionError extends Error {
  readonly option: string;
  constructor(option: string, detail: string, options?: ErrorOptions) {
    super(`data set option ${option} ${detail}`, options);
    this.name = 'DatasetOptionError';
    this.option = option;
  }
}
