import { createServer, type Server as HttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  connectBus, ensureStreams, JetStreamExecutor, KvStateStore, NatsEventBus, queueStats, type BusConnection,
  mintTrainerCreds, natsAuthOptions,
} from '@nasnet/bus';
import { KubernetesLauncher, LocalProcessLauncher, loadTrainerJobTemplate, type TrainerLauncher } from '@nasnet/launcher';
import { SearchManager, SearchNotFoundError } from './manager.js';
import { TrainerPools } from './trainer-pools.js';
import { startControllerServer, type RunningServer } from './grpc-server.js';
import type { ControllerConfig } from './config.js';

/** runController's options: the configuration (config.ts; defaults where left out) and what the process wires in. */
export interface RunControllerOptions extends Partial<Omit<ControllerConfig, 'nats'>> {
  nats: ControllerConfig['nats'];
  /** Environment for locally launched trainers (config.ts builds it: PATH, NODE_OPTIONS, the trainers' own NATS user), nothing inherited. */
  trainerEnv?: Record<string, string>;
  /** Queue depth is published this often. @default 5000 */
  queueEveryMs?: number;
  log?: (line: string) => void;
}

export interface RunningController {
  grpcPort: number;
  httpPort: number;
  manager: SearchManager;
  bus: BusConnection;
  close(): Promise<void>;
}

/** How long a search's trainer NATS user outlives the search's wall time: a trainer hands back its last child (60 s grace) and a restart. */
const TRAINER_CREDS_MARGIN_S = 600;

const TRAINER_ENTRY = fileURLToPath(new URL('../../child-trainer/src/main.ts', import.meta.url));

async function makeLauncher(config: RunControllerOptions): Promise<TrainerLauncher | undefined> {
  const kind = config.launcher ?? 'none';
  if (kind === 'none') return undefined;
  let inner: TrainerLauncher;
  if (kind === 'kubernetes') {
    inner = new KubernetesLauncher({
      ...(config.namespace ? { namespace: config.namespace } : {}),
      ...(config.trainerTemplate ? { template: await loadTrainerJobTemplate(config.trainerTemplate) } : {}),
      natsUrl: config.nats.url,
    });
  } else {
    inner = new LocalProcessLauncher({ entry: TRAINER_ENTRY, natsUrl: config.nats.url, ...(config.trainerEnv ? { env: config.trainerEnv } : {}) });
  }
  const signer = config.natsSigner;
  // Each search's trainers get a NATS user of their own (NATS_SIGNER_FILE): they may take and answer only that search's tasks.
  return {
    // The user expires with the search's wall time (the Job's activeDeadlineSeconds) plus a margin for the last
    // results, so leaked trainer credentials do not outlive the search by long.
    launch: async (req) => inner.launch(signer ? {
      ...req,
      natsCreds: await mintTrainerCreds(signer, req.searchId, req.deadlineSeconds !== undefined ? { expiresInSeconds: req.deadlineSeconds + TRAINER_CREDS_MARGIN_S } : {}),
    } : req),
    ...(inner.list ? { list: () => inner.list!() } : {}),
  };
}

/** Starts the controller: bus, state store, search manager (resuming stored searches), gRPC and health endpoints. */
export async function runController(config: RunControllerOptions): Promise<RunningController> {
  const log = config.log ?? ((line: string) => process.stderr.write(`[controller] ${line}\n`));
  const bus = await connectBus(config.nats.url, {
    // Several requests per child: stack captures per request were a tenth of the controller's CPU.
    name: 'controller', log, asyncTraces: false,
    ...natsAuthOptions(config.nats),
  });
  await ensureStreams(bus.jsm);
  // State saves on a connection of their own: a save's multi-MB KV writes would otherwise sit
  // in the one socket's outbound buffer ahead of task publishes (test/bench/load.ts).
  const stateBus = await connectBus(config.nats.url, {
    name: 'controller-state', log, asyncTraces: false,
    ...natsAuthOptions(config.nats),
  });
  const store = await KvStateStore.open<unknown>(stateBus);
  const events = new NatsEventBus(bus);
  const executor = new JetStreamExecutor(bus, { log });
  const launcher = await makeLauncher(config);
  // With a launcher every search gets its own work queue and trainer launch (trainer-pools.ts);
  // without one, trainers started elsewhere share the queue `trainers` on nas.tasks.>.
  const pools: TrainerPools | undefined = launcher ? new TrainerPools({
    bus, launcher, log,
    isActive: async (id: string): Promise<boolean> => {
      try {
        const s = await manager.get(id);
        return s.runState === 'pending' || s.runState === 'running';
      } catch (err) {
        if (err instanceof SearchNotFoundError) return false;
        throw err;
      }
    },
  }) : undefined;
  const manager: SearchManager = new SearchManager({
    store, executorFor: () => executor, log,
    ...(pools ? { launcher: pools } : {}),
    ...(config.maxActiveSearches ? { maxActiveSearches: config.maxActiveSearches } : {}),
    // Operator limits, trainer profiles and the data root (config.ts; unset here: no limits, the built-in cpu profile, no data root).
    ...(config.limits ? { limits: config.limits } : {}),
    ...(config.profiles ? { profiles: config.profiles } : {}),
    ...(config.dataRoot ? { dataRoot: config.dataRoot } : {}),
    // Events are best effort on the bus (the search state in KV is the record); a failed publish is logged.
    publish: (event) => { events.publish(event).catch((err: Error) => log(`event publish failed: ${err.message}`)); },
  });
  const resumed = await manager.recover();
  if (resumed) log(`resumed ${resumed} search(es) from the store`);
  // After recovery: the resumed searches hold their launches, so only those of ended or unknown searches are removed.
  await pools?.start();
  const quarantined = manager.quarantined();
  if (quarantined.length > 0) log(`${quarantined.length} stored search entr${quarantined.length === 1 ? 'y is' : 'ies are'} quarantined (keys quarantine=<key> in the searches bucket): ${quarantined.map((q) => q.key).join(', ')}`);
  const grpc: RunningServer = await startControllerServer({
    manager, host: config.host ?? '0.0.0.0', port: config.grpcPort ?? 50051,
    ...(config.tokens?.length ? { tokens: config.tokens } : {}), ...(config.tls ? { tls: config.tls } : {}),
  });
  log(`SearchService on ${config.host ?? '0.0.0.0'}:${grpc.port}${config.tls ? ' (TLS)' : ''}${config.tokens?.length ? `, bearer token required (${config.tokens.map((t) => t.name).join(', ')})` : ''}`);

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
        const ok = !bus.nc.isClosed() && !stateBus.nc.isClosed();
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
      // Local trainers are this process's children: they stop with it. Jobs stay for a restarted controller to adopt.
      await pools?.close({ stopLaunches: config.launcher === 'local' });
      await grpc.close();
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      await bus.close();
      await stateBus.close();
    },
  };
}
