import { InvalidLaunchRequestError } from './errors.js';

/** What a search asks for when it starts its trainers. */
export interface LaunchRequest {
  /** The search the trainers serve; they receive it as SEARCH_ID. */
  searchId: string;
  /** How many trainers run at once (the Job's parallelism; the paper ran 450). */
  trainers: number;
  /**
   * GPUs per trainer. Above 0 the Kubernetes launcher requests that many
   * `nvidia.com/gpu`; 0 leaves the template's choice (none in the base
   * template, one in the gpu overlay). Local processes ignore it.
   */
  gpusPerTrainer: number;
  /** The operator's trainer profile these settings come from (annotated on the Job). */
  profile?: string;
  /** Trainer image (from the profile, never from a caller); @default the template's image. Local processes ignore it. */
  image?: string;
  /** CPU request, a Kubernetes quantity ("2", "500m"); @default the template's. */
  cpu?: string;
  /** CPU limit; @default the template's. */
  cpuLimit?: string;
  /** Memory request and limit, a Kubernetes quantity ("4Gi"); @default the template's. */
  memory?: string;
  /** Tensor backend for the trainers (NAS_BACKEND: auto, tensorflow, webgpu, wasm, cpu); @default the template's. */
  backend?: string;
  /** Extra environment variables; they replace same-named ones from the template. */
  env?: Record<string, string>;
  /**
   * The trainers' own NATS credentials (.creds text, minted by the controller
   * for this search only: @nasnet/bus mintTrainerCreds). Kubernetes: a Secret
   * owned by the Job (deleted with it), mounted, NATS_CREDS pointing at it;
   * local: a private temporary file, removed when the launch ends. Replaces
   * NATS_USER/NATS_PASS. @default none: whatever the template gives them
   */
  natsCreds?: string;
  /** Stop the trainers after this long (the Job's activeDeadlineSeconds); @default no limit. */
  deadlineSeconds?: number;
}

/** Where a launch stands. Counts are trainers (pods or processes). */
export interface LaunchStatus {
  /** Trainers running now. */
  active: number;
  /** Trainers that exited with status 0. */
  succeeded: number;
  /** Trainers that failed (a replacement may have been started). */
  failed: number;
  /** True once no trainer runs and none will be started again. */
  done: boolean;
  /** How it ended, once done: all work finished, gave up, or stopped / deleted. */
  outcome?: 'succeeded' | 'failed' | 'stopped';
  /** Why, once done (Kubernetes condition reason such as BackoffLimitExceeded, or ours: Stopped, Deleted). */
  reason?: string;
  /** The condition's message, once done, when there is one (e.g. which pod failed with which exit code). */
  message?: string;
}

/** A launch that exists now (a Job in the namespace, or local processes of this launcher). */
export interface ListedLaunch {
  /** The exact search id (the Job's annotation). */
  searchId: string;
  /** Its status at listing time. */
  status: LaunchStatus;
  /** A handle to stop or watch it. */
  handle: LaunchHandle;
}

/** The trainers of one launch. */
export interface LaunchHandle {
  /** `namespace/job-name` for Kubernetes, `local/<search>` for local processes. */
  readonly id: string;
  /** The current status (one API read for Kubernetes). */
  status(): Promise<LaunchStatus>;
  /**
   * Calls `onChange` with the status now and on every change, until the
   * returned function is called (or the launch is deleted). Transport errors
   * go to `onError`; watching resumes by itself.
   */
  watch(onChange: (status: LaunchStatus) => void, onError?: (err: Error) => void): () => void;
  /** Stops every trainer (deletes the Job with its pods); calling it again is harmless. */
  stop(): Promise<void>;
}

/** Starts the trainers of a search. */
export interface TrainerLauncher {
  launch(request: LaunchRequest): Promise<LaunchHandle>;
  /**
   * Every launch of this launcher that exists now, finished ones included
   * (Kubernetes: the trainer Jobs in the namespace, found by label), so a
   * controller can remove those of searches that ended or that it does not know.
   */
  list?(): Promise<ListedLaunch[]>;
}

