/**
 * The Kubernetes deployment as rendered by kustomize (kubectl 1.32 ships
 * kustomize v5.5): every object validates against the Kubernetes OpenAPI
 * schema (kubernetes-models), RBAC stays minimal, every container is locked
 * down, the trainer template matches the launcher's, the NATS config, the
 * Prometheus scrape config and the dashboard's queries pass their own tools
 * (nats-server -t, promtool), and the Dockerfiles run as non-root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { LimitRange } from 'kubernetes-models/v1/LimitRange';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { buildTrainerJob, defaultTrainerJobTemplate, parseTrainerJobTemplate } from '@nasnet/launcher';
import { credsUserName, parseSigner } from '@nasnet/bus';
import { parseTokens, type Env } from '@nasnet/config';
import { controllerConfigFromEnv } from '../services/controller/src/config.js';
import { transferConfigFromEnv } from '../services/transfer/src/config.js';
import { metricsConfigFromEnv } from '../services/metrics/src/config.js';
import { trainerConfigFromEnv } from '../services/child-trainer/src/config.js';
import { README, SERVICE_VARIABLES, withEnvTables } from '../scripts/env-docs.js';
import { generateSecrets, STAMP_FILE } from '../scripts/secrets.js';

type Obj = Record<string, any>;

const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'nasnet-k8s-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** apiVersion/kind -> the kubernetes-models class that validates it. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'v1/ResourceQuota': ResourceQuota,
  'v1/LimitRange': LimitRange,
};

/** k8s/base/network-policies.yaml, by name. */
const NETWORK_POLICIES = [
  'allow-dns-egress', 'controller-apiserver-egress', 'controller-grpc-ingress', 'default-deny-all', 'metrics-prometheus-ingress',
  'nats-clients-egress', 'nats-ingress', 'transfer-grpc-ingress', 'transfer-to-controller-egress',
];

const METRICS = [
  'nasnet_searches',
  'nasnet_children_trained_total',
  'nasnet_children_failed_total',
  'nasnet_children_redelivered_total',
  'nasnet_child_reward',
  'nasnet_search_best_reward',
  'nasnet_child_train_seconds',
  'nasnet_queue_depth',
  'nasnet_trainers_active',
  'nasnet_controller_update_seconds',
];

/**
 * The repository ships no secret: render a copy of k8s/ with secrets
 * generated the documented way (`npm run secrets`, scripts/secrets.ts) into
 * the copy's k8s/base/secrets.
 */
const k8sCopy = join(scratch, 'repo');
cpSync(join(root, 'k8s'), join(k8sCopy, 'k8s'), { recursive: true, filter: (src) => !src.startsWith(join(root, 'k8s/base/secrets')) });

function render(path: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', join(k8sCopy, path)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kustomize output of ${path} is not valid YAML: ${d.errors[0]!.message}`);
    return d.toJSON() as Obj;
  });
}

/** Generated ConfigMaps carry a 10-character content hash after their name. */
function baseName(name: string): string {
  return name.replace(/^(nasnet-trainer-template|nasnet-trainer-profiles|nasnet-limits|nats-config|nasnet-api-tokens|nasnet-controller-tls|nasnet-transfer-tls|nats-server|nasnet-nats-users)-[a-z0-9]{10}$/, '$1');
}

/**
 * kustomize folds long base64 Secret values over several lines; the API
 * server's decoder (Go's encoding/base64) skips the newlines, the schema's
 * "byte" format does not: validate the value as the server reads it.
 */
function unfolded(o: Obj): Obj {
  if (o.kind !== 'Secret' || !o.data) return o;
  return { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) };
}

function find(objects: Obj[], kind: string, name: string): Obj {
  const hit = objects.filter((o) => o.kind === kind && baseName(o.metadata.name) === name);
  assert.equal(hit.length, 1, `exactly one ${kind} ${name}`);
  return hit[0]!;
}

/** Every pod spec in the objects (workloads), with where it came from. */
function podSpecs(objects: Obj[]): Array<[string, Obj]> {
  return objects.filter((o) => o.spec?.template?.spec).map((o) => [`${o.kind}/${o.metadata.name}`, o.spec.template.spec]);
}

function trainerTemplate(objects: Obj[]): Obj {
  const cm = find(objects, 'ConfigMap', 'nasnet-trainer-template');
  return parseYaml(cm.data['job.yaml']);
}

let base: Obj[];
let gpu: Obj[];
let unrendered: ReturnType<typeof spawnSync>;
before(async () => {
  // First without secrets: kustomize must refuse, naming the file that says how to make them.
  unrendered = spawnSync('kubectl', ['kustomize', join(k8sCopy, 'k8s/base')], { encoding: 'utf8' });
  await generateSecrets({ out: join(k8sCopy, 'k8s/base/secrets') });
  base = render('k8s/base');
  gpu = render('k8s/overlays/gpu');
});

