/**
 * A local HTTP server that answers the batch/v1 Job calls the launcher makes
 * the way a Kubernetes API server does: create / get / list / delete, watch
 * streams (`?watch=true`, newline-delimited ADDED / MODIFIED / DELETED events,
 * resourceVersion resumption, 410 Gone for expired versions), Status objects
 * on every error, bearer-token auth. Every Job it receives is validated
 * against the Kubernetes OpenAPI schema (kubernetes-models) plus the API
 * server's own name / label / Job rules, and refused with 422 Invalid when
 * it does not pass. Tests drive the Job controller's part by hand
 * (setStatus, complete).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Secret } from 'kubernetes-models/v1/Secret';

type Obj = Record<string, any>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  namespace: string;
  object: Obj;
}

interface Watcher {
  namespace: string;
  selector: Requirement[];
  res: ServerResponse;
}

interface Requirement {
  key: string;
  op: '=' | '!=' | 'exists';
  value?: string;
}

interface Fault {
  method: string;
  code: number;
  reason: string;
  message: string;
}

const JOBS_PATH = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/;
const SECRETS_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function statusBody(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** The API server's own checks on a label map (apimachinery ValidateLabels). */
function labelProblems(labels: unknown, field: string): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  if (labels === undefined) return out;
  for (const [key, value] of Object.entries(labels as Obj)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : '';
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix !== '' && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) || name.length > 63 || !LABEL_NAME.test(name)) {
      out.push({ field: `${field}`, message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'` });
    }
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      out.push({ field: `${field}`, message: `Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character` });
    }
  }
  return out;
}

function parseSelector(text: string | null): Requirement[] {
  if (text === null || text === '') return [];
  return text.split(',').map((part) => {
    const ne = part.indexOf('!=');
    if (ne >= 0) return { key: part.slice(0, ne), op: '!=' as const, value: part.slice(ne + 2) };
    const eq = part.indexOf('=');
    if (eq >= 0) return { key: part.slice(0, eq), op: '=' as const, value: part.slice(part[eq + 1] === '=' ? eq + 2 : eq + 1) };
    if (!LABEL_NAME.test(part.split('/').pop() ?? '')) throw new Error(`unable to parse requirement: ${part}`);
    return { key: part, op: 'exists' as const };
  });
}

function matches(selector: Requirement[], obj: Obj): boolean {
  const labels: Obj = obj.metadata?.labels ?? {};
  return selector.every((r) => (r.op === 'exists' ? r.key in labels : r.op === '=' ? labels[r.key] === r.value : labels[r.key] !== r.value));
}

