/** A cell that cannot be drawn: a block reads a state that does not exist
 *  (yet), the concat list names one, or an operation is unknown. `path`
 *  names the field, e.g. `reduction.blocks[3].inputs[1]`. */
export class UndrawableCellError extends Error {
  readonly path: string;
  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`cannot draw cell: ${path} ${problem}`, options);
    this.name = 'UndrawableCellError';
    this.path = path;
  }
}

/** A reward point that cannot be plotted (non-finite child or reward). */
export class InvalidRewardPointError extends Error {
  readonly index: number;
  constructor(index: number, field: string, value: unknown, options?: ErrorOptions) {
    super(`cannot plot rewards: points[${index}].${field} is ${String(value)}, expected a finite number`, options);
    this.name = 'InvalidRewardPointError';
    this.index = index;
  }
}

/** A drawing computed a NaN or infinite coordinate: a bug in this lib,
 *  caught before it reaches a file. */
export class NonFiniteCoordinateError extends Error {
  constructor(where: string, value: number, options?: ErrorOptions) {
    super(`drawing produced a non-finite number (${value}) for ${where}`, options);
    this.name = 'NonFiniteCoordinateError';
  }
}

/** An option outside its allowed range (`movingAverageWindow: 0`). */
export class InvalidDrawingOptionError extends Error {
  readonly option: string;
  constructor(option: string, value: unknown, expected: string, options?: ErrorOptions) {
    super(`invalid drawing option ${option} = ${String(value)}: expected ${expected}`, options);
    this.name = 'InvalidDrawingOptionError';
    this.option = option;
  }
}

/** A run being compared has no search-phase child with a reward (all failed, or nothing trained). */
export class RunWithoutRewardsError extends Error {
  readonly run: string;
  constructor(run: string, options?: ErrorOptions) {
    super(`run ${run} has no trained child with a reward to compare`, options);
    this.name = 'RunWithoutRewardsError';
    this.run = run;
  }
}