// Kubernetes quantity grammar (apimachinery resource.Quantity): a signed
// decimal, then an optional binary / decimal SI suffix or exponent.
const QUANTITY = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
// Kubernetes accepts any printable env name except '='; we keep to the
// portable C-identifier form that both shells and Kubernetes agree on.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks a request once, at the edge, so both launchers see the same rules. */
export function validateLaunchRequest(request: LaunchRequest): void {
  const r = request as Partial<LaunchRequest> | undefined;
  if (r === null || typeof r !== 'object') throw new InvalidLaunchRequestError('request', r, 'expected an object');
  if (typeof r.searchId !== 'string' || r.searchId.trim() === '') throw new InvalidLaunchRequestError('searchId', r.searchId, 'expected a non-empty string');
  if (!Number.isInteger(r.trainers) || (r.trainers as number) < 1) throw new InvalidLaunchRequestError('trainers', r.trainers, 'expected an integer >= 1');
  if (!Number.isInteger(r.gpusPerTrainer) || (r.gpusPerTrainer as number) < 0) throw new InvalidLaunchRequestError('gpusPerTrainer', r.gpusPerTrainer, 'expected an integer >= 0');
  if (r.image !== undefined && (typeof r.image !== 'string' || r.image === '' || /\s/.test(r.image))) throw new InvalidLaunchRequestError('image', r.image, 'expected an image reference without spaces');
  if (r.cpu !== undefined && (typeof r.cpu !== 'string' || !QUANTITY.test(r.cpu))) throw new InvalidLaunchRequestError('cpu', r.cpu, 'expected a Kubernetes quantity such as "2" or "500m"');
  if (r.cpuLimit !== undefined && (typeof r.cpuLimit !== 'string' || !QUANTITY.test(r.cpuLimit))) throw new InvalidLaunchRequestError('cpuLimit', r.cpuLimit, 'expected a Kubernetes quantity such as "2" or "500m"');
  if (r.profile !== undefined && (typeof r.profile !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(r.profile))) throw new InvalidLaunchRequestError('profile', r.profile, 'expected a profile name');
  if (r.memory !== undefined && (typeof r.memory !== 'string' || !QUANTITY.test(r.memory))) throw new InvalidLaunchRequestError('memory', r.memory, 'expected a Kubernetes quantity such as "4Gi"');
  if (r.backend !== undefined && (typeof r.backend !== 'string' || !/^[a-z0-9-]+$/.test(r.backend))) throw new InvalidLaunchRequestError('backend', r.backend, 'expected a backend name such as "wasm" or "tensorflow"');
  if (r.deadlineSeconds !== undefined && (!Number.isInteger(r.deadlineSeconds) || r.deadlineSeconds < 1)) throw new InvalidLaunchRequestError('deadlineSeconds', r.deadlineSeconds, 'expected an integer >= 1');
  if (r.natsCreds !== undefined && (typeof r.natsCreds !== 'string' || !r.natsCreds.includes('-----BEGIN NATS USER JWT-----'))) {
    throw new InvalidLaunchRequestError('natsCreds', '(hidden)', 'expected the text of a NATS .creds file');
  }
  if (r.env !== undefined) {
    if (r.env === null || typeof r.env !== 'object') throw new InvalidLaunchRequestError('env', r.env, 'expected an object of strings');
    for (const [name, value] of Object.entries(r.env)) {
      if (!ENV_NAME.test(name)) throw new InvalidLaunchRequestError(`env.${name}`, value, 'the name must match [A-Za-z_][A-Za-z0-9_]*');
      if (typeof value !== 'string') throw new InvalidLaunchRequestError(`env.${name}`, value, 'expected a string value');
    }
  }
}
