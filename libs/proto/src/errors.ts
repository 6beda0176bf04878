/**
 * Errors raised when converting between the wire types of nas.v1 and the
 * domain types of @nasnet/search-space. Every error names the field it is
 * about, as a path from the genotype (e.g. `normal.blocks[3].op2`), so a
 * service can return it to the caller unchanged (gRPC INVALID_ARGUMENT).
 */

/** Base class: catch this to handle every conversion failure at once. */
export class ProtoConversionError extends Error {
  /** Path of the offending field, e.g. `reduction.blocks[0].combine`. */
  readonly field: string;

  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.name = 'ProtoConversionError';
    this.field = field;
  }
}

/** A message field that must be present was not set (e.g. a genotype without its normal cell). */
export class MissingFieldError extends ProtoConversionError {
  constructor(field: string, what: string, options?: ErrorOptions) {
    super(field, `missing ${what}`, options);
    this.name = 'MissingFieldError';
  }
}

/** An enum field held its *_UNSPECIFIED (0) value where a real value is required. */
export class UnspecifiedEnumError extends ProtoConversionError {
  constructor(field: string, enumName: string, zeroName: string, options?: ErrorOptions) {
    super(field, `${enumName} is unspecified (${zeroName} = 0)`, options);
    this.name = 'UnspecifiedEnumError';
  }
}

/**
 * An enum field held a number this version of the contract does not define
 * (a newer sender, or corrupt data; proto3 decoders keep such numbers as is).
 */
export class UnknownEnumError extends ProtoConversionError {
  readonly value: number;

  constructor(field: string, enumName: string, value: number, options?: ErrorOptions) {
    super(field, `unknown ${enumName} enum ${value}`, options);
    this.name = 'UnknownEnumError';
    this.value = value;
  }
}

/** A domain genotype held an operation or combine name that is not in the search space. */
export class UnknownNameError extends ProtoConversionError {
  constructor(field: string, kind: string, name: unknown, options?: ErrorOptions) {
    super(field, `unknown ${kind} name ${JSON.stringify(name) ?? String(name)}`, options);
    this.name = 'UnknownNameError';
  }
}
