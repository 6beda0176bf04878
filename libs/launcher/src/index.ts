/**
 * Starts the child trainers of a search, behind one interface: a Kubernetes
 * batch/v1 Job in a cluster, local processes on a laptop.
 *
 * ```ts
 * // `inCluster` and `natsUrl` come from the service's config.ts (read at its process edge).
 * const launcher = inCluster
 *   ? new KubernetesLauncher({ template: await loadTrainerJobTemplate('/etc/nasnet/trainer/job.yaml') })
 *   : new LocalProcessLauncher({ entry: 'services/child-trainer/src/main.ts', natsUrl });
 * const handle = await launcher.launch({ searchId: 's1', trainers: 4, gpusPerTrainer: 1 });
 * const unwatch = handle.watch((s) => console.log(s.active, s.succeeded, s.failed));
 * await handle.stop();
 * ```
 */
export type { LaunchRequest, LaunchStatus, LaunchHandle, ListedLaunch, TrainerLauncher } from './launcher.js';
export { validateLaunchRequest } from './launcher.js';
export {
  TRAINER_APP_NAME,
  SEARCH_ID_LABEL,
  SEARCH_ID_ANNOTATION,
  TRAINER_CONTAINER,
  GPU_RESOURCE,
  DEFAULT_TRAINER_IMAGE,
  searchIdLabelValue,
  trainerJobName,
  trainerLabelSelector,
  defaultTrainerJobTemplate,
  parseTrainerJobTemplate,
  loadTrainerJobTemplate,
  buildTrainerJob,
  jobLaunchStatus,
  trainerCredsSecretName,
  TRAINER_CREDS_DIR,
  TRAINER_CREDS_KEY,
} from './job-template.js';
export type { TrainerJobOptions } from './job-template.js';
export { KubernetesLauncher } from './kubernetes-launcher.js';
export type { KubernetesLauncherOptions } from './kubernetes-launcher.js';
export { LocalProcessLauncher } from './local-launcher.js';
export type { LocalProcessLauncherOptions } from './local-launcher.js';
export { InvalidLaunchRequestError, TrainerTemplateError, KubernetesApiError, TrainerJobExistsError, TrainerSpawnError } from './errors.js';
export { defaultTrainerProfiles, parseTrainerProfiles, loadTrainerProfiles, resolveTrainerProfile } from './profiles.js';
export type { TrainerProfile, TrainerProfiles, TrainerResourceRequest, ResolvedTrainer } from './profiles.js';
export { quantityValue } from './quantity.js';
export {
  TrainerProfilesError, TrainerImageNotAllowedError, UnknownTrainerProfileError, TrainerResourceLimitError, InvalidTrainerResourcesError,
} from './errors.js';
