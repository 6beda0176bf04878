/**
 * The trainer Job: one template (k8s/base/trainer-job-template.yaml holds the
 * same object, checked by a test) plus the per-search fields the launcher
 * fills in. Pure functions, so the manifest test and the launcher agree.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { V1Container, V1EnvVar, V1Job, V1Toleration } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { TrainerTemplateError } from './errors.js';
import type { LaunchRequest, LaunchStatus } from './launcher.js';

/** `app.kubernetes.io/name` of every trainer Job and pod. */
export const TRAINER_APP_NAME = 'nasnet-child-trainer';
/** Label carrying the (label-safe) search id on trainer Jobs and pods. */
export const SEARCH_ID_LABEL = 'nasnet.dev/search-id';
/** Annotation carrying the exact search id (labels are limited to 63 safe characters). */
export const SEARCH_ID_ANNOTATION = 'nasnet.dev/search-id';
/** Name of the container the launcher fills in; a template must have one. */
export const TRAINER_CONTAINER = 'trainer';
/** Extended resource name of NVIDIA's device plugin. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
/** The default trainer image (placeholder registry; see k8s/README.md). */
export const DEFAULT_TRAINER_IMAGE = 'ghcr.io/nasnet-k8s/child-trainer:0.1.0';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * The search id as a label value: unchanged when it already is a valid one
 * (at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends), otherwise a
 * sanitised prefix plus a hash of the full id, so distinct ids stay distinct.
 */
export function searchIdLabelValue(searchId: string): string {
  if (searchId !== '' && searchId.length <= 63 && LABEL_VALUE.test(searchId)) return searchId;
  const slug = searchId.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 54).replace(/[^A-Za-z0-9]+$/, '');
  return slug === '' ? shortHash(searchId) : `${slug}-${shortHash(searchId)}`;
}

/**
 * The trainer Job's name for a search: `nasnet-trainer-<slug>-<hash>`, a
 * DNS-1123 label of at most 62 characters (Job names must also be valid
 * label values, since the Job controller labels its pods with them).
 */
export function trainerJobName(searchId: string): string {
  const slug = searchId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 38).replace(/-+$/, '');
  return `nasnet-trainer-${slug === '' ? '' : `${slug}-`}${shortHash(searchId)}`;
}

/** Label selector that finds the trainer Jobs (and pods) of a search. */
export function trainerLabelSelector(searchId: string): string {
  return `app.kubernetes.io/name=${TRAINER_APP_NAME},${SEARCH_ID_LABEL}=${searchIdLabelValue(searchId)}`;
}

/**
 * The canonical trainer Job template. k8s/base/trainer-job-template.yaml is
 * this object in YAML (a test compares them); the controller reads the file
 * mounted from its ConfigMap, so an overlay can change it without code.
 */
export function defaultTrainerJobTemplate(): V1Job {
  const labels = { 'app.kubernetes.io/name': TRAINER_APP_NAME, 'app.kubernetes.io/component': 'child-trainer', 'app.kubernetes.io/part-of': 'nasnet' };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'nasnet-trainer', labels: { ...labels } },
    spec: {
      // Work-queue Job (completions unset): trainers pull children from
      // JetStream and exit 0 when the search ends; the Job completes once one
      // has succeeded and the rest have stopped. The launcher raises this to
      // 2 per trainer, because a Job's backoffLimit counts failed pods across
      // all of its trainers.
      backoffLimit: 6,
      ttlSecondsAfterFinished: 3600,
      // Which pod failures count against backoffLimit (needs restartPolicy Never):
      // exit code 2 is the trainer's configuration error (a bad variable):
      // every replacement would fail alike, so the Job fails at once with
      // reason PodFailurePolicy and a message naming the pod and the code.
      // Evictions, preemptions and node drains (DisruptionTarget) are not the
      // trainer's fault and are not counted. The rest counts: OOM kills (137),
      // NATS unreachable (1), crashes.
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: TRAINER_CONTAINER, operator: 'In', values: [2] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          serviceAccountName: 'nasnet-trainer',
          automountServiceAccountToken: false,
          // Never: a failed trainer is replaced by a fresh pod (its child is
          // redelivered by JetStream), and every failure is visible as a pod.
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 60,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: TRAINER_CONTAINER,
              image: DEFAULT_TRAINER_IMAGE,
              args: ['services/child-trainer/src/main.ts'],
              env: [
                { name: 'NATS_URL', value: 'nats://nats:4222' },
                // NATS over TLS, verified with the generated CA; the NATS user is the search's own
                // (request.natsCreds: NATS_CREDS and its Secret, added by buildTrainerJob).
                { name: 'NATS_CA', value: '/etc/nasnet/ca/ca.crt' },
                { name: 'TRAINER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NAS_BACKEND', value: 'wasm' },
                // The pod's CPU request, whole cores rounded up (downward API): the trainer trains each child on that many threads.
                { name: 'POD_CPU_REQUEST', valueFrom: { resourceFieldRef: { containerName: TRAINER_CONTAINER, resource: 'requests.cpu', divisor: '1' } } },
                // The pod's memory limit (downward API): the trainer keeps its wasm heap below it, so a
                // child too large for the pod fails as that child instead of the pod being OOM-killed.
                { name: 'POD_MEMORY_LIMIT_BYTES', valueFrom: { resourceFieldRef: { containerName: TRAINER_CONTAINER, resource: 'limits.memory', divisor: '1' } } },
              ],
              resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'ca', mountPath: '/etc/nasnet/ca', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'data', mountPath: '/data' },
              ],
            },
          ],
          volumes: [
            // The CA of the NATS server's certificate (ConfigMap made from `npm run secrets`' ca.crt).
            { name: 'ca', configMap: { name: 'nasnet-ca' } },
            { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
            { name: 'data', emptyDir: {} },
          ],
        },
      },
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Checks that `value` is a batch/v1 Job with a `trainer` container and a pod
 * restart policy a Job accepts, and returns a copy. `source` names it in errors.
 */
