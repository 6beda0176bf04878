import {
  createAccount, createOperator, createUser, decode, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromSeed, newScopedSigner,
} from '@nats-io/jwt';
import { inboxPrefixFor, natsPermissions, type NatsPermissions, type NatsRole } from './auth.js';
import { searchQueueName } from './search-queue.js';
import {
  KV_CANCELS, STREAM_DLQ, STREAM_EVENTS, STREAM_RESULTS, STREAM_TASKS, dlqSubject, eventSubject, KV_SEARCHES, SYSTEM_EVENTS,
} from './types.js';

/**
 * NATS decentralised auth (operator, account and user JWTs signed with
 * nkeys; docs.nats.io "JWT authentication"): the server trusts one operator,
 * whose JWT and the accounts' JWTs are preloaded in nats.conf (memory
 * resolver), and admits any user whose JWT was signed by a key of its
 * account. No server reload is needed to add a user: the controller holds a
 * *scoped* signing key of the account (a user_scope key: the permissions of
 * every user it signs come from the account JWT's template, never from the
 * user JWT, and a user JWT that carries permissions of its own is refused)
 * and mints, per search, a user tagged with that search, whose permissions
 * the server expands from the template to that search only
 * (trainerPermissions). So even a stolen signer.json mints only
 * trainer-shaped users: no queuing, no state writes, no other service's
 * inbox. The services' users (controller, metrics, transfer) are signed
 * once, by the secrets command, with the account's own key, which is
 * written nowhere.
 *
 * Why JWTs and not passwords: a password user lives in the server's config,
 * so every search would need a config edit and a reload; a JWT user lives
 * only in the credentials handed to the trainers.
 */

/** Everything the secrets command generates for the NATS server and the controller's minter. */
export interface NatsOperatorSetup {
  operatorJwt: string;
  /** The system account (nats-server's own monitoring and events): public key and JWT. */
  systemAccount: { publicKey: string; jwt: string };
  /** The account every nasnet client lives in (JetStream enabled): public key and JWT. */
  account: { publicKey: string; jwt: string };
  /** The account's scoped signing key (seed, `SA...`): whoever holds it mints trainer-shaped users. */
  signingSeed: string;
  /** The account's own key (seed): signs the services' users at generation time; keep it nowhere. */
  accountSeed: string;
}

/** What the controller needs to mint users: the account they belong to and the seed of one of its signing keys. */
export interface NatsUserSigner {
  account: string;
  signingSeed: string;
}

/** A bad signer file, search id or creds text. */
export class NatsCredentialsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NatsCredentialsError';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A fresh operator with a system account and the nasnet account. JetStream
 * is on for the nasnet account with no limits of its own: nats.conf's
 * jetstream block (max_file_store, max_memory_store) bounds the server.
 */
export async function createNatsOperator(name = 'nasnet'): Promise<NatsOperatorSetup> {
  const operator = createOperator();
  const sys = createAccount();
  const acct = createAccount();
  const signing = createAccount();
  const operatorJwt = await encodeOperator(name, operator, { system_account: sys.getPublicKey() });
  const sysJwt = await encodeAccount('SYS', sys, {}, { signer: operator });
  const template = trainerPermissionTemplate();
  const acctJwt = await encodeAccount(name, acct, {
    signing_keys: [newScopedSigner(signing, TRAINER_ROLE, { pub: { allow: template.publish, deny: [] }, sub: { allow: template.subscribe, deny: [] } })] as never,
    // -1: no account limit (connections, subscriptions, payload; JetStream on, unbounded here).
    limits: {
      subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true,
      mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
    } as never,
  }, { signer: operator });
  return {
    operatorJwt,
    systemAccount: { publicKey: sys.getPublicKey(), jwt: sysJwt },
    account: { publicKey: acct.getPublicKey(), jwt: acctJwt },
    signingSeed: dec.decode(signing.getSeed()),
    accountSeed: dec.decode(acct.getSeed()),
  };
}

/**
 * The operator part of nats.conf: trust the operator, preload both accounts
 * in a memory resolver. Public keys and JWTs only (no seed): the file is
 * not secret, though it is generated per deployment.
 */
export function natsOperatorConfig(setup: Pick<NatsOperatorSetup, 'operatorJwt' | 'systemAccount' | 'account'>): string {
  return [
    `operator: ${JSON.stringify(setup.operatorJwt)}`,
    `system_account: ${setup.systemAccount.publicKey}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${setup.systemAccount.publicKey}: ${JSON.stringify(setup.systemAccount.jwt)}`,
    `  ${setup.account.publicKey}: ${JSON.stringify(setup.account.jwt)}`,
    '}',
    '',
  ].join('\n');
}

