/** A metric or label name that Prometheus would reject. */
export class InvalidMetricNameError extends Error {
  constructor(name: string, what: string, options?: ErrorOptions) {
    super(`invalid ${what} name '${name}'`, options);
    this.name = 'InvalidMetricNameError';
  }
}

/** Label values that do not match the metric's declared label names. */
export class InvalidLabelsError extends Error {
  constructor(metric: string, declared: readonly string[], given: readonly string[], detail?: string, options?: ErrorOptions) {
    super(`metric ${metric} takes labels [${declared.join(', ')}], got [${given.join(', ')}]${detail ? `: ${detail}` : ''}`, options);
    this.name = 'InvalidLabelsError';
  }
}

/** A counter asked to go down (or by NaN). */
export class CounterDecreaseError extends Error {
  constructor(metric: string, by: number, options?: ErrorOptions) {
    super(`counter ${metric} can only increase, not by ${by}`, options);
    this.name = 'CounterDecreaseError';
  }
}

/** Two metrics of one registry that would write the same series name. */
export class DuplicateMetricError extends Error {
  constructor(name: string, options?: ErrorOptions) {
    super(`metric name ${name} is already registered`, options);
    this.name = 'DuplicateMetricError';
  }
}

/** Histogram bounds that are empty, not finite or not strictly increasing. */
export class InvalidBucketsError extends Error {
  constructor(metric: string, index: number, detail: string, options?: ErrorOptions) {
    super(`histogram ${metric} bucket ${index}: ${detail}`, options);
    this.name = 'InvalidBucketsError';
  }
}