export function parseTrainerJobTemplate(value: unknown, source = 'template'): V1Job {
  if (!isObject(value)) throw new TrainerTemplateError(source, '(root)', 'expected a YAML mapping (a batch/v1 Job)');
  if (value.apiVersion !== 'batch/v1') throw new TrainerTemplateError(source, 'apiVersion', `expected 'batch/v1', got ${JSON.stringify(value.apiVersion)}`);
  if (value.kind !== 'Job') throw new TrainerTemplateError(source, 'kind', `expected 'Job', got ${JSON.stringify(value.kind)}`);
  const spec = value.spec;
  if (!isObject(spec)) throw new TrainerTemplateError(source, 'spec', 'missing');
  if (!isObject(spec.template)) throw new TrainerTemplateError(source, 'spec.template', 'missing');
  const pod = spec.template.spec;
  if (!isObject(pod)) throw new TrainerTemplateError(source, 'spec.template.spec', 'missing');
  if (pod.restartPolicy !== 'Never' && pod.restartPolicy !== 'OnFailure') {
    throw new TrainerTemplateError(source, 'spec.template.spec.restartPolicy', `a Job needs 'Never' or 'OnFailure', got ${JSON.stringify(pod.restartPolicy)}`);
  }
  if (!Array.isArray(pod.containers)) throw new TrainerTemplateError(source, 'spec.template.spec.containers', 'expected a list');
  const index = pod.containers.findIndex((c) => isObject(c) && c.name === TRAINER_CONTAINER);
  if (index < 0) throw new TrainerTemplateError(source, 'spec.template.spec.containers', `no container named '${TRAINER_CONTAINER}'`);
  const image = (pod.containers[index] as Record<string, unknown>).image;
  if (typeof image !== 'string' || image === '') throw new TrainerTemplateError(source, `spec.template.spec.containers[${index}].image`, 'expected an image reference');
  return structuredClone(value) as V1Job;
}