export class FakeKubeApi {
  readonly token = `token-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  /** Names of the Jobs that passed schema validation, in order. */
  readonly validated: string[] = [];
  private readonly jobs = new Map<string, Obj>();
  /** Secrets (the trainers' NATS credentials): create, replace, delete; stringData stored as data, as the API server does. */
  private readonly secrets = new Map<string, Obj>();
  private readonly events: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly faults: Fault[] = [];
  private rv = 1000;
  private oldestRv = 0;
  private server!: Server;
  url = '';

  static async start(): Promise<FakeKubeApi> {
    const api = new FakeKubeApi();
    api.server = createServer((req, res) => void api.handle(req, res));
    api.server.on('connection', (s) => {
      api.sockets.add(s);
      s.on('close', () => api.sockets.delete(s));
    });
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    const address = api.server.address() as { port: number };
    api.url = `http://127.0.0.1:${address.port}`;
    return api;
  }

  /** A KubeConfig that points at this server (token user; TLS is off on 127.0.0.1). */
  kubeConfig(namespace = 'nasnet', token = this.token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'tester', token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester', namespace }],
      currentContext: 'fake',
    });
    return kc;
  }

  secret(namespace: string, name: string): Obj | undefined {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s ? structuredClone(s) : undefined;
  }

  job(namespace: string, name: string): Obj | undefined {
    const j = this.jobs.get(`${namespace}/${name}`);
    return j ? structuredClone(j) : undefined;
  }

  jobCount(): number {
    return this.jobs.size;
  }

  /** The next request with this method is answered with this error Status. */
  failNext(method: string, code: number, reason: string, message: string): void {
    this.faults.push({ method, code, reason, message });
  }

  /** Stores a Job as if someone else had created it (no validation). */
  put(namespace: string, job: Obj): void {
    const stored = structuredClone(job);
    stored.metadata = { ...stored.metadata, namespace, uid: randomUUID(), resourceVersion: String(++this.rv), creationTimestamp: new Date().toISOString() };
    this.jobs.set(`${namespace}/${stored.metadata.name}`, stored);
    this.publish('ADDED', namespace, stored);
  }

  /** What the Job controller does: replace a Job's status (a MODIFIED event). */
  setStatus(namespace: string, name: string, status: Obj): void {
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) throw new Error(`fake: no job ${namespace}/${name}`);
    job.status = structuredClone(status);
    job.metadata.resourceVersion = String(++this.rv);
    this.publish('MODIFIED', namespace, job);
  }

  /** Every trainer exited 0: succeeded = parallelism, condition Complete. */
  complete(namespace: string, name: string): void {
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) throw new Error(`fake: no job ${namespace}/${name}`);
    const now = new Date().toISOString();
    this.setStatus(namespace, name, {
      ...job.status,
      active: 0,
      ready: 0,
      succeeded: job.spec.parallelism ?? 1,
      completionTime: now,
      conditions: [{ type: 'Complete', status: 'True', lastProbeTime: now, lastTransitionTime: now }],
    });
  }

  /** Ends every open watch stream (as the API server does after timeoutSeconds). */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /**
   * Other writes happened and the history was compacted: every version seen
   * so far now gets 410 Gone on watch.
   */
  expireHistory(): void {
    this.oldestRv = ++this.rv;
    this.events.length = 0;
  }

  watcherCount(): number {
    return this.watchers.size;
  }

  async close(): Promise<void> {
    this.closeWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private publish(type: Event['type'], namespace: string, object: Obj): void {
    const event: Event = { rv: Number(object.metadata.resourceVersion), type, namespace, object: structuredClone(object) };
    this.events.push(event);
    for (const w of this.watchers) {
      if (w.namespace === namespace && matches(w.selector, object)) w.res.write(`${JSON.stringify({ type, object: event.object })}\n`);
    }
  }

  private send(res: ServerResponse, code: number, body: Obj): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, body: text });
        return this.send(res, 400, statusBody(400, 'BadRequest', `the body of the request was in an unknown format: ${(err as Error).message}`));
      }
    }
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.searchParams, ...(body !== undefined ? { body } : {}) });

    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    const fault = this.faults.findIndex((f) => f.method === method);
    if (fault >= 0) {
      const f = this.faults.splice(fault, 1)[0]!;
      return this.send(res, f.code, statusBody(f.code, f.reason, f.message));
    }
    const sm = SECRETS_PATH.exec(url.pathname);
    if (sm) return this.secretRequest(res, method, decodeURIComponent(sm[1]!), sm[2] === undefined ? undefined : decodeURIComponent(sm[2]), body);
    const m = JOBS_PATH.exec(url.pathname);
    if (!m) return this.send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const namespace = decodeURIComponent(m[1]!);
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);

    if (name === undefined && method === 'POST') return this.create(res, namespace, body);
    if (name === undefined && method === 'GET') return url.searchParams.get('watch') === 'true' ? this.watch(res, namespace, url.searchParams) : this.list(res, namespace, url.searchParams);
    if (name !== undefined && method === 'GET') {
      const job = this.jobs.get(`${namespace}/${name}`);
      return job ? this.send(res, 200, job) : this.send(res, 404, statusBody(404, 'NotFound', `jobs.batch "${name}" not found`, { name, group: 'batch', kind: 'jobs' }));
    }
    if (name !== undefined && method === 'DELETE') return this.remove(res, namespace, name, url.searchParams);
    return this.send(res, 405, statusBody(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  }

  private create(res: ServerResponse, namespace: string, body: unknown): void {
    if (body === null || typeof body !== 'object') return this.send(res, 400, statusBody(400, 'BadRequest', 'the body of the request must be an object'));
    const job = body as Obj;
    if (job.apiVersion !== 'batch/v1' || job.kind !== 'Job') {
      return this.send(res, 400, statusBody(400, 'BadRequest', `the API version in the data (${job.apiVersion}) does not match the expected API version (batch/v1) or the kind (${job.kind}) is not Job`));
    }
    const name: string = job.metadata?.name ?? '';
    if (job.metadata?.namespace !== undefined && job.metadata.namespace !== namespace) {
      return this.send(res, 400, statusBody(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    const invalid = (causes: Array<{ field: string; message: string }>): void =>
      this.send(res, 422, statusBody(422, 'Invalid', `Job.batch "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, {
        name,
        group: 'batch',
        kind: 'Job',
        causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })),
      }));

    // 1. The OpenAPI schema (types, required fields, quantity formats).
    try {
      new Job(job as ConstructorParameters<typeof Job>[0]).validate();
    } catch (err) {
      const errors = (err as { errors?: Array<{ instancePath: string; message?: string }> }).errors ?? [];
      const causes = errors.length
        ? errors.map((e) => ({ field: e.instancePath.replace(/^\//, '').replace(/\//g, '.').replace(/~1/g, '/'), message: e.message ?? 'invalid' }))
        : [{ field: '(object)', message: (err as Error).message }];
      return invalid(causes);
    }
    // 2. What the API server checks beyond the schema.
    const causes: Array<{ field: string; message: string }> = [];
    if (name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
    else if (name.length > 63 || !DNS_LABEL.test(name)) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 label of at most 63 characters` });
    causes.push(...labelProblems(job.metadata?.labels, 'metadata.labels'));
    causes.push(...labelProblems(job.spec?.template?.metadata?.labels, 'spec.template.metadata.labels'));
    const pod = job.spec?.template?.spec ?? {};
    if (pod.restartPolicy !== 'Never' && pod.restartPolicy !== 'OnFailure') {
      causes.push({ field: 'spec.template.spec.restartPolicy', message: `Unsupported value: ${JSON.stringify(pod.restartPolicy)}: supported values: "OnFailure", "Never"` });
    }
    if (job.spec?.podFailurePolicy !== undefined && pod.restartPolicy !== 'Never') {
      causes.push({ field: 'spec.template.spec.restartPolicy', message: `Invalid value: ${JSON.stringify(pod.restartPolicy)}: only "Never" is supported when podFailurePolicy is specified` });
    }
    if (job.spec?.selector !== undefined && job.spec?.manualSelector !== true) {
      causes.push({ field: 'spec.selector', message: '`selector` will be auto-generated' });
    }
    const names = new Set<string>();
    (pod.containers ?? []).forEach((c: Obj, i: number) => {
      if (names.has(c.name)) causes.push({ field: `spec.template.spec.containers[${i}].name`, message: `Duplicate value: "${c.name}"` });
      names.add(c.name);
      const gpuLimit = c.resources?.limits?.['nvidia.com/gpu'];
      const gpuRequest = c.resources?.requests?.['nvidia.com/gpu'];
      if (gpuLimit !== undefined && !/^[0-9]+$/.test(String(gpuLimit))) {
        causes.push({ field: `spec.template.spec.containers[${i}].resources.limits[nvidia.com/gpu]`, message: 'must be an integer' });
      }
      if (gpuRequest !== undefined && String(gpuRequest) !== String(gpuLimit)) {
        causes.push({ field: `spec.template.spec.containers[${i}].resources.requests[nvidia.com/gpu]`, message: 'must be equal to nvidia.com/gpu limit' });
      }
    });
    if ((pod.containers ?? []).length === 0) causes.push({ field: 'spec.template.spec.containers', message: 'Required value' });
    if (causes.length) return invalid(causes);
    this.validated.push(name);

    if (this.jobs.has(`${namespace}/${name}`)) {
      return this.send(res, 409, statusBody(409, 'AlreadyExists', `jobs.batch "${name}" already exists`, { name, group: 'batch', kind: 'jobs' }));
    }
    // Defaults the API server adds.
    const uid = randomUUID();
    const stored = structuredClone(job);
    stored.metadata = { ...stored.metadata, namespace, uid, resourceVersion: String(++this.rv), generation: 1, creationTimestamp: new Date().toISOString() };
    stored.spec = { completionMode: 'NonIndexed', suspend: false, ...stored.spec, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } } };
    stored.spec.template.metadata = { ...stored.spec.template.metadata, labels: { ...stored.spec.template.metadata?.labels, 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name } };
    stored.status = {};
    this.jobs.set(`${namespace}/${name}`, stored);
    this.publish('ADDED', namespace, stored);
    this.send(res, 201, stored);
  }

  private list(res: ServerResponse, namespace: string, query: URLSearchParams): void {
    let selector: Requirement[];
    try {
      selector = parseSelector(query.get('labelSelector'));
    } catch (err) {
      return this.send(res, 400, statusBody(400, 'BadRequest', (err as Error).message));
    }
    const items = [...this.jobs.values()].filter((j) => j.metadata.namespace === namespace && matches(selector, j));
    this.send(res, 200, { apiVersion: 'batch/v1', kind: 'JobList', metadata: { resourceVersion: String(this.rv) }, items });
  }

  private watch(res: ServerResponse, namespace: string, query: URLSearchParams): void {
    let selector: Requirement[];
    try {
      selector = parseSelector(query.get('labelSelector'));
    } catch (err) {
      return this.send(res, 400, statusBody(400, 'BadRequest', (err as Error).message));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = query.get('resourceVersion');
    if (from === null || from === '' || from === '0') {
      // No version: synthetic ADDED events for what exists now.
      for (const j of this.jobs.values()) if (j.metadata.namespace === namespace && matches(selector, j)) res.write(`${JSON.stringify({ type: 'ADDED', object: j })}\n`);
    } else {
      const rv = Number(from);
      if (!Number.isFinite(rv) || rv < this.oldestRv) {
        res.write(`${JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${from} (${this.oldestRv})`) })}\n`);
        res.end();
        return;
      }
      for (const e of this.events) if (e.rv > rv && e.namespace === namespace && matches(selector, e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    }
    const w: Watcher = { namespace, selector, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private remove(res: ServerResponse, namespace: string, name: string, query: URLSearchParams): void {
    const policy = query.get('propagationPolicy');
    if (policy !== null && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      return this.send(res, 400, statusBody(400, 'BadRequest', `invalid propagationPolicy ${policy}`));
    }
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) return this.send(res, 404, statusBody(404, 'NotFound', `jobs.batch "${name}" not found`, { name, group: 'batch', kind: 'jobs' }));
    this.jobs.delete(`${namespace}/${name}`);
    // The garbage collector: what the Job owned goes with it.
    for (const [key, secret] of this.secrets) {
      if ((secret.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === job.metadata.uid)) this.secrets.delete(key);
    }
    job.metadata.resourceVersion = String(++this.rv);
    this.publish('DELETED', namespace, job);
    this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: 'batch', kind: 'jobs', uid: job.metadata.uid } });
  }

  private secretRequest(res: ServerResponse, method: string, namespace: string, name: string | undefined, body: unknown): void {
    const notFound = (n: string) => this.send(res, 404, statusBody(404, 'NotFound', `secrets "${n}" not found`, { name: n, kind: 'secrets' }));
    if (method === 'DELETE' && name !== undefined) {
      if (!this.secrets.delete(`${namespace}/${name}`)) return notFound(name);
      return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: 'secrets' } });
    }
    if (method !== 'POST' && !(method === 'PUT' && name !== undefined)) return this.send(res, 405, statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
    const secret = structuredClone(body) as Obj;
    try {
      new Secret(secret as ConstructorParameters<typeof Secret>[0]).validate();
    } catch (err) {
      return this.send(res, 422, statusBody(422, 'Invalid', `Secret "${secret?.metadata?.name}" is invalid: ${(err as Error).message}`));
    }
    const key = `${namespace}/${secret.metadata.name}`;
    if (method === 'POST' && this.secrets.has(key)) return this.send(res, 409, statusBody(409, 'AlreadyExists', `secrets "${secret.metadata.name}" already exists`, { name: secret.metadata.name, kind: 'secrets' }));
    if (method === 'PUT' && (secret.metadata.name !== name || !this.secrets.has(key))) return notFound(name!);
    const data: Record<string, string> = { ...secret.data };
    for (const [k, v] of Object.entries(secret.stringData ?? {})) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    delete secret.stringData;
    const stored = { ...secret, data, metadata: { ...secret.metadata, namespace, uid: randomUUID(), resourceVersion: String(++this.rv) } };
    this.secrets.set(key, stored);
    this.send(res, method === 'POST' ? 201 : 200, stored);
  }
}
