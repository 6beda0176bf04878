/**
 * `nasctl up`: the distributed system on one machine, without Kubernetes.
 * Starts nats-server (from PATH, JetStream on), the controller with the
 * local launcher (each search's trainers are processes of it), the metrics
 * service and the transfer service, all on loopback, with a freshly
 * generated token; prints where each listens and the token; stops them all,
 * in reverse order, on Ctrl-C (SIGINT) or SIGTERM. The services are the
 * same entry modules their images run, started as processes (nasctl imports
 * none of them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, createWriteStream, mkdirSync, mkdtempSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import type { CliIO } from './main.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const UP_USAGE = `usage: nasctl up [options]

Starts the distributed system on this machine, without Kubernetes: nats-server
(JetStream), the controller with the local launcher (each search's trainers
run as processes), the metrics service and the transfer service, all on
127.0.0.1, with a freshly generated token. Prints where each listens and the
token; Ctrl-C (or SIGTERM) stops them all.

options:
  --dir DIR             state and logs (JetStream store, exports, one log per service)
                        (default: a new folder under the system's temp folder)
  --grpc-port N         SearchService (controller) port (default: a free port)
  --transfer-port N     TransferService port (default: a free port)
  --metrics-port N      Prometheus /metrics port (default: a free port)
  --nats-port N         NATS port (default: a free port)
  --backend NAME        NAS_BACKEND of the trainers and transfers (default: auto)
  -h, --help            this text

nats-server must be on PATH (Debian: apt-get install nats-server).`;

/** nats-server is not on PATH. */
export class NatsServerMissingError extends Error {
  constructor(readonly path: string) {
    super(`nats-server was not found on PATH (${path || 'empty'}): install it (Debian/Ubuntu: apt-get install nats-server; or a release from nats.io) and run nasctl up again`);
    this.name = 'NatsServerMissingError';
  }
}

/** A service of `nasctl up` exited or did not become ready. */
export class ServiceStartError extends Error {
  constructor(readonly service: string, why: string, readonly logFile: string, tail: string) {
    super(`${service} ${why} (log: ${logFile})${tail ? `\n--- last lines of ${service}'s log ---\n${tail}` : ''}`);
    this.name = 'ServiceStartError';
  }
}

function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePort(port));
    });
  });
}