/** Reads and checks a trainer Job template file (YAML or JSON). */
export async function loadTrainerJobTemplate(path: string): Promise<V1Job> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new TrainerTemplateError(path, '(file)', 'cannot be read', { cause });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (cause) {
    throw new TrainerTemplateError(path, '(file)', `is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseTrainerJobTemplate(value, path);
}

/** Where a trainer pod finds its search's NATS credentials (request.natsCreds), and the Secret that holds them. */
export const TRAINER_CREDS_DIR = '/etc/nasnet/nats';
export const TRAINER_CREDS_KEY = 'trainer.creds';
export function trainerCredsSecretName(searchId: string): string {
  return `${trainerJobName(searchId)}-nats`;
}

/** Per-deployment settings the launcher adds to every trainer Job. */
export interface TrainerJobOptions {
  /** Namespace of the Job. */
  namespace: string;
  /** Replaces the template's NATS_URL. @default the template's */
  natsUrl?: string;
  /** Added to every trainer pod's nodeSelector. @default none */
  nodeSelector?: Record<string, string>;
  /** Added to the nodeSelector when GPUs are requested (e.g. `nvidia.com/gpu.present: "true"`). @default none */
  gpuNodeSelector?: Record<string, string>;
}

function setEnv(env: V1EnvVar[], name: string, value: string): void {
  const at = env.findIndex((e) => e.name === name);
  const entry: V1EnvVar = { name, value };
  if (at >= 0) env[at] = entry;
  else env.push(entry);
}

/**
 * The Job for one search: the template with its name, labels, parallelism,
 * failure budget, deadline, image, resources, GPU request and environment set
 * from the request. The template is not modified.
 */
export function buildTrainerJob(template: V1Job, request: LaunchRequest, options: TrainerJobOptions): V1Job {
  const job = parseTrainerJobTemplate(template);
  const name = trainerJobName(request.searchId);
  const labelValue = searchIdLabelValue(request.searchId);
  const ours = { 'app.kubernetes.io/name': TRAINER_APP_NAME, [SEARCH_ID_LABEL]: labelValue };
  const annotations = {
    [SEARCH_ID_ANNOTATION]: request.searchId,
    'nasnet.dev/trainers': String(request.trainers),
    'nasnet.dev/gpus-per-trainer': String(request.gpusPerTrainer),
    ...(request.profile !== undefined ? { 'nasnet.dev/trainer-profile': request.profile } : {}),
  };

  const meta = (job.metadata ??= {});
  meta.name = name;
  meta.namespace = options.namespace;
  delete meta.generateName;
  meta.labels = { ...meta.labels, ...ours };
  meta.annotations = { ...meta.annotations, ...annotations };

  const spec = job.spec!;
  spec.parallelism = request.trainers;
  delete spec.completions; // work queue: see defaultTrainerJobTemplate
  spec.backoffLimit = Math.max(spec.backoffLimit ?? 6, 2 * request.trainers);
  if (request.deadlineSeconds !== undefined) spec.activeDeadlineSeconds = request.deadlineSeconds;
  // A Job's selector and its pods' labels are generated by the API server
  // from the template; setting them here would be refused.
  delete spec.selector;
  delete spec.manualSelector;

  const podMeta = (spec.template.metadata ??= {});
  podMeta.labels = { ...podMeta.labels, ...ours };
  podMeta.annotations = { ...podMeta.annotations, [SEARCH_ID_ANNOTATION]: request.searchId };

  const pod = spec.template.spec!;
  const container = pod.containers.find((c) => c.name === TRAINER_CONTAINER) as V1Container;
  if (request.image !== undefined) container.image = request.image;

  const resources = (container.resources ??= {});
  if (request.cpu !== undefined) resources.requests = { ...resources.requests, cpu: request.cpu };
  if (request.cpuLimit !== undefined) resources.limits = { ...resources.limits, cpu: request.cpuLimit };
  if (request.memory !== undefined) {
    resources.requests = { ...resources.requests, memory: request.memory };
    resources.limits = { ...resources.limits, memory: request.memory };
  }
  const gpus = request.gpusPerTrainer > 0 ? request.gpusPerTrainer : Number(resources.limits?.[GPU_RESOURCE] ?? 0);
  if (request.gpusPerTrainer > 0) {
    // Extended resources go in limits; the request defaults to the limit.
    resources.limits = { ...resources.limits, [GPU_RESOURCE]: String(request.gpusPerTrainer) };
    if (resources.requests && GPU_RESOURCE in resources.requests) resources.requests[GPU_RESOURCE] = String(request.gpusPerTrainer);
  }
  if (gpus > 0) {
    const tolerations: V1Toleration[] = (pod.tolerations ??= []);
    // GPU nodes are commonly tainted nvidia.com/gpu:NoSchedule so only GPU work lands there.
    if (!tolerations.some((t) => t.key === GPU_RESOURCE)) tolerations.push({ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' });
    if (options.gpuNodeSelector) pod.nodeSelector = { ...pod.nodeSelector, ...options.gpuNodeSelector };
  }
  if (options.nodeSelector) pod.nodeSelector = { ...pod.nodeSelector, ...options.nodeSelector };

  const env = (container.env ??= []);
  if (options.natsUrl !== undefined) setEnv(env, 'NATS_URL', options.natsUrl);
  setEnv(env, 'SEARCH_ID', request.searchId);
  if (request.backend !== undefined) setEnv(env, 'NAS_BACKEND', request.backend);
  for (const [key, value] of Object.entries(request.env ?? {})) setEnv(env, key, value);
  if (request.natsCreds !== undefined) {
    // The search's own NATS user replaces any shared one of the template.
    for (const shared of ['NATS_USER', 'NATS_PASS', 'NATS_CREDS']) {
      const at = env.findIndex((e) => e.name === shared);
      if (at >= 0) env.splice(at, 1);
    }
    setEnv(env, 'NATS_CREDS', `${TRAINER_CREDS_DIR}/${TRAINER_CREDS_KEY}`);
    const volumes = (pod.volumes ??= []).filter((v) => v.name !== 'nats-creds');
    volumes.push({ name: 'nats-creds', secret: { secretName: trainerCredsSecretName(request.searchId), defaultMode: 0o440 } });
    pod.volumes = volumes;
    const mounts = (container.volumeMounts ??= []).filter((m) => m.name !== 'nats-creds');
    mounts.push({ name: 'nats-creds', mountPath: TRAINER_CREDS_DIR, readOnly: true });
    container.volumeMounts = mounts;
  }
  return job;
}

/** A Job's status as a LaunchStatus (terminal once it has a Complete or Failed condition). */
export function jobLaunchStatus(job: V1Job): LaunchStatus {
  const s = job.status ?? {};
  const status: LaunchStatus = { active: s.active ?? 0, succeeded: s.succeeded ?? 0, failed: s.failed ?? 0, done: false };
  const terminal = (s.conditions ?? []).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  if (terminal) {
    status.done = true;
    status.outcome = terminal.type === 'Complete' ? 'succeeded' : 'failed';
    status.reason = terminal.reason ?? terminal.type;
    if (terminal.message) status.message = terminal.message;
  }
  return status;
}
