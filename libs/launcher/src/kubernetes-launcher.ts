/**
 * Trainers as one Kubernetes batch/v1 Job per search, through the API server
 * (@kubernetes/client-node 2.x: one parameter object per call).
 */
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Watch, type V1Job, type V1JobList, type V1Secret } from '@kubernetes/client-node';
import { KubernetesApiError, TrainerJobExistsError } from './errors.js';
import {
  buildTrainerJob, defaultTrainerJobTemplate, jobLaunchStatus, parseTrainerJobTemplate, SEARCH_ID_ANNOTATION, SEARCH_ID_LABEL, TRAINER_APP_NAME, TRAINER_CREDS_KEY, trainerCredsSecretName,
  trainerJobName, trainerLabelSelector,
} from './job-template.js';
import { validateLaunchRequest, type LaunchHandle, type LaunchRequest, type LaunchStatus, type ListedLaunch, type TrainerLauncher } from './launcher.js';

export interface KubernetesLauncherOptions {
  /** Cluster access. @default `KubeConfig.loadFromDefault()` (KUBECONFIG, ~/.kube/config, then the pod's service account) */
  kubeConfig?: KubeConfig;
  /** Namespace of the trainer Jobs. @default the current context's namespace, else 'nasnet' */
  namespace?: string;
  /** The trainer Job template (see loadTrainerJobTemplate). @default defaultTrainerJobTemplate() */
  template?: V1Job;
  /** Replaces the template's NATS_URL. @default the template's */
  natsUrl?: string;
  /** Added to every trainer pod's nodeSelector. @default none */
  nodeSelector?: Record<string, string>;
  /** Added to the nodeSelector of trainers that request GPUs. @default none */
  gpuNodeSelector?: Record<string, string>;
  /**
   * When the search's Job already exists (the controller restarted and
   * resumes the search): 'adopt' takes it over if it belongs to the same
   * search (a finished one is replaced), 'fail' throws. @default 'adopt'
   */
  ifExists?: 'adopt' | 'fail';
  /** First wait before a failed watch reconnects; doubles up to 30 s. @default 1000 */
  watchRetryMs?: number;
}

const MAX_WATCH_RETRY_MS = 30_000;

/** Status of the Kubernetes answer in an ApiException body (a Status object, as JSON text or parsed). */
function statusOf(err: ApiException<unknown>): { message?: string; reason?: string } {
  let body: unknown = err.body;
  if (typeof body === 'string') {
    const text = body.trim();
    try {
      body = JSON.parse(text);
    } catch {
      return text === '' ? {} : { message: text.slice(0, 500) };
    }
  }
  if (body !== null && typeof body === 'object') {
    const b = body as { message?: unknown; reason?: unknown };
    return { ...(typeof b.message === 'string' ? { message: b.message } : {}), ...(typeof b.reason === 'string' ? { reason: b.reason } : {}) };
  }
  return {};
}

/** Every API failure becomes a KubernetesApiError here, and only here. */
function apiError(err: unknown, action: string, target: string, server: string | undefined): KubernetesApiError {
  if (err instanceof KubernetesApiError) return err;
  if (err instanceof ApiException) {
    const { message, reason } = statusOf(err);
    return new KubernetesApiError(action, target, err.code, reason, message ?? 'the API server gave no Status message', { cause: err });
  }
  const e = err as { message?: string; code?: string; statusCode?: number; cause?: { code?: string } };
  if (typeof e?.statusCode === 'number') return new KubernetesApiError(action, target, e.statusCode, undefined, e.message ?? 'request failed', { cause: err });
  const code = e?.code ?? e?.cause?.code;
  return new KubernetesApiError(action, target, undefined, undefined, `${e?.message ?? String(err)}${code ? ` (${code})` : ''}${server ? ` [server ${server}]` : ''}`, { cause: err });
}

function statusCodeOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Launches a search's trainers as one batch/v1 Job (work-queue pattern:
 * parallelism = trainers, completions unset). Needs RBAC for jobs
 * create/get/list/watch/delete in its namespace (k8s/base/controller/rbac.yaml).
 */
export class KubernetesLauncher implements TrainerLauncher {
  readonly namespace: string;
  private readonly kc: KubeConfig;
  private readonly api: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly template: V1Job;
  private readonly options: KubernetesLauncherOptions;

  constructor(options: KubernetesLauncherOptions = {}) {
    this.options = options;
    if (options.kubeConfig) {
      this.kc = options.kubeConfig;
    } else {
      this.kc = new KubeConfig();
      this.kc.loadFromDefault();
    }
    const context = this.kc.getContextObject(this.kc.getCurrentContext());
    this.namespace = options.namespace ?? context?.namespace ?? 'nasnet';
    this.template = parseTrainerJobTemplate(options.template ?? defaultTrainerJobTemplate(), options.template ? 'options.template' : 'default template');
    this.api = this.kc.makeApiClient(BatchV1Api);
    this.core = this.kc.makeApiClient(CoreV1Api);
  }