test('k8s manifests - base and gpu overlay render, and every object validates against the Kubernetes schema', () => {
  for (const [name, objects] of [['base', base], ['gpu', gpu]] as const) {
    const kinds = objects.map((o) => `${o.kind}/${baseName(o.metadata.name)}`).sort();
    assert.deepEqual(kinds, [
      'ConfigMap/nasnet-ca', 'ConfigMap/nasnet-grafana-dashboard', 'ConfigMap/nasnet-limits', 'ConfigMap/nasnet-trainer-profiles', 'ConfigMap/nasnet-trainer-template',
      'ConfigMap/nats-config', 'ConfigMap/prometheus-scrape',
      'Deployment/nasnet-controller', 'Deployment/nasnet-metrics', 'Deployment/nasnet-transfer', 'LimitRange/nasnet-limits',
      'Namespace/nasnet', ...NETWORK_POLICIES.map((n) => `NetworkPolicy/${n}`), 'ResourceQuota/nasnet-quota', 'Role/nasnet-controller', 'RoleBinding/nasnet-controller',
      'Secret/nasnet-api-tokens', 'Secret/nasnet-controller-tls', 'Secret/nasnet-nats-users', 'Secret/nasnet-transfer-tls', 'Secret/nats-server',
      'Service/nasnet-controller', 'Service/nasnet-metrics', 'Service/nasnet-transfer', 'Service/nats', 'Service/nats-headless',
      'ServiceAccount/nasnet-controller', 'ServiceAccount/nasnet-trainer', 'StatefulSet/nats',
    ], `${name}: the objects rendered`);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `${name}: no schema model for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(unfolded(o)).validate(), `${name}: ${o.kind}/${o.metadata.name}`);
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'nasnet', `${name}: ${o.kind}/${o.metadata.name} namespace`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'nasnet', `${name}: ${o.kind}/${o.metadata.name} part-of label`);
    }
    // The trainer templates inside the ConfigMap are Jobs too, and so is what the launcher makes of them.
    const template = trainerTemplate(objects);
    new Job(template as ConstructorParameters<typeof Job>[0]).validate();
    const built = buildTrainerJob(parseTrainerJobTemplate(template, name), { searchId: 'render-check', trainers: 8, gpusPerTrainer: 2 }, { namespace: 'nasnet' });
    new Job(JSON.parse(JSON.stringify(built))).validate();
  }
  // The validator is not a rubber stamp.
  const broken = structuredClone(find(base, 'Deployment', 'nasnet-controller'));
  broken.spec.replicas = 'one';
  assert.throws(() => new Deployment(broken).validate(), /replicas must be integer/);
});

test('k8s manifests - the controller may manage only Jobs, read only pods and write (never read) Secrets, in its own namespace', () => {
  for (const objects of [base, gpu]) {
    assert.equal(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'), false);
    const role = find(objects, 'Role', 'nasnet-controller');
    assert.deepEqual(role.rules, [
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'update', 'delete'] },
    ]);
    const binding = find(objects, 'RoleBinding', 'nasnet-controller');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nasnet-controller' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'nasnet-controller', namespace: 'nasnet' }]);
    assert.equal(find(objects, 'Deployment', 'nasnet-controller').spec.template.spec.serviceAccountName, 'nasnet-controller');
    // Nothing else gets an API token.
    for (const [where, pod] of podSpecs(objects)) {
      if (where !== 'Deployment/nasnet-controller') assert.equal(pod.automountServiceAccountToken, false, `${where} mounts no token`);
    }
    const trainerSa = find(objects, 'ServiceAccount', 'nasnet-trainer');
    assert.equal(trainerSa.automountServiceAccountToken, false);
    const template = trainerTemplate(objects);
    assert.equal(template.spec.template.spec.serviceAccountName, 'nasnet-trainer');
    assert.equal(template.spec.template.spec.automountServiceAccountToken, false);
  }
});

test('k8s manifests - every container runs as non-root with a read-only root filesystem and no privileges', () => {
  for (const objects of [base, gpu]) {
    const pods: Array<[string, Obj]> = [...podSpecs(objects), ['trainer template', trainerTemplate(objects).spec.template.spec]];
    assert.equal(pods.length, 5);
    for (const [where, pod] of pods) {
      const psc = pod.securityContext ?? {};
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const at = `${where} container ${c.name}`;
        const sc = c.securityContext ?? {};
        assert.equal(sc.runAsNonRoot ?? psc.runAsNonRoot, true, `${at}: runAsNonRoot`);
        const uid = sc.runAsUser ?? psc.runAsUser;
        assert.ok(Number.isInteger(uid) && uid > 0, `${at}: runAsUser ${uid}`);
        assert.equal(uid, 10001, `${at}: the images' user`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${at}: drops all capabilities`);
        assert.equal(sc.capabilities?.add, undefined, `${at}: adds none`);
        assert.equal(sc.privileged ?? false, false, `${at}: not privileged`);
        assert.equal((sc.seccompProfile ?? psc.seccompProfile)?.type, 'RuntimeDefault', `${at}: seccomp`);
        assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${at}: cpu/memory requests and a memory limit`);
        // A read-only root needs somewhere to write: /tmp (tsx's cache) for our images.
        const mounts: string[] = (c.volumeMounts ?? []).map((m: Obj) => m.mountPath);
        if (String(c.image).startsWith('ghcr.io/nasnet-k8s/')) assert.ok(mounts.includes('/tmp'), `${at}: /tmp volume`);
      }
      assert.equal(pod.hostNetwork ?? false, false);
      assert.equal(pod.hostPID ?? false, false);
    }
  }
});

test('k8s manifests - the base trainer template is the launcher default; the gpu one differs only in GPU settings', () => {
  assert.deepEqual(trainerTemplate(base), JSON.parse(JSON.stringify(defaultTrainerJobTemplate())));
  const g = trainerTemplate(gpu);
  const pod = g.spec.template.spec;
  const c = pod.containers.find((x: Obj) => x.name === 'trainer');
  assert.equal(c.resources.limits['nvidia.com/gpu'], '1');
  assert.equal(c.image, 'ghcr.io/nasnet-k8s/child-trainer:0.1.0-gpu');
  assert.equal(c.env.find((e: Obj) => e.name === 'NAS_BACKEND').value, 'tensorflow');
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  // Strip what the overlay is meant to change: the rest must be the base template.
  const strip = (t: Obj): Obj => {
    const x = structuredClone(t);
    const p = x.spec.template.spec;
    delete p.nodeSelector;
    delete p.tolerations;
    const k = p.containers.find((y: Obj) => y.name === 'trainer');
    delete k.image;
    delete k.resources;
    k.env = k.env.filter((e: Obj) => e.name !== 'NAS_BACKEND' && e.name !== 'TF_FORCE_GPU_ALLOW_GROWTH');
    return x;
  };
  assert.deepEqual(strip(g), strip(trainerTemplate(base)));
  // A GPU search on the gpu overlay: the launcher keeps the template's GPU when the search asks for 0.
  const job = buildTrainerJob(parseTrainerJobTemplate(g), { searchId: 's', trainers: 4, gpusPerTrainer: 0 }, { namespace: 'nasnet' });
  assert.equal(job.spec!.template.spec!.containers[0]!.resources!.limits!['nvidia.com/gpu'], '1');
  // The overlay's operator limits are the base's but for one search's trainers (one GPU each: see the quota test below).
  const limitsOf = (objects: Obj[]) => parseYaml(find(objects, 'ConfigMap', 'nasnet-limits').data['limits.yaml']);
  const [gpuLimits, baseLimits] = [limitsOf(gpu), limitsOf(base)];
  assert.ok(gpuLimits.search.concurrency < baseLimits.search.concurrency);
  assert.deepEqual({ ...gpuLimits, search: { ...gpuLimits.search, concurrency: 0 } }, { ...baseLimits, search: { ...baseLimits.search, concurrency: 0 } });
  // Everything else in the overlay is the base (its trainer profiles are the GPU ones: checked with the profiles below).
  const replaced = ['nasnet-trainer-template', 'nasnet-trainer-profiles', 'nasnet-limits'];
  const withoutTemplate = (objects: Obj[]) => objects.filter((o) => !(o.kind === 'ConfigMap' && replaced.includes(baseName(o.metadata.name)))).map((o) => {
    const x = structuredClone(o);
    for (const v of x.spec?.template?.spec?.volumes ?? []) if (v.configMap && replaced.includes(baseName(v.configMap.name))) v.configMap.name = baseName(v.configMap.name);
    return x;
  });
  assert.deepEqual(withoutTemplate(gpu), withoutTemplate(base));
});

test('k8s manifests - the controller reads the trainer template from its mounted ConfigMap', () => {
  for (const objects of [base, gpu]) {
    const cm = find(objects, 'ConfigMap', 'nasnet-trainer-template');
    const pod = find(objects, 'Deployment', 'nasnet-controller').spec.template.spec;
    const c = pod.containers[0];
    const volume = pod.volumes.find((v: Obj) => v.configMap?.name === cm.metadata.name);
    assert.ok(volume, 'the generated (hashed) ConfigMap name is referenced');
    const mount = c.volumeMounts.find((m: Obj) => m.name === volume.name);
    const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env.NASNET_TRAINER_TEMPLATE, `${mount.mountPath}/job.yaml`);
    assert.equal(mount.readOnly, true);
    assert.deepEqual(env.NASNET_NAMESPACE, { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.equal(env.NASNET_LAUNCHER, 'kubernetes');
    assert.equal(env.NATS_URL, 'nats://nats:4222');
    assert.equal(find(objects, 'Deployment', 'nasnet-controller').spec.strategy.type, 'Recreate');
  }
});

test('k8s manifests - services expose the right ports and select their workloads', () => {
  const expected: Record<string, Record<string, number>> = {
    'nasnet-controller': { grpc: 50051, http: 8080 },
    'nasnet-metrics': { metrics: 9464 },
    'nasnet-transfer': { grpc: 50052 },
    // The monitoring port listens on the pod's loopback: no Service exposes it.
    nats: { client: 4222 },
    'nats-headless': { client: 4222 },
  };
  const workloads = base.filter((o) => o.spec?.template?.spec);
  for (const [name, ports] of Object.entries(expected)) {
    const svc = find(base, 'Service', name);
    assert.deepEqual(Object.fromEntries(svc.spec.ports.map((p: Obj) => [p.name, p.port])), ports, `${name} ports`);
    const targets = workloads.filter((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
    assert.equal(targets.length, 1, `${name} selects exactly one workload`);
    const containerPorts = new Map(targets[0]!.spec.template.spec.containers.flatMap((c: Obj) => c.ports ?? []).map((p: Obj) => [p.name, p.containerPort]));
    for (const p of svc.spec.ports) assert.equal(containerPorts.get(p.targetPort), p.port, `${name}: targetPort ${p.targetPort}`);
  }
  const metrics = find(base, 'Service', 'nasnet-metrics');
  const annotations = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9464', 'prometheus.io/path': '/metrics' };
  assert.deepEqual(metrics.metadata.annotations, annotations);
  assert.deepEqual(find(base, 'Deployment', 'nasnet-metrics').spec.template.metadata.annotations, annotations);
  assert.equal(find(base, 'StatefulSet', 'nats').spec.serviceName, 'nats-headless');
  assert.equal(find(base, 'Service', 'nats-headless').spec.clusterIP, 'None');
});

test('k8s manifests - NATS runs JetStream on a volume, TLS only, monitoring on loopback, JWT users, and nats-server accepts the config', () => {
  const sts = find(base, 'StatefulSet', 'nats');
  const c = sts.spec.template.spec.containers[0];
  assert.equal(c.image, 'nats:2.10-alpine');
  assert.deepEqual(c.args, ['-js', '-sd', '/data', '-c', '/etc/nats/config/nats.conf']);
  assert.deepEqual(c.volumeMounts.map((m: Obj) => m.mountPath).sort(), ['/data', '/etc/nats/config', '/etc/nats/secret']);
  assert.deepEqual(c.ports.map((p: Obj) => p.containerPort), [4222], 'only the client port');
  assert.equal(c.env, undefined, 'no password in the environment');
  for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) assert.match(probe.exec.command.join(' '), /^wget .*http:\/\/127\.0\.0\.1:8222\/healthz/);
  const [claim] = sts.spec.volumeClaimTemplates;
  assert.equal(claim.metadata.name, 'data');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
  const cm = find(base, 'ConfigMap', 'nats-config');
  const volumes = Object.fromEntries(sts.spec.template.spec.volumes.map((v: Obj) => [v.name, v]));
  assert.equal(volumes.config.configMap.name, cm.metadata.name);
  const secret = find(base, 'Secret', 'nats-server');
  assert.equal(volumes.secret.secret.secretName, secret.metadata.name);
  const files = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]));
  assert.deepEqual(Object.keys(files).sort(), ['nats-operator.conf', 'nats.crt', 'nats.key']);
  assert.doesNotMatch(files['nats-operator.conf']!, /\bS[OAU][A-Z2-7]{50,}/, 'the server gets JWTs and public keys, no seed');
  const conf = cm.data['nats.conf'];
  assert.match(conf, /^max_payload: 8MB$/m);
  assert.match(conf, /^jetstream \{[^}]*store_dir: \/data/m);
  assert.match(conf, /^http: "127\.0\.0\.1:8222"$/m);
  assert.doesNotMatch(conf, /^http_port/m);
  assert.match(conf, /^tls \{[^}]*cert_file: "\/etc\/nats\/secret\/nats\.crt"[^}]*key_file: "\/etc\/nats\/secret\/nats\.key"/m);
  assert.doesNotMatch(conf, /^\s*(authorization|users|password)\b/m, 'no users in the config: they are JWTs');
  assert.match(conf, /^include "\.\.\/secret\/nats-operator\.conf"$/m);
  // The files as the pod sees them, the absolute paths moved into the scratch folder.
  const dir = mkdtempSync(join(scratch, 'nats-'));
  mkdirSync(join(dir, 'config'));
  mkdirSync(join(dir, 'secret'));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, 'secret', k), v);
  const file = join(dir, 'config', 'nats.conf');
  writeFileSync(file, conf.replaceAll('/etc/nats/secret/', `${dir}/secret/`));
  const ok = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, `nats-server -t: ${ok.stderr}`);
  assert.match(`${ok.stdout}${ok.stderr}`, /configuration file .* is valid/);
  writeFileSync(file, `${conf}\nmax_payload: [\n`);
  assert.notEqual(spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8' }).status, 0, 'nats-server -t rejects a broken config');
});

test('k8s manifests - each NATS client connects over TLS with its own JWT user from the generated Secret; trainers get their search\'s own', () => {
  for (const objects of [base, gpu]) {
    const users = find(objects, 'Secret', 'nasnet-nats-users');
    const files = Object.fromEntries(Object.entries(users.data).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]));
    assert.deepEqual(Object.keys(files).sort(), ['controller.creds', 'metrics.creds', 'signer.json', 'transfer.creds']);
    assert.doesNotThrow(() => parseSigner(files['signer.json']!, 'signer.json'));
    const envOf = (c: Obj) => Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value ?? e.valueFrom]));
    for (const role of ['controller', 'metrics', 'transfer']) {
      assert.equal(credsUserName(files[`${role}.creds`]!), role);
      const pod = find(objects, 'Deployment', `nasnet-${role}`).spec.template.spec;
      const c = pod.containers[0];
      const env = envOf(c);
      assert.equal(env.NATS_USER, undefined, `${role}: no NATS_USER`);
      assert.equal(env.NATS_PASS, undefined, `${role}: no NATS_PASS`);
      assert.equal(env.NATS_CREDS, `/etc/nasnet/nats/${role}.creds`, `${role}: NATS_CREDS`);
      assert.equal(env.NATS_CA, '/etc/nasnet/ca/ca.crt', `${role}: NATS_CA`);
      // Only its own keys of the shared Secret are mounted.
      const volume = pod.volumes.find((v: Obj) => v.secret?.secretName === users.metadata.name);
      const keys = volume.secret.items.map((i: Obj) => i.key).sort();
      assert.deepEqual(keys, role === 'controller' ? ['controller.creds', 'signer.json'] : [`${role}.creds`], `${role}: mounts only its own keys`);
      assert.equal(c.volumeMounts.find((m: Obj) => m.name === volume.name).mountPath, '/etc/nasnet/nats');
    }
    // The template names no NATS user: the launcher adds the search's own Secret.
    const template = envOf(trainerTemplate(objects).spec.template.spec.containers[0]);
    for (const name of ['NATS_USER', 'NATS_PASS', 'NATS_CREDS']) assert.equal(template[name], undefined, `trainer template: no ${name}`);
    assert.equal(template.NATS_CA, '/etc/nasnet/ca/ca.crt');
    const job = buildTrainerJob(parseTrainerJobTemplate(trainerTemplate(objects)), { searchId: 's', trainers: 2, gpusPerTrainer: 0, natsCreds: files['metrics.creds']! }, { namespace: 'nasnet' });
    new Job(JSON.parse(JSON.stringify(job))).validate();
    assert.equal(envOf(job.spec!.template.spec!.containers[0]!).NATS_CREDS, '/etc/nasnet/nats/trainer.creds');
    const ca = find(objects, 'ConfigMap', 'nasnet-ca');
    assert.equal(ca.metadata.name, 'nasnet-ca', 'no name hash: the trainer template names it');
    assert.match(ca.data['ca.crt'], /^-----BEGIN CERTIFICATE-----/);
    // Private keys and seeds live only in Secrets; the CA's key in none at all.
    for (const o of objects) {
      if (o.kind === 'Secret') continue;
      assert.doesNotMatch(JSON.stringify(o), /PRIVATE KEY|NKEY SEED|signingSeed/, `${o.kind}/${o.metadata.name}: no key material`);
    }
    const keys = objects.filter((o) => o.kind === 'Secret').flatMap((o) => Object.values(o.data).map((v) => Buffer.from(String(v), 'base64').toString('utf8')));
    const caKey = readFileSync(join(k8sCopy, 'k8s/base/secrets/ca.key'), 'utf8');
    assert.ok(!keys.some((v) => v.includes(caKey.trim())), 'the CA key is in no Secret');
  }
});

/** Does a label selector (matchLabels, matchExpressions In / NotIn / Exists) select these labels? */
function selects(selector: Obj | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (selector.matchExpressions ?? []).every((e: Obj) => {
    if (e.operator === 'In') return e.values.includes(labels[e.key]);
    if (e.operator === 'NotIn') return !e.values.includes(labels[e.key]);
    if (e.operator === 'Exists') return e.key in labels;
    return assert.fail(`selector operator ${e.operator} not modelled`);
  });
  return byLabel && byExpr;
}

interface Peer { name: string; labels: Record<string, string>; inNamespace: boolean; ports: number[] }

/**
 * NetworkPolicy semantics (kubernetes.io "Network Policies"): a connection
 * from `src` to `dst` on TCP `port` is allowed when every side that some
 * policy isolates has a rule that lets it through: an ingress rule of a
 * policy selecting dst whose `from` matches src, and an egress rule of a
 * policy selecting src whose `to` matches dst; a rule without peers or
 * ports matches every peer or port.
 */
function allowed(policies: Obj[], src: Peer, dst: Peer, port: number, protocol = 'TCP'): boolean {
  const peerMatches = (peers: Obj[] | undefined, who: Peer): boolean => peers === undefined || peers.some((p) => {
    if (p.ipBlock) return true; // an ipBlock may hold any address, pods' included
    if (p.namespaceSelector === undefined && !who.inNamespace) return false;
    return selects(p.podSelector, who.labels);
  });
  const portMatches = (ports: Obj[] | undefined): boolean => ports === undefined || ports.some((p) => (p.protocol ?? 'TCP') === protocol && p.port === port);
  const side = (kind: 'Ingress' | 'Egress', self: Peer, other: Peer): boolean => {
    if (!self.inNamespace) return true;
    const isolating = policies.filter((p) => p.spec.policyTypes.includes(kind) && selects(p.spec.podSelector, self.labels));
    if (isolating.length === 0) return true;
    return isolating.some((p) => (kind === 'Ingress' ? p.spec.ingress : p.spec.egress ?? [])?.some((r: Obj) => portMatches(r.ports) && peerMatches(kind === 'Ingress' ? r.from : r.to, other)));
  };
  return side('Egress', src, dst) && side('Ingress', dst, src);
}

test('k8s manifests - network policies deny by default and allow only what each service needs, on the containers\' own ports', () => {
  for (const objects of [base, gpu]) {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    assert.deepEqual(policies.map((p) => p.metadata.name).sort(), NETWORK_POLICIES);
    const deny = policies.find((p) => p.metadata.name === 'default-deny-all')!;
    assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // Every pod of the namespace, with its labels and container ports; trainers as the launcher makes them.
    const job = buildTrainerJob(parseTrainerJobTemplate(trainerTemplate(objects)), { searchId: 'net', trainers: 1, gpusPerTrainer: 0 }, { namespace: 'nasnet' });
    const pods: Peer[] = [
      ...objects.filter((o) => o.spec?.template?.spec).map((o) => ({ name: o.metadata.name as string, template: o.spec.template })),
      { name: 'trainer', template: JSON.parse(JSON.stringify(job.spec!.template)) },
    ].map(({ name, template }) => ({
      name, labels: template.metadata.labels, inNamespace: true,
      ports: template.spec.containers.flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.containerPort)),
    }));
    const pod = (name: string) => pods.find((p) => p.name === name)!;
    const [nats, controller, metrics, transfer, trainer] = ['nats', 'nasnet-controller', 'nasnet-metrics', 'nasnet-transfer', 'trainer'].map(pod) as [Peer, Peer, Peer, Peer, Peer];
    const outside: Peer = { name: 'a client in another namespace', labels: { app: 'nasctl' }, inNamespace: false, ports: [] };
    const prometheus: Peer = { name: 'prometheus', labels: { 'app.kubernetes.io/name': 'prometheus' }, inNamespace: false, ports: [] };
    const apiServer: Peer = { name: 'API server', labels: {}, inNamespace: false, ports: [443, 6443] };
    const dns: Peer = { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' }, inNamespace: false, ports: [53] };
    const portOf = (p: Peer, name: string) => {
      const w = objects.find((o) => o.metadata.name === p.name && o.spec?.template)!;
      return w.spec.template.spec.containers.flatMap((c: Obj) => c.ports ?? []).find((x: Obj) => x.name === name).containerPort as number;
    };
    const grpc = portOf(controller, 'grpc');
    const xfer = portOf(transfer, 'grpc');
    const natsPort = portOf(nats, 'client');
    const scrape = portOf(metrics, 'metrics');
    assert.deepEqual([grpc, xfer, natsPort, scrape], [50051, 50052, 4222, 9464]);

    const allow: Array<[Peer, Peer, number]> = [
      // Clients to the two gRPC ports (from anywhere: tokens and TLS guard them), the transfer service to the controller.
      // (any pod outside the namespace counts as a client, Prometheus included; inside, only the transfer service may call out to it).
      [outside, controller, grpc], [outside, transfer, xfer], [prometheus, controller, grpc], [prometheus, transfer, xfer], [transfer, controller, grpc],
      // Services and trainers to NATS.
      [controller, nats, natsPort], [metrics, nats, natsPort], [transfer, nats, natsPort], [trainer, nats, natsPort],
      // Prometheus to the metrics, the controller to the API server.
      [prometheus, metrics, scrape], [controller, apiServer, 443], [controller, apiServer, 6443],
    ];
    for (const [src, dst, port] of allow) assert.ok(allowed(policies, src, dst, port), `${src.name} -> ${dst.name}:${port} is allowed`);
    for (const p of pods) assert.ok(allowed(policies, p, dns, 53, 'UDP') && allowed(policies, p, dns, 53, 'TCP'), `${p.name} resolves names`);

    // Everything else between these pods and ports is refused.
    const everyone = [...pods, outside, prometheus];
    const expected = new Set(allow.map(([s, d, port]) => `${s.name}>${d.name}:${port}`));
    for (const src of everyone) {
      for (const dst of pods) {
        for (const port of [...new Set([...dst.ports, 8222, 8080])]) {
          if (expected.has(`${src.name}>${dst.name}:${port}`)) continue;
          assert.equal(allowed(policies, src, dst, port), false, `${src.name} -> ${dst.name}:${port} is refused`);
        }
      }
      if (src.inNamespace && src !== controller) assert.equal(allowed(policies, src, apiServer, 443), false, `${src.name} cannot reach the API server`);
    }
    assert.equal(allowed(policies, outside, metrics, scrape), false, 'only Prometheus scrapes');
    assert.equal(allowed(policies, trainer, { ...outside, ports: [443] }, 443), false, 'trainers reach nothing outside');
  }
});

test('k8s manifests - the Prometheus scrape config passes promtool and targets the metrics service', () => {
  const cm = find(base, 'ConfigMap', 'prometheus-scrape');
  assert.equal(cm.metadata.name, 'prometheus-scrape', 'a stable name users can reference');
  const entries = parseYaml(cm.data['nasnet-scrape.yaml']) as Obj[];
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.metrics_path, '/metrics');
  assert.deepEqual(entries[0]!.static_configs[0].targets, ['nasnet-metrics.nasnet.svc:9464']);
  const file = join(scratch, 'prometheus.yml');
  writeFileSync(file, stringifyYaml({ global: { scrape_interval: '30s' }, scrape_configs: entries }));
  const out = execFileSync('promtool', ['check', 'config', file], { encoding: 'utf8' });
  assert.match(out, /SUCCESS/);
});

test('k8s manifests - the Grafana dashboard parses, is labelled for the sidecar, and every query is valid PromQL over our metrics', () => {
  const cm = find(base, 'ConfigMap', 'nasnet-grafana-dashboard');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  const text = cm.data['nasnet-dashboard.json'];
  assert.equal(text, readFileSync(join(root, 'k8s/base/grafana/nasnet-dashboard.json'), 'utf8'));
  const dash = JSON.parse(text);
  assert.equal(dash.uid, 'nasnet-search');
  const ids = dash.panels.map((p: Obj) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const exprs: string[] = dash.panels.flatMap((p: Obj) => p.targets.map((t: Obj) => t.expr));
  for (const m of METRICS) assert.ok(exprs.some((e) => new RegExp(`\\b${m}(_bucket|_sum|_count)?\\b`).test(e)), `a panel queries ${m}`);
  const titles = dash.panels.map((p: Obj) => p.title);
  for (const t of ['Reward curve', 'Best reward so far', 'Throughput (children / min)', 'Queue depth', 'Active trainers', 'Children failed / redelivered (per 5 min)', 'Controller update time']) {
    assert.ok(titles.includes(t), `panel ${t}`);
  }
  // Grafana's variables replaced by what Grafana would send, then each query
  // checked by promtool as a recording rule.
  const concrete = exprs.map((e) => e.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '1m').replaceAll('$search', '.*'));
  assert.ok(concrete.every((e) => !e.includes('$')), 'every Grafana variable was substituted');
  const rules = { groups: [{ name: 'dashboard', rules: concrete.map((expr, i) => ({ record: `nasnet:dashboard_query_${i}`, expr })) }] };
  const file = join(scratch, 'rules.yml');
  writeFileSync(file, stringifyYaml(rules));
  assert.match(execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' }), new RegExp(`SUCCESS: ${concrete.length} rules found`));
  writeFileSync(file, stringifyYaml({ groups: [{ name: 'bad', rules: [{ record: 'x:y', expr: 'sum by (le (rate(x[5m]))' }] }] }));
  assert.throws(() => execFileSync('promtool', ['check', 'rules', file], { stdio: 'pipe' }), 'promtool rejects a broken query');
});

test('k8s manifests - every image has a Dockerfile that runs as uid 10001 and starts the service entry', () => {
  const images = new Set<string>();
  for (const objects of [base, gpu]) {
    for (const [, pod] of [...podSpecs(objects), ['template', trainerTemplate(objects).spec.template.spec] as [string, Obj]]) {
      for (const c of pod.containers) images.add(c.image);
    }
  }
  assert.deepEqual([...images].sort(), [
    'ghcr.io/nasnet-k8s/child-trainer:0.1.0', 'ghcr.io/nasnet-k8s/child-trainer:0.1.0-gpu', 'ghcr.io/nasnet-k8s/controller:0.1.0',
    'ghcr.io/nasnet-k8s/metrics:0.1.0', 'ghcr.io/nasnet-k8s/transfer:0.1.0', 'nats:2.10-alpine',
  ]);
  const dockerfiles: Record<string, string> = {
    controller: 'services/controller/Dockerfile',
    metrics: 'services/metrics/Dockerfile',
    transfer: 'services/transfer/Dockerfile',
    'child-trainer': 'services/child-trainer/Dockerfile',
    'child-trainer-gpu': 'services/child-trainer/Dockerfile.gpu',
  };
  for (const [name, path] of Object.entries(dockerfiles)) {
    const service = name.replace(/-gpu$/, '');
    const lines = readFileSync(join(root, path), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
    const final = lines.slice(lastFrom);
    const users = final.filter((l) => /^USER\s/i.test(l));
    assert.deepEqual(users, ['USER 10001:10001'], `${path}: the final stage runs as 10001`);
    assert.ok(final.some((l) => /useradd .*--uid 10001/.test(l)), `${path}: creates the user`);
    assert.ok(final.includes('ENTRYPOINT ["/usr/bin/tini", "--", "node", "--import", "tsx"]'), `${path}: tini + tsx entry point`);
    assert.ok(final.includes(`CMD ["services/${service}/src/main.ts"]`), `${path}: starts services/${service}/src/main.ts`);
    assert.ok(lines.some((l) => l.includes(`npm ci --omit=dev --workspace services/${service} `)), `${path}: installs the service's production dependencies from the lockfile`);
    assert.ok(lines.includes('ARG BASE_IMAGE=node:24-bookworm-slim'), `${path}: the base is a build argument, the official Node 24 image by default`);
    assert.ok(existsSync(join(root, `${path}.dockerignore`)), `${path}: has a .dockerignore`);
    if (name === 'child-trainer-gpu') {
      assert.equal(final[0], 'FROM ${CUDA_IMAGE}');
      assert.ok(lines.includes('ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04'), `${path}: CUDA 11.2 by default`);
      assert.ok(lines.some((l) => l.includes('@tensorflow/tfjs-node-gpu@4.22.0')), `${path}: tfjs-node-gpu at build time`);
      assert.ok(final.some((l) => /NAS_BACKEND=tensorflow/.test(l)), `${path}: NAS_BACKEND=tensorflow`);
    } else {
      assert.equal(final[0], 'FROM ${BASE_IMAGE}');
    }
  }
  // The trainer image's entry exists in this repository (the template passes it as args).
  assert.ok(existsSync(join(root, 'services/child-trainer/src/main.ts')));
  assert.deepEqual(trainerTemplate(base).spec.template.spec.containers[0].args, ['services/child-trainer/src/main.ts']);
});

/** Every container of the rendered objects, the trainer template's and the Job the launcher builds from it. */
function containers(objects: Obj[]): Array<{ where: string; pod: Obj; container: Obj }> {
  const pods: Array<[string, Obj]> = [...podSpecs(objects), ['trainer template', trainerTemplate(objects).spec.template.spec]];
  const job = buildTrainerJob(parseTrainerJobTemplate(trainerTemplate(objects)), { searchId: 'env-check', trainers: 1, gpusPerTrainer: 0, backend: 'wasm' }, { namespace: 'nasnet' });
  pods.push(['launched trainer Job', JSON.parse(JSON.stringify(job.spec!.template.spec))]);
  return pods.flatMap(([where, pod]) => [...(pod.initContainers ?? []), ...pod.containers].map((container: Obj) => ({ where: `${where} container ${container.name}`, pod, container })));
}

/** The service whose image a container runs (ghcr.io/nasnet-k8s/<image>:<tag>), or undefined for another image. */
function serviceOf(image: string): (typeof SERVICE_VARIABLES)[number] | undefined {
  const m = /^ghcr\.io\/nasnet-k8s\/([a-z-]+):/.exec(image);
  if (!m) return undefined;
  const service = SERVICE_VARIABLES.find((s) => s.image === m[1]);
  assert.ok(service, `no VARIABLES list for image ${image}`);
  return service;
}

test('k8s manifests - containers set only variables their service declares (config.ts VARIABLES), and every required one', () => {
  const seen = new Set<string>();
  for (const objects of [base, gpu]) {
    for (const { where, container } of containers(objects)) {
      assert.equal(container.envFrom, undefined, `${where}: no envFrom (its variables could not be checked)`);
      const names: string[] = (container.env ?? []).map((e: Obj) => e.name);
      assert.equal(new Set(names).size, names.length, `${where}: no variable set twice`);
      const service = serviceOf(container.image);
      if (!service) {
        // nats-server reads no variable: its users are JWTs (nats-operator.conf).
        assert.match(container.image, /^nats:/, `${where}: an image we know`);
        assert.deepEqual(names, [], `${where}: no variables`);
        continue;
      }
      seen.add(service.service);
      const declared = new Set(service.variables.map((v) => v.name));
      assert.deepEqual(names.filter((n) => !declared.has(n)), [], `${where}: variables ${service.service} does not read`);
      const required = service.variables.filter((v) => v.required).map((v) => v.name);
      assert.deepEqual(required.filter((n) => !names.includes(n)), [], `${where}: required variables of ${service.service}`);
    }
  }
  assert.deepEqual([...seen].sort(), SERVICE_VARIABLES.map((s) => s.service).sort(), 'every service with a VARIABLES list is deployed');
  // What nothing reads any more is gone.
  const all = [base, gpu].flatMap((objects) => containers(objects)).flatMap(({ container }) => (container.env ?? []).map((e: Obj) => e.name));
  for (const stale of ['NASNET_STATE_DIR', 'TRANSFER_STATE_FILE']) assert.ok(!all.includes(stale), `${stale} is set somewhere`);
});

/** A Kubernetes quantity ("2Gi", "500m", "4") in base units. */
function quantity(text: string): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$/.exec(String(text));
  assert.ok(m, `quantity ${text}`);
  const scale: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3 };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1);
}

