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