  /**
   * The search's NATS credentials as a Secret owned by its Job: the garbage
   * collector deletes it with the Job, and stop() deletes it at once. An
   * existing one (a restarted controller minted new credentials) is
   * replaced. Pods of the Job wait for it before they start (the kubelet
   * retries a missing Secret volume).
   */
  private async putCredsSecret(job: V1Job, request: LaunchRequest): Promise<void> {
    if (request.natsCreds === undefined) return;
    const name = trainerCredsSecretName(request.searchId);
    const target = `secret ${this.namespace}/${name}`;
    const server = this.kc.getCurrentCluster()?.server;
    const body: V1Secret = {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: {
        name, namespace: this.namespace,
        labels: { ...job.metadata?.labels },
        annotations: { [SEARCH_ID_ANNOTATION]: request.searchId },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid: job.metadata!.uid!, blockOwnerDeletion: false }],
      },
      stringData: { [TRAINER_CREDS_KEY]: request.natsCreds },
    };
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw apiError(err, 'create', target, server);
      try {
        await this.core.replaceNamespacedSecret({ name, namespace: this.namespace, body });
      } catch (replaceErr) {
        throw apiError(replaceErr, 'replace', target, server);
      }
    }
  }

  private async deleteCredsSecret(searchId: string): Promise<void> {
    const name = trainerCredsSecretName(searchId);
    try {
      await this.core.deleteNamespacedSecret({ name, namespace: this.namespace });
    } catch (err) {
      if (statusCodeOf(err) === 404) return;
      throw apiError(err, 'delete', `secret ${this.namespace}/${name}`, this.kc.getCurrentCluster()?.server);
    }
  }

  /** The Job `launch` would create for a request (nothing is sent). */
  jobFor(request: LaunchRequest): V1Job {
    validateLaunchRequest(request);
    return buildTrainerJob(this.template, request, {
      namespace: this.namespace,
      ...(this.options.natsUrl !== undefined ? { natsUrl: this.options.natsUrl } : {}),
      ...(this.options.nodeSelector ? { nodeSelector: this.options.nodeSelector } : {}),
      ...(this.options.gpuNodeSelector ? { gpuNodeSelector: this.options.gpuNodeSelector } : {}),
    });
  }

  async launch(request: LaunchRequest): Promise<LaunchHandle> {
    const body = this.jobFor(request);
    const name = body.metadata!.name!;
    const target = `job ${this.namespace}/${name}`;
    const server = this.kc.getCurrentCluster()?.server;
    // A replaced (finished) Job can take a moment to disappear: retry the create a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        const created = await this.api.createNamespacedJob({ namespace: this.namespace, body });
        await this.putCredsSecret(created, request);
        return this.handle(name, request.searchId, request.natsCreds !== undefined);
      } catch (err) {
        if (statusCodeOf(err) !== 409) throw apiError(err, 'create', target, server);
      }
      if (this.options.ifExists === 'fail') throw new TrainerJobExistsError(`${this.namespace}/${name}`, request.searchId, undefined);
      let existing: V1Job;
      try {
        existing = await this.api.readNamespacedJob({ name, namespace: this.namespace });
      } catch (err) {
        if (statusCodeOf(err) === 404 && attempt < 5) continue; // deleted in between: create again
        throw apiError(err, 'read', target, server);
      }
      const owner = existing.metadata?.annotations?.[SEARCH_ID_ANNOTATION];
      if (owner !== request.searchId) throw new TrainerJobExistsError(`${this.namespace}/${name}`, request.searchId, owner);
      if (!jobLaunchStatus(existing).done) {
        await this.putCredsSecret(existing, request);
        return this.handle(name, request.searchId, request.natsCreds !== undefined);
      }
      // The same search's Job finished earlier (e.g. before a controller
      // restart): its trainers are gone, so replace it.
      if (attempt >= 5) throw new TrainerJobExistsError(`${this.namespace}/${name}`, request.searchId, owner);
      await this.deleteJob(name).catch((err: unknown) => {
        throw apiError(err, 'delete', target, server);
      });
      await delay(200 * (attempt + 1));
    }
  }

  /**
   * Every trainer Job in the namespace (label app.kubernetes.io/name and a
   * search-id label), with the exact search id from its annotation; Jobs
   * without that annotation are not ours to judge and are left out.
   */
  async list(): Promise<ListedLaunch[]> {
    let list: V1JobList;
    try {
      list = await this.api.listNamespacedJob({ namespace: this.namespace, labelSelector: `app.kubernetes.io/name=${TRAINER_APP_NAME},${SEARCH_ID_LABEL}` });
    } catch (err) {
      throw apiError(err, 'list', `jobs in ${this.namespace}`, this.kc.getCurrentCluster()?.server);
    }
    const out: ListedLaunch[] = [];
    for (const job of list.items) {
      const name = job.metadata?.name;
      const searchId = job.metadata?.annotations?.[SEARCH_ID_ANNOTATION];
      if (!name || !searchId) continue;
      out.push({ searchId, status: jobLaunchStatus(job), handle: this.handle(name, searchId) });
    }
    return out;
  }

  /** A handle for an existing trainer Job of a search (for a controller that lost its handles). */
  handleFor(searchId: string): LaunchHandle {
    return this.handle(trainerJobName(searchId), searchId);
  }

  private async deleteJob(name: string): Promise<void> {
    // Background: the Job goes now, the garbage collector removes its pods
    // (the default for batch/v1 Jobs is orphan, which would leave them running).
    await this.api.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy: 'Background' });
  }

  /** `ownsCreds`: this launch made the search's credentials Secret (stop() deletes it; the garbage collector would too, with the Job). */
  private handle(name: string, searchId: string, ownsCreds = false): LaunchHandle {
    const namespace = this.namespace;
    const target = `job ${namespace}/${name}`;
    const server = this.kc.getCurrentCluster()?.server;
    const api = this.api;
    const kc = this.kc;
    const retryMs = this.options.watchRetryMs ?? 1000;
    const labelSelector = trainerLabelSelector(searchId);

    return {
      id: `${namespace}/${name}`,
      status: async (): Promise<LaunchStatus> => {
        try {
          return jobLaunchStatus(await api.readNamespacedJob({ name, namespace }));
        } catch (err) {
          if (statusCodeOf(err) === 404) return { active: 0, succeeded: 0, failed: 0, done: true, outcome: 'stopped', reason: 'Deleted' };
          throw apiError(err, 'read', target, server);
        }
      },
      stop: async (): Promise<void> => {
        try {
          await this.deleteJob(name);
        } catch (err) {
          if (statusCodeOf(err) !== 404) throw apiError(err, 'delete', target, server); // 404: already gone
        }
        // The Job owns it (the garbage collector would delete it too): not a moment longer than the trainers.
        if (ownsCreds) await this.deleteCredsSecret(searchId);
      },
      watch: (onChange, onError) => {
        let stopped = false;
        let abort: AbortController | undefined;
        let timer: NodeJS.Timeout | undefined;
        let resourceVersion: string | undefined;
        let lastKey: string | undefined;
        let last: LaunchStatus = { active: 0, succeeded: 0, failed: 0, done: false };
        let wait = retryMs;

        const emit = (status: LaunchStatus): void => {
          last = status;
          const key = JSON.stringify(status);
          if (key === lastKey) return;
          lastKey = key;
          onChange(status);
        };
        const gone = (): void => {
          emit({ ...last, active: 0, done: true, outcome: last.outcome ?? 'stopped', reason: last.reason ?? 'Deleted' });
          stop();
        };
        const fail = (err: unknown, action: string): void => {
          if (stopped) return;
          onError?.(apiError(err, action, target, server));
          timer = setTimeout(connect, wait);
          wait = Math.min(wait * 2, MAX_WATCH_RETRY_MS);
        };
        const connect = async (): Promise<void> => {
          timer = undefined;
          if (stopped) return;
          if (resourceVersion === undefined) {
            // List first: the current state, and the version to watch from.
            let list: V1JobList;
            try {
              list = await api.listNamespacedJob({ namespace, labelSelector });
            } catch (err) {
              if (statusCodeOf(err) === 404) return gone();
              return fail(err, 'list');
            }
            if (stopped) return;
            const job = list.items.find((j) => j.metadata?.name === name);
            if (!job) return gone();
            emit(jobLaunchStatus(job));
            resourceVersion = list.metadata?.resourceVersion;
          }
          const query: Record<string, string | boolean> = { labelSelector, allowWatchBookmarks: true };
          if (resourceVersion !== undefined) query.resourceVersion = resourceVersion;
          try {
            abort = await new Watch(kc).watch(
              `/apis/batch/v1/namespaces/${namespace}/jobs`,
              query,
              (type: string, obj: V1Job & { code?: number }) => {
                if (stopped) return;
                if (type === 'ERROR') {
                  // 410 Gone: our version is too old; list again on reconnect.
                  if (obj.code === 410) resourceVersion = undefined;
                  return;
                }
                resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
                wait = retryMs;
                if (type === 'BOOKMARK' || obj.metadata?.name !== name) return;
                if (type === 'DELETED') return gone();
                emit(jobLaunchStatus(obj));
              },
              (err: unknown) => {
                abort = undefined;
                if (stopped) return;
                if (err) return fail(err, 'watch');
                // The server ends watches after a while (timeoutSeconds): resume.
                timer = setTimeout(connect, 0);
              },
            );
          } catch (err) {
            return fail(err, 'watch');
          }
          if (stopped) abort?.abort();
        };
        const stop = (): void => {
          if (stopped) return;
          stopped = true;
          if (timer) clearTimeout(timer);
          abort?.abort();
        };
        void connect();
        return stop;
      },
    };
  }
}