/** What the downward API gives for a resourceFieldRef (e.g. limits.memory): the quantity over the divisor, rounded up. */
function resourceValue(container: Obj, ref: Obj): string {
  const [kind, resource] = String(ref.resource).split('.') as [string, string];
  const amount = container.resources?.[kind]?.[resource];
  assert.ok(amount !== undefined, `${container.name}: ${ref.resource} is set`);
  return String(Math.ceil(quantity(amount) / quantity(ref.divisor ?? '1')));
}

/**
 * A container's environment as the kubelet would give it: values, Secret
 * keys and the downward API resolved, and paths under a mounted Secret or
 * ConfigMap rewritten to a copy of its files under `root`.
 */
function containerEnv(objects: Obj[], pod: Obj, container: Obj, root: string): Env {
  const data = (kind: string, name: string): Record<string, string> => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) {
      // The trainer template names the unhashed Secret; the template ConfigMap is the only hashed one it could mean.
      const byBase = objects.find((x) => x.kind === kind && baseName(x.metadata.name) === name);
      assert.ok(byBase, `${kind} ${name} exists`);
      return decode(kind, byBase);
    }
    return decode(kind, o);
  };
  const decode = (kind: string, o: Obj): Record<string, string> => kind === 'Secret'
    ? Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]))
    : { ...(o.data ?? {}) };
  const mounts: Array<[string, string]> = [];
  for (const m of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v: Obj) => v.name === m.name);
    const source = volume?.secret ? data('Secret', volume.secret.secretName) : volume?.configMap ? data('ConfigMap', volume.configMap.name) : undefined;
    if (!source) continue;
    const dir = join(root, m.mountPath);
    mkdirSync(dir, { recursive: true });
    const items: Array<{ key: string; path: string }> = (volume.secret ?? volume.configMap).items ?? Object.keys(source).map((key) => ({ key, path: key }));
    for (const { key, path } of items) writeFileSync(join(dir, path), source[key]!);
    mounts.push([m.mountPath, dir]);
  }
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    let value: string;
    if (e.value !== undefined) value = String(e.value);
    else if (e.valueFrom?.secretKeyRef) value = data('Secret', e.valueFrom.secretKeyRef.name)[e.valueFrom.secretKeyRef.key]!;
    else if (e.valueFrom?.fieldRef) value = { 'metadata.namespace': 'nasnet', 'metadata.name': 'pod-0' }[e.valueFrom.fieldRef.fieldPath as string]!;
    else if (e.valueFrom?.resourceFieldRef) value = resourceValue(container, e.valueFrom.resourceFieldRef);
    else assert.fail(`${container.name}: ${e.name} has a source this check does not know`);
    assert.ok(value !== undefined, `${container.name}: ${e.name} resolves`);
    const mount = mounts.find(([path]) => value.startsWith(`${path}/`));
    env[e.name] = mount ? mount[1] + value.slice(mount[0].length) : value;
  }
  return env;
}

