/**
 * Process entry of the transfer service. The environment is read here, once
 * (config.ts lists the variables); a bad or missing one is reported in one
 * line naming it, exit code 2. Stops cleanly on SIGINT / SIGTERM.
 */
import { ConfigError } from '@nasnet/config';
import { transferConfigFromEnv, type TransferConfig } from './config.js';
import { ProcessTransferRunner } from './runner.js';
import { startTransferServer } from './server.js';
import { controllerSearchBest } from './controller-client.js';

let config: TransferConfig;
try {
  config = transferConfigFromEnv(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`transfer: ${err.message}\n`);
  process.exit(2);
}

const server = await startTransferServer({
  host: config.host,
  port: config.port,
  maxConcurrent: config.maxConcurrent,
  tokens: config.tokens,
  runner: new ProcessTransferRunner(config.backend ? { backend: config.backend } : {}),
  ...(config.tls ? { tls: config.tls } : {}),
  ...(config.controller ? { resolveSearchBest: controllerSearchBest(config.controller) } : {}),
});
process.stdout.write(`transfer service listening on ${server.address}\n`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`${signal}: stopping the transfer service\n`);
  server.close().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