/** The signer file the controller reads (NATS_SIGNER_FILE): JSON `{ account, signingSeed }`. */
export function formatSigner(signer: NatsUserSigner): string {
  return `${JSON.stringify({ account: signer.account, signingSeed: signer.signingSeed }, null, 2)}\n`;
}

/** Parses what formatSigner wrote; `where` names the file in errors. */
export function parseSigner(text: string, where = 'signer'): NatsUserSigner {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new NatsCredentialsError(`${where}: expected JSON { "account": "A...", "signingSeed": "SA..." }`, { cause });
  }
  const { account, signingSeed } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof account !== 'string' || !/^A[A-Z2-7]{55}$/.test(account)) throw new NatsCredentialsError(`${where}: "account" must be an account public key (A followed by 55 base32 characters)`);
  if (typeof signingSeed !== 'string' || !/^SA[A-Z2-7]{56}$/.test(signingSeed)) throw new NatsCredentialsError(`${where}: "signingSeed" must be an account seed (SA...)`);
  try {
    fromSeed(enc.encode(signingSeed));
  } catch (cause) {
    throw new NatsCredentialsError(`${where}: "signingSeed" is not a valid nkey seed`, { cause });
  }
  return { account, signingSeed };
}

export interface MintOptions {
  /** The JWT expires this many seconds from now (the server disconnects the user then). @default never */
  expiresInSeconds?: number;
}

/**
 * A .creds file (user JWT + the user's own seed, the format nats.js's
 * credsAuthenticator and the nats CLI read) for a new user named `name`
 * with exactly `permissions` as allow lists, signed by the account's
 * signing key.
 */
export async function mintUserCreds(signer: NatsUserSigner, name: string, permissions: NatsPermissions, options: MintOptions = {}): Promise<string> {
  const user = createUser();
  const signingKey = fromSeed(enc.encode(signer.signingSeed));
  const exp = options.expiresInSeconds !== undefined ? Math.floor(Date.now() / 1000) + options.expiresInSeconds : undefined;
  const jwt = await encodeUser(name, user, signer.account, {
    issuer_account: signer.account,
    pub: { allow: permissions.publish, deny: [] },
    sub: { allow: permissions.subscribe, deny: [] },
  }, { signer: signingKey, ...(exp !== undefined ? { exp } : {}) });
  return dec.decode(fmtCreds(jwt, user));
}

/** The scoped signing key's role name in the account JWT. */
const TRAINER_ROLE = 'trainer';
/** Template placeholders (nats-server 2.9+ expands `{{tag(name)}}` from the user JWT's `name:value` tags; a whole subject token only). */
const SEARCH_TAG = '{{tag(search)}}';
const QUEUE_TAG = '{{tag(queue)}}';

/**
 * A scoped user (its permissions are the template of the key that signs
 * it): a user of search `searchId`'s trainers, tagged with the search and
 * its consumer, signed by the scoped signing key.
 */
async function mintScopedUser(signer: NatsUserSigner, searchId: string, options: MintOptions): Promise<string> {
  const user = createUser();
  const exp = options.expiresInSeconds !== undefined ? Math.floor(Date.now() / 1000) + options.expiresInSeconds : undefined;
  const jwt = await encodeUser(trainerUserName(searchId), user, signer.account, {
    issuer_account: signer.account,
    tags: [`search:${searchId}`, `queue:${searchQueueName(searchId)}`],
  } as never, { signer: fromSeed(enc.encode(signer.signingSeed)), scopedUser: true, ...(exp !== undefined ? { exp } : {}) });
  return dec.decode(fmtCreds(jwt, user));
}

function credsClaims(creds: string): { name: string; tags: string[] } {
  const m = /-----BEGIN NATS USER JWT-----\s*\n\s*(\S+)\s*\n/.exec(creds);
  if (!m) throw new NatsCredentialsError('not a NATS .creds file: no "BEGIN NATS USER JWT" block');
  try {
    const claims = decode<{ tags?: string[] }>(m[1]!);
    return { name: claims.name, tags: claims.nats?.tags ?? [] };
  } catch (cause) {
    throw new NatsCredentialsError('the .creds file holds no decodable user JWT', { cause });
  }
}

/** The user name in a .creds file's JWT. */
export function credsUserName(creds: string): string {
  return credsClaims(creds).name;
}

/**
 * Where a .creds user reads its replies (what connectBus uses): a search's
 * trainers `_INBOX.trainer.<search>` (its `search:` tag; the template's
 * subscribe permission), anyone else `_INBOX.<user name>`.
 */
