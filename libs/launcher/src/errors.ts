/** One error class per failure; each message names what was wrong and where. */

/** A launch request field is missing or out of range. */
export class InvalidLaunchRequestError extends Error {
  constructor(readonly field: string, readonly value: unknown, why: string) {
    super(`invalid launch request: ${field} = ${JSON.stringify(value)}: ${why}`);
    this.name = 'InvalidLaunchRequestError';
  }
}

/** The trainer Job template (file or object) is not a usable batch/v1 Job. */
export class TrainerTemplateError extends Error {
  constructor(readonly source: string, readonly field: string, why: string, options?: { cause?: unknown }) {
    super(`trainer Job template ${source}: ${field}: ${why}`, options);
    this.name = 'TrainerTemplateError';
  }
}

/**
 * The Kubernetes API server refused a request (it answered with a Status), or
 * could not be reached (`statusCode` undefined).
 */
export class KubernetesApiError extends Error {
  constructor(
    readonly action: string,
    readonly target: string,
    readonly statusCode: number | undefined,
    readonly reason: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      statusCode === undefined
        ? `Kubernetes API: could not ${action} ${target}: ${detail}`
        : `Kubernetes API refused to ${action} ${target} (${statusCode}${reason ? ` ${reason}` : ''}): ${detail}`,
      options,
    );
    this.name = 'KubernetesApiError';
  }
}

/** A Job with the trainer Job's name exists and belongs to another search (or adopting was turned off). */
export class TrainerJobExistsError extends Error {
  constructor(readonly target: string, readonly searchId: string, readonly ownerSearchId: string | undefined) {
    super(
      ownerSearchId === undefined || ownerSearchId === searchId
        ? `trainer Job ${target} for search '${searchId}' already exists (adopting existing Jobs is turned off)`
        : `trainer Job ${target} for search '${searchId}' already exists and belongs to search '${ownerSearchId}'`,
    );
    this.name = 'TrainerJobExistsError';
  }
}

/** A local trainer process could not be started. */
export class TrainerSpawnError extends Error {
  constructor(readonly trainerId: string, readonly entry: string, options?: { cause?: unknown }) {
    super(`could not start local trainer ${trainerId} (${entry})`, options);
    this.name = 'TrainerSpawnError';
  }
}

/** The operator's trainer profiles file is not usable; names the file and the field. */
export class TrainerProfilesError extends Error {
  constructor(readonly source: string, readonly field: string, why: string) {
    super(`trainer profiles ${source}: ${field}: ${why}`);
    this.name = 'TrainerProfilesError';
  }
}

/** A request named a trainer image: images come from the operator's profiles. */
export class TrainerImageNotAllowedError extends Error {
  readonly field = 'image';
  constructor(readonly image: string, readonly known: readonly string[]) {
    super(`a trainer image cannot be chosen by a request; name a profile instead (${known.join(', ')})`);
    this.name = 'TrainerImageNotAllowedError';
  }
}

/** A request named a trainer profile the operator did not define. */
export class UnknownTrainerProfileError extends Error {
  readonly field = 'profile';
  constructor(readonly profile: string, readonly known: readonly string[]) {
    super(`unknown trainer profile '${profile.slice(0, 63)}'; known profiles: ${known.join(', ')}`);
    this.name = 'UnknownTrainerProfileError';
  }
}

/** A request asked for more GPUs, memory or CPU than its profile allows. */
export class TrainerResourceLimitError extends Error {
  constructor(readonly field: 'gpus' | 'memory' | 'cpu', readonly requested: string, readonly profile: string, readonly limit: string) {
    super(`${field} ${requested} is above the limit of profile '${profile}' (${limit})`);
    this.name = 'TrainerResourceLimitError';
  }
}

/** A trainer resource in a request is malformed (not a quantity, a backend its profile does not use). */
export class InvalidTrainerResourcesError extends Error {
  constructor(readonly field: 'gpus' | 'memory' | 'cpu' | 'backend', readonly reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'InvalidTrainerResourcesError';
  }
}