test('k8s manifests - every service accepts the environment the manifests give it (its own config.ts parses it)', () => {
  const parse: Record<string, (env: Env) => unknown> = {
    controller: controllerConfigFromEnv,
    transfer: transferConfigFromEnv,
    metrics: metricsConfigFromEnv,
    'child-trainer': (env) => trainerConfigFromEnv(env, { hostname: 'node', pid: 1 }),
  };
  for (const [name, objects] of [['base', base], ['gpu', gpu]] as const) {
    for (const { where, pod, container } of containers(objects)) {
      const service = serviceOf(container.image);
      if (!service) continue;
      const env = containerEnv(objects, pod, container, mkdtempSync(join(scratch, 'env-')));
      assert.doesNotThrow(() => parse[service.service]!(env), `${name}: ${where}`);
    }
  }
  const controller = find(base, 'Deployment', 'nasnet-controller').spec.template.spec;
  const c = controllerConfigFromEnv(containerEnv(base, controller, controller.containers[0], mkdtempSync(join(scratch, 'env-')))) as ReturnType<typeof controllerConfigFromEnv>;
  assert.deepEqual(c.tokens.map((t) => t.name), ['operator', 'transfer'], 'the controller knows its callers by name');
  assert.equal(c.launcher, 'kubernetes');
  const transfer = find(base, 'Deployment', 'nasnet-transfer').spec.template.spec;
  const t = transferConfigFromEnv(containerEnv(base, transfer, transfer.containers[0], mkdtempSync(join(scratch, 'env-'))));
  assert.deepEqual(t.tokens.map((x) => x.name), ['operator']);
  // The transfer service calls the controller as "transfer".
  assert.equal(c.tokens.find((x) => x.name === 'transfer')?.token, t.controller?.token);
  assert.deepEqual([t.dataRoot, t.exportRoot], ['/data', '/exports']);
  const mounts = Object.fromEntries(transfer.containers[0].volumeMounts.map((m: Obj) => [m.mountPath, m]));
  assert.equal(mounts['/data']?.readOnly, true, 'data is mounted read-only');
  assert.ok(mounts['/exports'] && !mounts['/exports'].readOnly, 'exports are writable');
  // The check is not a rubber stamp: a broken value is refused.
  const broken = structuredClone(controller);
  broken.containers[0].env.find((e: Obj) => e.name === 'GRPC_PORT').value = 'fifty';
  assert.throws(() => controllerConfigFromEnv(containerEnv(base, broken, broken.containers[0], mkdtempSync(join(scratch, 'env-')))), /GRPC_PORT="fifty"/);
});

