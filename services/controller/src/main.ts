/**
 * Process entry of the controller. The environment is read here, once
 * (config.ts lists the variables); a bad or missing one is reported in one
 * line naming it, exit code 2. SIGTERM / SIGINT save state and stop cleanly.
 */
import { ConfigError } from '@nasnet/config';
import { controllerConfigFromEnv, type ControllerConfig } from './config.js';
import { runController } from './run.js';

let config: ControllerConfig;
try {
  config = controllerConfigFromEnv(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`[controller] ${err.message}\n`);
  process.exit(2);
}
const controller = await runController(config);
process.stderr.write(`[controller] ready: gRPC ${controller.grpcPort}, health ${controller.httpPort}\n`);
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`[controller] ${signal}: saving state and stopping\n`);
  await controller.close().catch((err: Error) => process.stderr.write(`[controller] close failed: ${err.message}\n`));
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
