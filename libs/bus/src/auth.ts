import {
  CONSUMER_TRAINERS, KV_CANCELS, KV_SEARCHES, KV_TRANSFERS, STREAM_DLQ, STREAM_EVENTS, STREAM_RESULTS, STREAM_TASKS,
} from './types.js';

/**
 * NATS users and subject permissions, one user per service: the single
 * source of truth for k8s/base/nats/nats.conf (a test compares the file
 * with natsAuthConfig()) and for test servers.
 *
 * Each list names exactly what the service's code calls, JetStream API
 * included: with JetStream every stream and consumer operation is a request
 * on `$JS.API.<OP>.<stream>[.<consumer>]`, acks are publishes to
 * `$JS.ACK.<stream>.<consumer>.…`, a KV put is a publish to
 * `$KV.<bucket>.<key>` and a KV watch replies to flow control on
 * `$JS.FC.<stream>.…`. Replies (API answers, pulled messages) arrive on the
 * user's own inbox prefix `_INBOX.<user>` (connectBus sets it from the user
 * name), so no service reads another's replies.
 *
 * What each role may not do is as deliberate as what it may:
 * - trainer: no nas.tasks.* (cannot queue work), no $KV.* (cannot write
 *   search states or cancel markers, cannot read search states), no stream
 *   create/update/delete; it may create and update only the `trainers`
 *   consumer of NAS_TASKS, and reads results only to skip a redelivered
 *   child that was answered already;
 * - metrics: reads NAS_EVENTS through its own consumers, publishes nothing;
 * - transfer: its own bucket nas_transfers (create it, read, write, list
 *   keys) and reading search states (nas_searches); nothing else;
 * - controller: no nas.results.* and no acks (trainers answer), no stream
 *   delete; of the dead letters only nas.dlq.results (trainers: nas.dlq.tasks).
 */
export type NatsRole = 'controller' | 'trainer' | 'metrics' | 'transfer';

/** The roles, in the order nats.conf lists them. */
export const NATS_ROLES: readonly NatsRole[] = ['controller', 'trainer', 'metrics', 'transfer'];

/** What one user may publish to and subscribe to (nats-server `allow` lists). */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/**
 * Environment variable holding each role's password, in the NATS server's
 * pod (nats.conf refers to them) and, as NATS_PASS, in the service's pod.
 */
export const NATS_PASSWORD_VARIABLES: Readonly<Record<NatsRole, string>> = {
  controller: 'NATS_CONTROLLER_PASSWORD',
  trainer: 'NATS_TRAINER_PASSWORD',
  metrics: 'NATS_METRICS_PASSWORD',
  transfer: 'NATS_TRANSFER_PASSWORD',
};

/** A user name that can also be a subject token (`_INBOX.<user>`). */
const USER_TOKEN = /^[-_A-Za-z0-9]{1,64}$/;

/**
 * The inbox prefix a client of `user` uses: `_INBOX.<user>`, so the user's
 * subscribe permission can be `_INBOX.<user>.>` instead of every reply on
 * the server. Plain `_INBOX` when there is no user or the name cannot be a
 * subject token.
 */
export function inboxPrefixFor(user?: string): string {
  return user !== undefined && USER_TOKEN.test(user) ? `_INBOX.${user}` : '_INBOX';
}

const API = '$JS.API';
const KV_STREAM = (bucket: string) => `KV_${bucket}`;
const ALL_STREAMS = [STREAM_TASKS, STREAM_RESULTS, STREAM_EVENTS, STREAM_DLQ, KV_STREAM(KV_SEARCHES), KV_STREAM(KV_CANCELS)];

/** Reading one KV bucket's entries by key: stream info (kv.status), get by sequence or last-by-subject, direct get. */
function kvRead(bucket: string): string[] {
  const s = KV_STREAM(bucket);
  return [`${API}.STREAM.INFO.${s}`, `${API}.STREAM.MSG.GET.${s}`, `${API}.DIRECT.GET.${s}`, `${API}.DIRECT.GET.${s}.>`];
}

/**
 * Following a stream through consumers the client makes and removes itself:
 * create (name and filter ride in the subject), info and delete, then pull
 * (ordered pull consumers: NatsEventBus.subscribe, the executor's results)
 * or answer flow control (ordered push consumers: KV watch and keys).
 */
function ownConsumers(stream: string, kind: 'pull' | 'push'): string[] {
  return [
    `${API}.CONSUMER.CREATE.${stream}.>`, `${API}.CONSUMER.INFO.${stream}.>`, `${API}.CONSUMER.DELETE.${stream}.>`,
    kind === 'pull' ? `${API}.CONSUMER.MSG.NEXT.${stream}.>` : `$JS.FC.${stream}.>`,
  ];
}