test('k8s manifests - the trainer profiles match the trainer template, the limits parse, the quota admits a profile\'s GPUs and a whole search\'s trainers', () => {
  for (const [name, objects] of [['base', base], ['gpu', gpu]] as const) {
    const pod = find(objects, 'Deployment', 'nasnet-controller').spec.template.spec;
    const c = controllerConfigFromEnv(containerEnv(objects, pod, pod.containers[0], mkdtempSync(join(scratch, 'env-'))));
    const profile = c.profiles.profiles.get(c.profiles.defaultProfile)!;
    const container = trainerTemplate(objects).spec.template.spec.containers[0];
    assert.equal(profile.image, container.image, `${name}: the default profile runs the template's image`);
    assert.equal(profile.backend, container.env.find((e: Obj) => e.name === 'NAS_BACKEND').value, `${name}: and its backend`);
    assert.ok(c.limits.concurrency >= 1 && c.limits.childDeadlineSeconds > 0 && c.limits.searchWallSeconds > 0, `${name}: limits parsed`);
    const quota = find(objects, 'ResourceQuota', 'nasnet-quota').spec.hard;
    assert.ok(Number(quota['requests.nvidia.com/gpu']) >= profile.maxGpus, `${name}: the quota admits one trainer with the most GPUs`);
    // A search at the concurrency limit on the default profile: every trainer's pod fits the quota at once.
    assert.ok(c.limits.concurrency * profile.gpus <= Number(quota['requests.nvidia.com/gpu']),
      `${name}: ${c.limits.concurrency} trainers x ${profile.gpus} GPU(s) exceed the quota's ${quota['requests.nvidia.com/gpu']} GPUs`);
    // NATS, the controller, metrics and transfer, plus one search's trainers.
    assert.ok(c.limits.concurrency + 4 <= Number(quota.pods), `${name}: the quota's pods admit the services and one search's trainers`);
  }
});

