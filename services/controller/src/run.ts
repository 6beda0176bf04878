import { createServer, type Server as HttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  connectBus, ensureStreams, JetStreamExecutor, KvStateStore, NatsEventBus, queueStats, type BusConnection,
} from '@nasnet/bus';
import { KubernetesLauncher, LocalProcessLauncher, loadTrainerJobTemplate, type TrainerLauncher } from '@nasnet/launcher';
import { SearchManager, type Launcher, type StoredSearch } from './manager.js';
import { startControllerServer, type RunningServer } from './grpc-server.js';

export interface ControllerConfig {
  natsUrl: string;
  natsUser?: string;
  natsPass?: string;
  /** @default '0.0.0.0' */
  host?: string;
  /** gRPC port (0 = any). @default 50051 */
  grpcPort?: number;
  /** Health port (0 = any, -1 = none). @default 8080 */
  httpPort?: number;
  token?: string;
  tls?: { cert: string; key: string; clientCa?: string };
  /** How trainers are started: Kubernetes Jobs, local processes, or not at all (they run elsewhere). @default 'none' */
  launcher?: 'kubernetes' | 'local' | 'none';
  namespace?: string;
  trainerTemplate?: string;
  /** Environment for locally launched trainers. */
  trainerEnv?: Record<string, string>;
  /** Queue depth is published this often. @default 5000 */
  queueEveryMs?: number;
  maxActiveSearches?: number;
  log?: (line: string) => void;
}

export interface RunningController {
  grpcPort: number;
  httpPort: number;
  manager: SearchManager;
  bus: BusConnection;
  close(): Promise<void>;
}

const TRAINER_ENTRY = fileURLToPath(new URL('../../child-trainer/src/main.ts', import.meta.url));

async function makeLauncher(config: ControllerConfig): Promise<Launcher | undefined> {
  const kind = config.launcher ?? 'none';
  if (kind === 'none') return undefined;
  let inner: TrainerLauncher;
  if (kind === 'kubernetes') {
    inner = new KubernetesLauncher({
      ...(config.namespace ? { namespace: config.namespace } : {}),
      ...(config.trainerTemplate ? { template: await loadTrainerJobTemplate(config.trainerTemplate) } : {}),
      natsUrl: config.natsUrl,
    });
  } else {
    inner = new LocalProcessLauncher({ entry: TRAINER_ENTRY, natsUrl: config.natsUrl, ...(config.trainerEnv ? { env: config.trainerEnv } : {}) });
  }
  return { launch: (req) => inner.launch(req) };
}

/** Starts the controller: bus, state store, search manager (resuming stored searches), gRPC and health endpoints. */
export async function runController(config: ControllerConfig): Promise<RunningController> {
  const log = config.log ?? ((line: string) => process.stderr.write(`[controller] ${line}\n`));
  const bus = await connectBus(config.natsUrl, {
    // Several requests per child: stack captures per request were a tenth of the controller's CPU.
    name: 'controller', log, asyncTraces: false,
    ...(config.natsUser ? { user: config.natsUser } : {}), ...(config.natsPass ? { pass: config.natsPass } : {}),
  });
  await ensureStreams(bus.jsm);
  const store = await KvStateStore.open<StoredSearch>(bus);
  const events = new NatsEventBus(bus);
  const executor = new JetStreamExecutor(bus, { log });
  const launcher = await makeLauncher(config);
  const manager = new SearchManager({
    store, executorFor: () => executor, log,
    ...(launcher ? { launcher } : {}),
    ...(config.maxActiveSearches ? { maxActiveSearches: config.maxActiveSearches } : {}),
    // Events are best effort on the bus (the search state in KV is the record); a failed publish is logged.
    publish: (event) => { events.publish(event).catch((err: Error) => log(`event publish failed: ${err.message}`)); },
  });
  const resumed = await manager.recover();
  if (resumed) log(`resumed ${resumed} search(es) from the store`);
  const grpc: RunningServer = await startControllerServer({
    manager, host: config.host ?? '0.0.0.0', port: config.grpcPort ?? 50051,
    ...(config.token ? { token: config.token } : {}), ...(config.tls ? { tls: config.tls } : {}),
  });
  log(`SearchService on ${config.host ?? '0.0.0.0'}:${grpc.port}${config.tls ? ' (TLS)' : ''}${config.token ? ', bearer token required' : ''}`);

  const queueTimer = setInterval(() => {
    queueStats(bus)
      .then((q) => events.publish({ kind: 'queue', timeMs: Date.now(), pending: q.pending, inFlight: q.inFlight }))
      .catch((err: Error) => log(`queue stats failed: ${err.message}`));
  }, config.queueEveryMs ?? 5000);
  queueTimer.unref();

  let http: HttpServer | undefined;
  let httpPort = -1;
  if ((config.httpPort ?? 8080) >= 0) {
    http = createServer((req, res) => {
      if (req.url === '/healthz' || req.url === '/readyz') {
        const ok = !bus.nc.isClosed();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'nats connection closed\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    httpPort = await new Promise<number>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(config.httpPort ?? 8080, config.host ?? '0.0.0.0', () => resolve((http!.address() as { port: number }).port));
    });
  }

  return {
    grpcPort: grpc.port,
    httpPort,
    manager,
    bus,
    async close() {
      clearInterval(queueTimer);
      await manager.shutdown();
      await grpc.close();
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      await bus.close();
    },
  };
}

/** Reads the controller's settings from the environment (the process edge). */
export function controllerConfigFromEnv(env: NodeJS.ProcessEnv): ControllerConfig {
  const num = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < -1 || n > 65535) throw new RangeError(`${name} must be a port number, got '${raw}'`);
    return n;
  };
  if (!env.NATS_URL) throw new RangeError('NATS_URL is required (e.g. nats://nats:4222)');
  const launcher = env.NASNET_LAUNCHER ?? 'none';
  if (!['kubernetes', 'local', 'none'].includes(launcher)) throw new RangeError(`NASNET_LAUNCHER must be kubernetes, local or none, got '${launcher}'`);
  const tls = env.TLS_CERT && env.TLS_KEY ? { cert: env.TLS_CERT, key: env.TLS_KEY, ...(env.TLS_CLIENT_CA ? { clientCa: env.TLS_CLIENT_CA } : {}) } : undefined;
  return {
    natsUrl: env.NATS_URL,
    ...(env.NATS_USER ? { natsUser: env.NATS_USER } : {}), ...(env.NATS_PASS ? { natsPass: env.NATS_PASS } : {}),
    host: env.HOST ?? '0.0.0.0',
    grpcPort: num('GRPC_PORT', 50051),
    httpPort: num('HTTP_PORT', 8080),
    ...(env.CONTROLLER_TOKEN ? { token: env.CONTROLLER_TOKEN } : {}),
    ...(tls ? { tls } : {}),
    launcher: launcher as ControllerConfig['launcher'],
    ...(env.NASNET_NAMESPACE ? { namespace: env.NASNET_NAMESPACE } : {}),
    ...(env.NASNET_TRAINER_TEMPLATE ? { trainerTemplate: env.NASNET_TRAINER_TEMPLATE } : {}),
  };
}
