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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { buildTrainerJob, defaultTrainerJobTemplate, parseTrainerJobTemplate } from '@nasnet/launcher';
import { isVariableSafePassword, NATS_PASSWORD_VARIABLES, NATS_ROLES, natsAuthConfig, natsPasswordVariables } from '@nasnet/bus';
import { parseTokens, type Env } from '@nasnet/config';
import { controllerConfigFromEnv } from '../services/controller/src/config.js';
import { transferConfigFromEnv } from '../services/transfer/src/config.js';
import { metricsConfigFromEnv } from '../services/metrics/src/config.js';
import { trainerConfigFromEnv } from '../services/child-trainer/src/config.js';
import { README, SERVICE_VARIABLES, withEnvTables } from '../scripts/env-docs.js';

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
  'v1/ResourceQuota': ResourceQuota,
  'v1/LimitRange': LimitRange,
};

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

function render(path: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', join(root, path)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kustomize output of ${path} is not valid YAML: ${d.errors[0]!.message}`);
    return d.toJSON() as Obj;
  });
}

/** Generated ConfigMaps carry a 10-character content hash after their name. */
function baseName(name: string): string {
  return name.replace(/^(nasnet-trainer-template|nasnet-trainer-profiles|nasnet-limits|nats-config|nasnet-api-tokens)-[a-z0-9]{10}$/, '$1');
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
before(() => {
  base = render('k8s/base');
  gpu = render('k8s/overlays/gpu');
});

test('k8s manifests - base and gpu overlay render, and every object validates against the Kubernetes schema', () => {
  for (const [name, objects] of [['base', base], ['gpu', gpu]] as const) {
    const kinds = objects.map((o) => `${o.kind}/${baseName(o.metadata.name)}`).sort();
    assert.deepEqual(kinds, [
      'ConfigMap/nasnet-grafana-dashboard', 'ConfigMap/nasnet-limits', 'ConfigMap/nasnet-trainer-profiles', 'ConfigMap/nasnet-trainer-template',
      'ConfigMap/nats-config', 'ConfigMap/prometheus-scrape',
      'Deployment/nasnet-controller', 'Deployment/nasnet-metrics', 'Deployment/nasnet-transfer', 'LimitRange/nasnet-limits',
      'Namespace/nasnet', 'ResourceQuota/nasnet-quota', 'Role/nasnet-controller', 'RoleBinding/nasnet-controller', 'Secret/nasnet-api-tokens', 'Secret/nats-credentials',
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

test('k8s manifests - the controller may manage only Jobs and read only pods, in its own namespace', () => {
  for (const objects of [base, gpu]) {
    assert.equal(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'), false);
    const role = find(objects, 'Role', 'nasnet-controller');
    assert.deepEqual(role.rules, [
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
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
  // Everything else in the overlay is the base (its trainer profiles are the GPU ones: checked with the profiles below).
  const replaced = ['nasnet-trainer-template', 'nasnet-trainer-profiles'];
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
    nats: { client: 4222, monitor: 8222 },
    'nats-headless': { client: 4222, monitor: 8222 },
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

test('k8s manifests - NATS runs JetStream on a volume, with an 8 MB max payload that nats-server accepts', () => {
  const sts = find(base, 'StatefulSet', 'nats');
  const c = sts.spec.template.spec.containers[0];
  assert.equal(c.image, 'nats:2.10-alpine');
  assert.deepEqual(c.args, ['-js', '-sd', '/data', '-c', '/etc/nats/nats.conf']);
  assert.deepEqual(c.volumeMounts.map((m: Obj) => m.mountPath).sort(), ['/data', '/etc/nats']);
  const [claim] = sts.spec.volumeClaimTemplates;
  assert.equal(claim.metadata.name, 'data');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
  const cm = find(base, 'ConfigMap', 'nats-config');
  const configVolume = sts.spec.template.spec.volumes.find((v: Obj) => v.name === 'config');
  assert.equal(configVolume.configMap.name, cm.metadata.name);
  const conf = cm.data['nats.conf'];
  assert.match(conf, /^max_payload: 8MB$/m);
  assert.match(conf, /^jetstream \{[^}]*store_dir: \/data/m);
  const file = join(scratch, 'nats.conf');
  writeFileSync(file, conf);
  // The users' passwords are variables the StatefulSet fills from the Secret: give the check the Secret's values.
  const env = { ...process.env, ...natsPasswordEnv(base) };
  const ok = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8', env });
  assert.equal(ok.status, 0, `nats-server -t: ${ok.stderr}`);
  assert.match(`${ok.stdout}${ok.stderr}`, /configuration file .* is valid/);
  writeFileSync(file, `${conf}\nmax_payload: [\n`);
  assert.notEqual(spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8', env }).status, 0, 'nats-server -t rejects a broken config');
});

/** NATS_<ROLE>_PASSWORD -> the value in the rendered Secret nats-credentials. */
function natsPasswordEnv(objects: Obj[]): Record<string, string> {
  const secret = find(objects, 'Secret', 'nats-credentials');
  return Object.fromEntries(NATS_ROLES.map((r) => [NATS_PASSWORD_VARIABLES[r], Buffer.from(secret.data[`${r}-password`], 'base64').toString('utf8')]));
}

test('k8s manifests - each NATS client has its own user, its password from the nats-credentials Secret; the server gets them all', () => {
  const secretRef = (role: string) => ({ secretKeyRef: { name: 'nats-credentials', key: `${role}-password` } });
  for (const objects of [base, gpu]) {
    const secret = find(objects, 'Secret', 'nats-credentials');
    assert.equal(secret.metadata.name, 'nats-credentials', 'no name hash: the trainer template names it');
    assert.deepEqual(Object.keys(secret.data).sort(), NATS_ROLES.map((r) => `${r}-password`).sort());
    const passwords = Object.values(natsPasswordEnv(objects));
    for (const p of passwords) assert.ok(isVariableSafePassword(p), `placeholder ${p} survives nats-server's variable parsing`);
    assert.equal(new Set(passwords).size, passwords.length, 'a different password per user');

    const envOf = (c: Obj) => Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value ?? e.valueFrom]));
    const nats = envOf(find(objects, 'StatefulSet', 'nats').spec.template.spec.containers[0]);
    for (const r of NATS_ROLES) assert.deepEqual(nats[NATS_PASSWORD_VARIABLES[r]], secretRef(r), `nats gets ${NATS_PASSWORD_VARIABLES[r]}`);
    const clients: Array<[string, Obj, string]> = [
      ['controller', find(objects, 'Deployment', 'nasnet-controller').spec.template.spec.containers[0], 'controller'],
      ['metrics', find(objects, 'Deployment', 'nasnet-metrics').spec.template.spec.containers[0], 'metrics'],
      ['transfer', find(objects, 'Deployment', 'nasnet-transfer').spec.template.spec.containers[0], 'transfer'],
      ['trainer template', trainerTemplate(objects).spec.template.spec.containers[0], 'trainer'],
    ];
    for (const [where, c, role] of clients) {
      const env = envOf(c);
      assert.equal(env.NATS_USER, role, `${where}: NATS_USER`);
      assert.deepEqual(env.NATS_PASS, secretRef(role), `${where}: NATS_PASS from the Secret`);
    }
    // Launched trainer Jobs keep the credentials (the launcher only adds SEARCH_ID and backend).
    const job = buildTrainerJob(parseTrainerJobTemplate(trainerTemplate(objects)), { searchId: 's', trainers: 2, gpusPerTrainer: 0 }, { namespace: 'nasnet' });
    assert.deepEqual(envOf(job.spec!.template.spec!.containers[0]!).NATS_PASS, secretRef('trainer'));
  }
  // The server config holds exactly the generated authorization block, with these variables.
  const conf = find(base, 'ConfigMap', 'nats-config').data['nats.conf'];
  assert.ok(conf.includes(natsAuthConfig(natsPasswordVariables())), 'nats.conf carries natsAuthConfig(natsPasswordVariables())');
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
        // nats-server reads only the users' passwords, referenced from nats.conf.
        assert.match(container.image, /^nats:/, `${where}: an image we know`);
        assert.deepEqual(names.filter((n) => !(Object.values(NATS_PASSWORD_VARIABLES) as string[]).includes(n)), [], `${where}: only NATS_<ROLE>_PASSWORD`);
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

test('k8s manifests - the trainer profiles match the trainer template, the limits parse, the quota admits a profile\'s GPUs', () => {
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
  }
});

test('k8s manifests - the API token placeholders parse, differ from each other, and are marked as placeholders', () => {
  const secret = find(base, 'Secret', 'nasnet-api-tokens');
  const value = (key: string) => Buffer.from(secret.data[key], 'base64').toString('utf8');
  const controllerTokens = parseTokens(value('controller-tokens'), 'controller-tokens');
  const transferTokens = parseTokens(value('transfer-tokens'), 'transfer-tokens');
  const all = [...controllerTokens, ...transferTokens].map((t) => t.token);
  assert.equal(new Set(all).size, all.length, 'a different token per caller and service');
  for (const token of all) assert.ok(token.length >= 32, 'placeholders are long random strings');
  assert.match(value('controller-tokens'), /PLACEHOLDER/);
  assert.match(value('transfer-tokens'), /PLACEHOLDER/);
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
