/**
 * Process entry of the transfer service. The environment is read here, once
 * (config.ts lists the variables); a bad or missing one is reported in one
 * line naming it, exit code 2. runTransferService does the rest (NATS, the
 * transfers' KV bucket, TransferService on the gRPC edge). Stops cleanly on
 * SIGINT / SIGTERM.
 */
import { ConfigError } from '@nasnet/config';
import { transferConfigFromEnv, type TransferConfig } from './config.js';
import { runTransferService } from './run.js';

let config: TransferConfig;
try {
  config = transferConfigFromEnv(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`transfer: ${err.message}\n`);
  process.exit(2);
}

const service = await runTransferService(config);
process.stdout.write(`transfer service listening on ${service.address}\n`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`${signal}: stopping the transfer service\n`);
  service.close().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
