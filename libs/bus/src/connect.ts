import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection, type TlsOptions } from '@nats-io/transport-node';
import { credsInboxPrefix } from './accounts.js';
import { inboxPrefixFor } from './auth.js';

/** One NATS connection and its JetStream handles, shared by everything a process does on the bus. */
export interface BusConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Drains (lets in-flight messages finish) and closes the connection. */
  close(): Promise<void>;
}

export interface ConnectBusOptions {
  /** Client name the server shows in its monitoring (`nasnet-controller`, a trainer's id). */
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /**
   * A .creds file's text (user JWT + nkey seed: NATS decentralised auth,
   * accounts.ts). The inbox prefix then comes from the JWT (credsInboxPrefix).
   */
  creds?: string;
  /** Path of a .creds file, read once at connect (instead of creds). */
  credsFile?: string;
  tls?: TlsOptions;
  /** PEM file of the CA that signed the server's certificate: the connection then requires TLS and verifies the server. */
  caFile?: string;
  /**
   * Prefix of reply subjects (API answers, pulled messages). A user's
   * permissions (auth.ts) let it subscribe to its own `_INBOX.<user>.>` only.
   * @default inboxPrefixFor(user): `_INBOX.<user>`, or `_INBOX` without a user
   */
  inboxPrefix?: string;
  /** Status lines (disconnects, reconnects, errors). @default a line on stderr */
  log?: (line: string) => void;
  /** Wait between reconnect attempts. @default 2000 */
  reconnectTimeWaitMs?: number;
  /** Keep trying when the first connect fails (a pod starting before the NATS server). @default true */
  waitOnFirstConnect?: boolean;
  /** JetStream API request timeout. @default 10000 */
  apiTimeoutMs?: number;
  /**
   * Capture a stack trace at every request, so a failed one points at its
   * caller. It costs an Error per request: about a tenth of the
   * controller's CPU time at 500 children/s (test/bench/load.ts), where
   * runController turns it off. @default true
   */
  asyncTraces?: boolean;
}

/** How a service's NATS settings (its config.ts, @nasnet/config NatsSettings) become connectBus options. */
export function natsAuthOptions(settings: { user?: string; pass?: string; creds?: string; ca?: string }): Pick<ConnectBusOptions, 'user' | 'pass' | 'credsFile' | 'caFile'> {
  return {
    ...(settings.user ? { user: settings.user } : {}), ...(settings.pass ? { pass: settings.pass } : {}),
    ...(settings.creds ? { credsFile: settings.creds } : {}), ...(settings.ca ? { caFile: settings.ca } : {}),
  };
}

/**
 * Connects to NATS with reconnects forever (maxReconnectAttempts -1): a
 * trainer or controller outlives server restarts and rolling upgrades, and
 * JetStream keeps what was published meanwhile.
 */
export async function connectBus(servers: string | string[], options: ConnectBusOptions): Promise<BusConnection> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (options.credsFile !== undefined) options = { ...options, creds: readFileSync(options.credsFile, 'utf8') };
  const nc = await connect({
    servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 2000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? true,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.pass !== undefined ? { pass: options.pass } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.creds !== undefined ? { authenticator: credsAuthenticator(new TextEncoder().encode(options.creds)) } : {}),
    ...(options.tls !== undefined || options.caFile !== undefined
      ? { tls: { ...options.tls, ...(options.caFile !== undefined ? { caFile: options.caFile } : {}) } }
      : {}),
    inboxPrefix: options.inboxPrefix ?? (options.creds !== undefined ? credsInboxPrefix(options.creds) : inboxPrefixFor(options.user)),
    ...(options.asyncTraces === false ? { noAsyncTraces: true } : {}),
  });
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect': log(`nats: disconnected from ${s.server}`); break;
        case 'reconnect': log(`nats: reconnected to ${s.server}`); break;
        case 'error': log(`nats: ${s.error.message}`); break;
        case 'ldm': log('nats: server entered lame duck mode'); break;
        case 'slowConsumer': log(`nats: slow consumer on ${s.sub.getSubject()}`); break;
        default: break;
      }
    }
  })().catch(() => {});
  const timeout = options.apiTimeoutMs ?? 10_000;
  const js = jetstream(nc, { timeout });
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout });
  } catch (err) {
    // No JetStream (or no permission to ask): do not leave a connection reconnecting forever behind.
    await nc.close().catch(() => {});
    throw err;
  }
  return { nc, js, jsm, close: () => (nc.isClosed() ? Promise.resolve() : nc.drain()) };
}
