/** Process entry of the controller: configuration from the environment, clean shutdown on SIGTERM. */
import { controllerConfigFromEnv, runController } from './run.js';

let config;
try {
  config = controllerConfigFromEnv(process.env);
} catch (err) {
  process.stderr.write(`[controller] ${(err as Error).message}\n`);
  process.exit(1);
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