/** Each subject once, first mention kept. */
function unique(subjects: string[]): string[] {
  return [...new Set(subjects)];
}

/**
 * The per-service allow lists. A fresh object every call (callers may
 * modify it).
 */
export function natsPermissions(): Record<NatsRole, NatsPermissions> {
  const inbox = (role: NatsRole) => `${inboxPrefixFor(role)}.>`;
  const trainers = `${STREAM_TASKS}.${CONSUMER_TRAINERS}`;
  return {
    controller: {
      publish: unique([
        `${API}.INFO`,
        // ensureStreams: create the streams and buckets, keep their settings in line.
        ...ALL_STREAMS.flatMap((s) => [`${API}.STREAM.INFO.${s}`, `${API}.STREAM.CREATE.${s}`, `${API}.STREAM.UPDATE.${s}`]),
        // JetStreamExecutor: a stored result by subject, then one ordered consumer per search.
        `${API}.STREAM.MSG.GET.${STREAM_RESULTS}`, `${API}.DIRECT.GET.${STREAM_RESULTS}`, `${API}.DIRECT.GET.${STREAM_RESULTS}.>`,
        ...ownConsumers(STREAM_RESULTS, 'pull'),
        // queueStats: depth of the trainers' consumers (the shared one, or every search's own).
        `${API}.CONSUMER.INFO.${trainers}`, `${API}.CONSUMER.LIST.${STREAM_TASKS}`,
        // Per-search work queues (search-queue.ts): make, read and delete consumer trainers-<S>, purge S's leftover tasks.
        `${API}.CONSUMER.CREATE.${STREAM_TASKS}.>`, `${API}.CONSUMER.DURABLE.CREATE.${STREAM_TASKS}.*`, `${API}.CONSUMER.INFO.${STREAM_TASKS}.*`,
        `${API}.CONSUMER.DELETE.${STREAM_TASKS}.*`, `${API}.STREAM.PURGE.${STREAM_TASKS}`,
        // KvStateStore (search states: get, put, purge, keys) and CancelBoard (get, put, purge).
        ...kvRead(KV_SEARCHES), ...ownConsumers(KV_STREAM(KV_SEARCHES), 'push'),
        `${API}.STREAM.MSG.GET.${KV_STREAM(KV_CANCELS)}`, `${API}.DIRECT.GET.${KV_STREAM(KV_CANCELS)}`, `${API}.DIRECT.GET.${KV_STREAM(KV_CANCELS)}.>`,
        `$KV.${KV_SEARCHES}.>`, `$KV.${KV_CANCELS}.>`,
        'nas.tasks.>', 'nas.events.>',
        // Results that are no ChildResult for their subject (JetStreamExecutor).
        'nas.dlq.results',
      ]),
      // Its own replies, and child progress (a core subscription per search).
      subscribe: [inbox('controller'), 'nas.events.>'],
    },
    trainer: {
      publish: unique([
        `${API}.INFO`,
        // ensureStreams at start-up only checks the streams the controller made.
        ...ALL_STREAMS.map((s) => `${API}.STREAM.INFO.${s}`),
        // TrainerConsumer: the shared durable `trainers` consumer (create or update, info, pull, ack).
        `${API}.CONSUMER.INFO.${trainers}`, `${API}.CONSUMER.CREATE.${trainers}`, `${API}.CONSUMER.CREATE.${trainers}.>`,
        `${API}.CONSUMER.DURABLE.CREATE.${trainers}`, `${API}.CONSUMER.MSG.NEXT.${trainers}`,
        `$JS.ACK.${trainers}.>`,
        // A trainer launched for search S (SEARCH_ID) binds to S's own consumer trainers-<S>, made by the
        // controller: info, pull, ack (with per-search NATS users, accounts.ts narrows this to S's consumer).
        `${API}.CONSUMER.INFO.${STREAM_TASKS}.*`, `${API}.CONSUMER.MSG.NEXT.${STREAM_TASKS}.*`, `$JS.ACK.${STREAM_TASKS}.>`,
        // A redelivered task: was its result published already (TrainerConsumer)?
        `${API}.STREAM.MSG.GET.${STREAM_RESULTS}`, `${API}.DIRECT.GET.${STREAM_RESULTS}`, `${API}.DIRECT.GET.${STREAM_RESULTS}.>`,
        // CancelBoard: read markers and watch for new ones.
        ...kvRead(KV_CANCELS), ...ownConsumers(KV_STREAM(KV_CANCELS), 'push'),
        'nas.results.>', 'nas.events.>', 'nas.dlq.tasks',
      ]),
      subscribe: [inbox('trainer')],
    },
    metrics: {
      publish: [`${API}.INFO`, `${API}.STREAM.INFO.${STREAM_EVENTS}`, ...ownConsumers(STREAM_EVENTS, 'pull')],
      subscribe: [inbox('metrics')],
    },
    transfer: {
      publish: unique([
        `${API}.INFO`, ...kvRead(KV_SEARCHES),
        // KvStateStore of the transfers: create the bucket when missing, then get, put, purge and list keys.
        `${API}.STREAM.CREATE.${KV_STREAM(KV_TRANSFERS)}`, ...kvRead(KV_TRANSFERS), ...ownConsumers(KV_STREAM(KV_TRANSFERS), 'push'),
        `$KV.${KV_TRANSFERS}.>`,
      ]),
      subscribe: [inbox('transfer')],
    },
  };
}

