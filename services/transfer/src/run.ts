import { connectBus, KV_TRANSFERS, KvStateStore, natsAuthOptions } from '@nasnet/bus';
import { DEFAULT_TRANSFER_LIMITS, type TransferDatasetOptions } from '@nasnet/transfer';
import type { TransferConfig } from './config.js';
import { controllerSearchBest } from './controller-client.js';
import { ProcessTransferRunner, type TransferRunner } from './runner.js';
import { startTransferServer } from './server.js';
import type { TransferManager } from './manager.js';

/** A started transfer service. */
export interface RunningTransfer {
  /** The bound port (the real one when 0 was asked). */
  port: number;
  /** host:port to dial. */
  address: string;
  manager: TransferManager;
  /** Stops serving and training (unfinished transfers stay stored and resume at the next start), then leaves NATS. */
  close(): Promise<void>;
}

/** What tests and embedders may replace; main.ts passes nothing. */
export interface TransferServiceDeps {
  /** @default a ProcessTransferRunner whose default backend is config.backend (NAS_BACKEND) */
  runner?: TransferRunner;
  /** Loader options of every transfer's data set. */
  datasetOptions?: TransferDatasetOptions;
  /** @default a line on stderr */
  log?: (line: string) => void;
}

/**
 * Starts the transfer service: NATS, the transfers' KV bucket
 * (nas_transfers, created when missing), the manager with the stored
 * transfers (unfinished ones queued again) and TransferService over the
 * gRPC edge. A pod can restart on another node: everything it knows is in
 * JetStream.
 */
export async function runTransferService(config: TransferConfig, deps: TransferServiceDeps = {}): Promise<RunningTransfer> {
  const log = deps.log ?? ((line: string) => process.stderr.write(`[transfer] ${line}\n`));
  const bus = await connectBus(config.nats.url, {
    name: 'transfer', log,
    ...natsAuthOptions(config.nats),
  });
  try {
    const store = await KvStateStore.open<unknown>(bus, { bucket: KV_TRANSFERS, create: { description: 'Transfers of the transfer service (JSON job registry entries)' } });
    const runner = deps.runner ?? new ProcessTransferRunner(config.backend ? { backend: config.backend } : {});
    const server = await startTransferServer({
      host: config.host, port: config.port, tokens: config.tokens, maxConcurrent: config.maxConcurrent, store, runner, log,
      // Confined paths: an unset root allows no such paths (NASNET_DATA_DIR, NASNET_EXPORT_DIR). Limits: config's, else the defaults.
      paths: { ...(config.dataRoot ? { dataRoot: config.dataRoot } : {}), ...(config.exportRoot ? { exportRoot: config.exportRoot } : {}) },
      limits: config.limits ?? DEFAULT_TRANSFER_LIMITS,
      ...(config.tls ? { tls: config.tls } : {}),
      ...(deps.datasetOptions ? { datasetOptions: deps.datasetOptions } : {}),
      ...(config.controller ? {
        resolveSearchBest: controllerSearchBest({
          address: config.controller.address,
          ...(config.controller.token ? { token: config.controller.token } : {}), ...(config.controller.tls ? { tls: config.controller.tls } : {}),
        }),
      } : {}),
    });
    const quarantined = server.manager.quarantined();
    if (quarantined.length > 0) log(`${quarantined.length} stored transfer entr${quarantined.length === 1 ? 'y is' : 'ies are'} quarantined (keys quarantine=<key> in ${KV_TRANSFERS})`);
    return {
      port: server.port,
      address: server.address,
      manager: server.manager,
      close: async () => {
        await server.close();
        await bus.close();
      },
    };
  } catch (err) {
    await bus.close().catch(() => {});
    throw err;
  }
}