function port(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${option} ${JSON.stringify(value)}: expected a TCP port, 1 to 65535`);
  return n;
}

interface Service {
  name: string;
  child: ChildProcess;
  log: WriteStream;
  logFile: string;
  output: string;
  exited: Promise<number | null>;
}

/** Environment of a service: PATH and HOME from here (tsx, nats-server), then exactly what it is given. */
function serviceEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'NODE_OPTIONS', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...extra };
}

export async function upCommand(argv: string[], io: CliIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false,
      options: {
        dir: { type: 'string' }, 'grpc-port': { type: 'string' }, 'transfer-port': { type: 'string' }, 'metrics-port': { type: 'string' },
        'nats-port': { type: 'string' }, backend: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${UP_USAGE}`);
  }
  if (values.help) {
    io.out(UP_USAGE);
    return 0;
  }
  const natsServer = findOnPath('nats-server');
  if (!natsServer) throw new NatsServerMissingError(process.env.PATH ?? '');
  const backend = values.backend;
  if (backend !== undefined && !/^[a-z0-9-]+$/.test(backend)) throw new UsageError(`--backend ${JSON.stringify(backend)}: expected a backend name such as wasm`);

  const dir = resolve(values.dir ?? mkdtempSync(join(tmpdir(), 'nasnet-up-')));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'exports'), { recursive: true });
  const host = '127.0.0.1';
  const ports = {
    nats: port(values['nats-port'], '--nats-port') ?? await freePort(),
    grpc: port(values['grpc-port'], '--grpc-port') ?? await freePort(),
    transfer: port(values['transfer-port'], '--transfer-port') ?? await freePort(),
    metrics: port(values['metrics-port'], '--metrics-port') ?? await freePort(),
  };
  // 32 random bytes in hex: the one bearer token of both gRPC services (printed below, nowhere stored).
  // Hex, not base64url: a token that starts with '-' reads as an option when pasted after --token.
  const token = randomBytes(32).toString('hex');
  const natsUrl = `nats://${host}:${ports.nats}`;
  const services: Service[] = [];
  let stopping = false;

  const start = (name: string, command: string, args: string[], env: Record<string, string>): Service => {
    const logFile = join(dir, 'logs', `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    // detached: a process group of its own, so a Ctrl-C in the terminal reaches nasctl only, which
    // stops the services in order (nats-server last: the controller saves its searches there first).
    const child = spawn(command, args, { cwd: ROOT, env: serviceEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const service: Service = { name, child, log, logFile, output: '', exited: new Promise((r) => child.once('close', (code) => r(code))) };
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      // Enough to see a ready line and to show the end of the log when something fails.
      service.output = (service.output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err) => { service.output += `\n${err.message}`; });
    services.push(service);
    void service.exited.then((code) => {
      if (stopping) return;
      io.err(`nasctl up: ${name} exited (${code ?? 'killed'}) — stopping everything; its log: ${logFile}`);
      io.err(tail(service.output));
      void stopAll(1);
    });
    return service;
  };
  const tail = (text: string) => text.trimEnd().split('\n').slice(-15).join('\n');
  const ready = (s: Service, pattern: RegExp, timeoutMs: number): Promise<void> => new Promise((resolveReady, reject) => {
    const timer = setInterval(() => {
      if (pattern.test(s.output)) { clearInterval(timer); clearTimeout(limit); resolveReady(); }
      else if (s.child.exitCode !== null || s.child.signalCode !== null) {
        clearInterval(timer); clearTimeout(limit);
        reject(new ServiceStartError(s.name, `exited (${s.child.exitCode ?? s.child.signalCode}) before it was ready`, s.logFile, tail(s.output)));
      }
    }, 50);
    const limit = setTimeout(() => {
      clearInterval(timer);
      reject(new ServiceStartError(s.name, `was not ready within ${timeoutMs / 1000} s`, s.logFile, tail(s.output)));
    }, timeoutMs);
  });

  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Reverse order: the transfer service and metrics first, then the controller (which stops
    // its local trainers), nats-server last so everyone can say goodbye on the bus.
    for (const s of [...services].reverse()) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        const killer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
        await s.exited;
        clearTimeout(killer);
      }
      s.log.end();
    }
    finish(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    io.err(`nasctl up: ${signal}, stopping the services`);
    void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const node = process.execPath;
  const entry = (service: string) => ['--import', 'tsx', join(ROOT, 'services', service, 'src', 'main.ts')];
  try {
    const nats = start('nats-server', natsServer, ['-js', '-a', host, '-p', String(ports.nats), '-sd', join(dir, 'nats')], {});
    await ready(nats, /Server is ready/, 30_000);
    const controller = start('controller', node, entry('controller'), {
      NATS_URL: natsUrl, HOST: host, GRPC_PORT: String(ports.grpc), HTTP_PORT: '-1', CONTROLLER_TOKEN: token, NASNET_LAUNCHER: 'local',
      ...(backend ? { NAS_BACKEND: backend } : {}),
    });
    const metrics = start('metrics', node, entry('metrics'), { NATS_URL: natsUrl, METRICS_HOST: host, METRICS_PORT: String(ports.metrics) });
    const transfer = start('transfer', node, entry('transfer'), {
      NATS_URL: natsUrl, TRANSFER_HOST: host, TRANSFER_PORT: String(ports.transfer), TRANSFER_TOKEN: token,
      CONTROLLER_ADDR: `${host}:${ports.grpc}`, CONTROLLER_TOKEN: token, NASNET_EXPORT_DIR: join(dir, 'exports'),
      ...(backend ? { NAS_BACKEND: backend } : {}),
    });
    await Promise.all([
      ready(controller, /ready: gRPC \d+/, 120_000), ready(metrics, /serving http/, 120_000), ready(transfer, /transfer service listening on/, 120_000),
    ]);
  } catch (err) {
    await stopAll(1);
    throw err;
  }
  if (stopping) return finished;
  const pid = (name: string) => services.find((s) => s.name === name)!.child.pid;
  io.out([
    'nasnet is up (Ctrl-C stops everything):',
    `  nats-server      ${natsUrl}  (pid ${pid('nats-server')})`,
    `  controller       ${host}:${ports.grpc}  SearchService, local trainers  (pid ${pid('controller')})`,
    `  transfer         ${host}:${ports.transfer}  TransferService  (pid ${pid('transfer')})`,
    `  metrics          http://${host}:${ports.metrics}/metrics  (pid ${pid('metrics')})`,
    `  token            ${token}`,
    `  state and logs   ${dir}`,
    '',
    'try:',
    `  nasctl search submit spec.yaml --watch --server ${host}:${ports.grpc} --token ${token}`,
  ].join('\n'));
  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  io.err(`nasctl up: stopped${code === 0 ? '' : ' (a service failed)'}`);
  return code;
}
