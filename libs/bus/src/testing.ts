import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test utility, not for production: a throwaway `nats-server -js` on a port
 * the server picks itself (`-p -1`, so two test files never race for one),
 * with its store in a fresh temporary folder that `stop()` removes.
 *
 * ```ts
 * const server = await startNatsServer();
 * after(() => server.stop());
 * const bus = await connectBus(server.url, { name: 'test' });
 * ```
 */
export interface NatsServerOptions {
  /** Server binary, looked up on PATH unless a path. @default 'nats-server' (Debian: /usr/sbin/nats-server) */
  binary?: string;
  /** Largest message the server accepts, bytes. @default 1 MiB (the server's own default) */
  maxPayloadBytes?: number;
  /** Give up waiting for "Server is ready" after this long. @default 15000 */
  startTimeoutMs?: number;
  /**
   * More nats.conf text, appended to the generated file: e.g. an
   * `authorization { users = [...] }` block from natsAuthConfig(). @default none
   */
  config?: string;
  /**
   * The server process's whole environment (include PATH when `binary` is
   * looked up there), e.g. values for `$VARIABLE` references in `config`.
   * @default inherited from this process
   */
  env?: Record<string, string | undefined>;
}

export interface NatsTestServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Process id of the running server (a new one after restart()); benchmarks read its CPU time from /proc. */
  readonly pid: number;
  /** The JetStream store folder (deleted by stop()). */
  storeDir: string;
  /** Everything the server wrote to stderr so far, for failing tests. */
  log(): string;
  /**
   * Stops the server with SIGTERM (JetStream writes out its store; SIGKILL
   * after 5 s) and starts it again on the same port with the same store and
   * configuration, as a rolling restart or a crashed pod coming back would:
   * clients reconnect to `url` and find every stream as it was. `downMs`
   * keeps it down that long in between. @default downMs 0
   */
  restart(downMs?: number): Promise<void>;
  /** Kills the server (SIGKILL after 5 s of SIGTERM) and deletes its store. Safe to call twice. */
  stop(): Promise<void>;
}

/** nats-server did not start (missing binary, bad config, no "ready" line in time). */
export class NatsServerStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NatsServerStartError';
  }
}

/** Starts a JetStream-enabled nats-server for one test file. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsTestServer> {
  const binary = options.binary ?? 'nats-server';
  const dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  const storeDir = join(dir, 'store');
  const configFile = join(dir, 'server.conf');
  const maxPayload = options.maxPayloadBytes ?? 1024 * 1024;
  writeFileSync(configFile, `max_payload: ${maxPayload}\n${options.config ? `${options.config}\n` : ''}`);
  let stderr = '';
  let stopped: Promise<void> | undefined;
  let current: { child: ChildProcess; exited: Promise<void> } | undefined;
  // A test process that exits without stop() (a crash, process.exit) takes its server along.
  const killOnExit = () => { current?.child.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  /** Starts one server process on `port` (-1: the server picks one) and waits until it is ready. */
  const launch = async (port: number): Promise<number> => {
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-c', configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
    });
    current = { child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
    // Only this process's lines count towards its "ready" (the log keeps every run's).
    let own = '';
    return waitForReady(child, options.startTimeoutMs ?? 15_000, (chunk) => { own += chunk; stderr += chunk; }, () => own);
  };
  const terminate = async (): Promise<void> => {
    const run = current;
    if (!run || run.child.exitCode !== null || run.child.signalCode !== null) return;
    run.child.kill('SIGTERM');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 5000);
    await run.exited;
    clearTimeout(timer);
  };
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await terminate();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    const port = await launch(-1);
    const restart = async (downMs = 0): Promise<void> => {
      if (stopped) throw new NatsServerStartError('nats-server was stopped; it cannot be restarted');
      await terminate();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch(port);
    };
    return {
      url: `nats://127.0.0.1:${port}`, port, storeDir, log: () => stderr, restart, stop,
      get pid() { return current?.child.pid ?? 0; },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function waitForReady(child: ChildProcess, timeoutMs: number, append: (s: string) => void, log: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let port = 0;
    const fail = (why: string, cause?: unknown) => {
      clearTimeout(timer);
      reject(new NatsServerStartError(`nats-server ${why}; its log:\n${log()}`, cause === undefined ? undefined : { cause }));
    };
    const timer = setTimeout(() => fail(`printed no "Server is ready" within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail('could not be started (is the nats-server package installed?)', err));
    const onExit = (code: number | null, signal: string | null) => fail(`exited with ${code ?? signal} before it was ready`);
    child.once('exit', onExit);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      append(chunk);
      const text = log();
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(text);
      if (m) port = Number(m[1]);
      if (port && text.includes('Server is ready')) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(port);
      }
    });
  });
}