export function credsInboxPrefix(creds: string): string {
  const { name, tags } = credsClaims(creds);
  const search = tags.find((t) => t.startsWith('search:'))?.slice('search:'.length);
  return search !== undefined ? `_INBOX.trainer.${search}` : inboxPrefixFor(name);
}

/** Search ids a trainer user can carry: the consumer's rules, lower case (JWT tags are compared in lower case). */
function checkSearchId(searchId: string): void {
  searchQueueName(searchId);
  if (searchId !== searchId.toLowerCase()) throw new NatsCredentialsError(`search id ${JSON.stringify(searchId)}: a search with its own NATS user needs a lower-case id`);
}

/** The user of search `searchId`'s trainers: `trainer-<searchId>`. */
export function trainerUserName(searchId: string): string {
  checkSearchId(searchId);
  return `trainer-${searchId}`;
}

const API = '$JS.API';

/**
 * What the trainers of one search may do, and nothing more, as the scoped
 * signing key's template (`{{tag(search)}}` is the search id and
 * `{{tag(queue)}}` its consumer trainers-<S>, both from the user's tags):
 * - take that search's tasks: info on, pull from and ack on its own
 *   consumer (the controller made it; they cannot create, update or delete
 *   any consumer, so they cannot widen its filter);
 * - publish that search's results (nas.results.<S>.>) and events
 *   (nas.events.<S>), their heartbeats (nas.events.system: gauges only) and
 *   dead letters of undecodable tasks (nas.dlq.tasks);
 * - read their own stored results through direct get by subject
 *   (STREAM.MSG.GET, which takes the subject in the body, is not allowed,
 *   so no other search's results); read and watch cancel markers (keys are
 *   search ids; reading them leaks nothing);
 * - check that the streams exist (stream info);
 * - receive replies on `_INBOX.trainer.<S>.>` only.
 */
export function trainerPermissionTemplate(): NatsPermissions {
  const queue = `${STREAM_TASKS}.${QUEUE_TAG}`;
  const cancels = `KV_${KV_CANCELS}`;
  return {
    publish: [
      `${API}.INFO`,
      ...[STREAM_TASKS, STREAM_RESULTS, STREAM_EVENTS, STREAM_DLQ, `KV_${KV_SEARCHES}`, cancels].map((s) => `${API}.STREAM.INFO.${s}`),
      `${API}.CONSUMER.INFO.${queue}`, `${API}.CONSUMER.MSG.NEXT.${queue}`, `$JS.ACK.${queue}.>`,
      `${API}.DIRECT.GET.${STREAM_RESULTS}.nas.results.${SEARCH_TAG}.>`,
      `${API}.STREAM.MSG.GET.${cancels}`, `${API}.DIRECT.GET.${cancels}`, `${API}.DIRECT.GET.${cancels}.>`,
      `${API}.CONSUMER.CREATE.${cancels}.>`, `${API}.CONSUMER.INFO.${cancels}.>`, `${API}.CONSUMER.DELETE.${cancels}.>`, `$JS.FC.${cancels}.>`,
      `nas.results.${SEARCH_TAG}.>`, eventSubject(SEARCH_TAG), eventSubject(SYSTEM_EVENTS), dlqSubject('tasks'),
    ],
    subscribe: [`_INBOX.trainer.${SEARCH_TAG}.>`],
  };
}

/** trainerPermissionTemplate() as the server expands it for search `searchId`'s trainers. */
export function trainerPermissions(searchId: string): NatsPermissions {
  checkSearchId(searchId);
  const expand = (subject: string) => subject.replaceAll(SEARCH_TAG, searchId).replaceAll(QUEUE_TAG, searchQueueName(searchId));
  const t = trainerPermissionTemplate();
  return { publish: t.publish.map(expand), subscribe: t.subscribe.map(expand) };
}

/** Mints the credentials of search `searchId`'s trainers. */
export async function mintTrainerCreds(signer: NatsUserSigner, searchId: string, options: MintOptions = {}): Promise<string> {
  checkSearchId(searchId);
  return mintScopedUser(signer, searchId, options);
}

/**
 * Mints a service's credentials (controller, metrics, transfer) with
 * natsPermissions(), signed with the account's own key (`accountSeed`:
 * the secrets command's, at generation time; the scoped signing key
 * cannot sign users with permissions of their own).
 */
export function mintServiceCreds(account: { account: string; accountSeed: string }, role: NatsRole, options: MintOptions = {}): Promise<string> {
  return mintUserCreds({ account: account.account, signingSeed: account.accountSeed }, role, natsPermissions()[role], options);
}