/** A password nats.conf takes from an environment variable of the server (`password: $NAME`). */
export interface NatsPasswordVariable {
  variable: string;
}

/** A literal password (or a bcrypt hash from `nats server passwd`), or a variable of the server's environment. */
export type NatsPassword = string | NatsPasswordVariable;

/** A password or variable name natsAuthConfig cannot write into nats.conf. */
export class NatsAuthConfigError extends Error {
  constructor(readonly role: string, readonly reason: string, options?: ErrorOptions) {
    super(`NATS password of user '${role}': ${reason}`, options);
    this.name = 'NatsAuthConfigError';
  }
}

/** Each role's password as a reference to NATS_PASSWORD_VARIABLES (what k8s/base/nats/nats.conf holds). */
export function natsPasswordVariables(): Record<NatsRole, NatsPasswordVariable> {
  return Object.fromEntries(NATS_ROLES.map((r) => [r, { variable: NATS_PASSWORD_VARIABLES[r] }])) as Record<NatsRole, NatsPasswordVariable>;
}

/**
 * Whether `value` survives as a password when nats-server reads it from an
 * environment variable: the server parses a variable's value like a config
 * value, so `12345` or `1e10abc` become numbers (the server refuses the
 * file), `a b` or `[ab` fail to parse, `true` becomes a boolean, and
 * `abc#def` is silently cut to `abc` (the rest is a comment). Letters and
 * digits, starting with a letter, at least 16 characters, are always a
 * string, and long enough.
 */
export function isVariableSafePassword(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9]{15,}$/.test(value);
}

function renderPassword(role: NatsRole, p: NatsPassword | undefined): string {
  if (p === undefined) throw new NatsAuthConfigError(role, 'missing');
  if (typeof p === 'string') {
    // Inside double quotes nats.conf knows no escapes we rely on: refuse what would end the string.
    if (p.length === 0) throw new NatsAuthConfigError(role, 'must not be empty');
    if (!/^[\x21-\x7e]+$/.test(p) || p.includes('"') || p.includes('\\')) {
      throw new NatsAuthConfigError(role, 'a literal password must be printable ASCII without spaces, quotes or backslashes');
    }
    return JSON.stringify(p);
  }
  if (!/^[A-Z_][A-Z0-9_]*$/.test(p.variable)) throw new NatsAuthConfigError(role, `variable name ${JSON.stringify(p.variable)} must be A-Z 0-9 _ and not start with a digit`);
  return `$${p.variable}`;
}

function renderList(subjects: string[], indent: string): string {
  return `[\n${subjects.map((s) => `${indent}  ${JSON.stringify(s)},`).join('\n')}\n${indent}]`;
}

/**
 * The `authorization { users = [...] }` block of nats.conf for every role,
 * with natsPermissions() as allow lists. Subjects are quoted (a bare
 * `$JS...` would read as a variable). The output is deterministic: the
 * same passwords give the same text, so a file can be compared with it.
 */
export function natsAuthConfig(passwords: Record<NatsRole, NatsPassword>): string {
  const perms = natsPermissions();
  const users = NATS_ROLES.map((role) => {
    const p = perms[role];
    return [
      '    {',
      `      user: ${JSON.stringify(role)}`,
      `      password: ${renderPassword(role, passwords[role])}`,
      '      permissions: {',
      `        publish: { allow: ${renderList(p.publish, '        ')} }`,
      `        subscribe: { allow: ${renderList(p.subscribe, '        ')} }`,
      '      }',
      '    }',
    ].join('\n');
  });
  return `authorization {\n  users = [\n${users.join(',\n')}\n  ]\n}\n`;
}