test('k8s manifests - no secret is shipped: kustomize without `npm run secrets` fails naming it; the generated tokens parse and differ', () => {
  assert.notEqual(unrendered.status, 0, 'kustomize renders nothing without the generated secrets');
  assert.ok(String(unrendered.stderr).includes(`k8s/base/secrets/${STAMP_FILE}`), `the error names ${STAMP_FILE}: ${String(unrendered.stderr)}`);
  assert.match(STAMP_FILE, /npm-run-secrets/);
  // The repository holds no secret values or keys.
  const tracked = execFileSync('git', ['ls-files', 'k8s'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.deepEqual(tracked.filter((f) => /\.(env|creds|key|pem|crt)$|tokens\.txt$|credentials|^k8s\/base\/secrets\//.test(f)), [], 'no committed secrets');
  const secret = find(base, 'Secret', 'nasnet-api-tokens');
  const value = (key: string) => Buffer.from(secret.data[key], 'base64').toString('utf8');
  const controllerTokens = parseTokens(value('controller-tokens'), 'controller-tokens');
  const transferTokens = parseTokens(value('transfer-tokens'), 'transfer-tokens');
  assert.deepEqual(controllerTokens.map((t) => t.name), ['operator', 'transfer']);
  assert.deepEqual(transferTokens.map((t) => t.name), ['operator']);
  const all = [...controllerTokens, ...transferTokens].map((t) => t.token);
  assert.equal(new Set(all).size, all.length, 'a different token per caller and service');
  for (const token of all) assert.match(token, /^[A-Za-z0-9]{40}$/, 'long random tokens');
  assert.equal(value('transfer-controller-token'), controllerTokens.find((t) => t.name === 'transfer')?.token);
});

test('k8s manifests - k8s/README.md has the environment tables of every service, generated from VARIABLES', () => {
  const text = readFileSync(README, 'utf8');
  assert.equal(withEnvTables(text), text, 'k8s/README.md is out of date: run `npm run docs:env`');
  for (const { service, variables } of SERVICE_VARIABLES) {
    for (const v of variables) assert.ok(text.includes(`| \`${v.name}\` |`), `${service}: ${v.name} in the README`);
  }
  // A README whose table lost a row is caught.
  const dropped = text.replace(/\n\| `MAX_ACTIVE_SEARCHES` \|[^\n]*/, '');
  assert.notEqual(withEnvTables(dropped), dropped);
});
