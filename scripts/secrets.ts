/**
 * `npm run secrets -- [--out DIR] [--namespace NS] [--force]`
 *
 * Generates every secret a deployment needs into DIR (default
 * k8s/base/secrets, git-ignored), where k8s/base/kustomization.yaml's
 * secretGenerator reads them; without them `kubectl apply -k` fails on the
 * missing file k8s/base/secrets/made-by-npm-run-secrets.txt.
 *
 * - API bearer tokens: controller-tokens.txt (callers "operator" and
 *   "transfer"), transfer-tokens.txt ("operator"), transfer.env (the
 *   transfer service's token for the controller): CONTROLLER_TOKENS_FILE /
 *   TRANSFER_TOKENS_FILE format, lines `name token`.
 * - TLS: a CA (ca.crt; ca.key stays here and goes into no Secret), and
 *   server certificates it signed for NATS (nats.crt/key), the controller
 *   (controller.crt/key) and the transfer service (transfer.crt/key), named
 *   for their Services in NAMESPACE plus localhost (port-forwards).
 * - NATS decentralised auth (libs/bus accounts.ts): nats-operator.conf (the
 *   operator and account JWTs nats.conf includes), controller.creds,
 *   metrics.creds, transfer.creds (users with natsPermissions(), signed
 *   with the account's own key, which is not kept), and signer.json (the
 *   account's scoped signing key the controller mints each search's trainer
 *   credentials with: it can sign trainer-shaped users only).
 *
 * Nothing is overwritten without --force: rotating one file alone would
 * leave the others inconsistent (tokens pairs, certificates and their CA).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNatsOperator, formatSigner, mintServiceCreds, natsOperatorConfig } from '@nasnet/bus';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_SECRETS_DIR = join(ROOT, 'k8s/base/secrets');
/** The first file kustomize reads: its name says how to make it when it is missing. */
export const STAMP_FILE = 'made-by-npm-run-secrets.txt';

export interface GenerateSecretsOptions {
  out?: string;
  /** Namespace of the Services named in the certificates. @default nasnet */
  namespace?: string;
  force?: boolean;
  /** Certificate lifetime, days. @default 825 (the longest browsers and most TLS stacks accept for a leaf) */
  days?: number;
}

export class SecretsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SecretsError';
  }
}

/** A 40-character token of letters and digits (238 bits). */
function token(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(64);
  let out = '';
  for (const b of bytes) {
    if (b >= 248) continue; // 248 = 4 * 62: keep the distribution uniform
    out += alphabet[b % 62];
    if (out.length === 40) return out;
  }
  return out + token().slice(out.length);
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (cause) {
    const stderr = String((cause as { stderr?: Buffer }).stderr ?? '');
    throw new SecretsError(`openssl ${args[0]} failed (is openssl installed? scripts/setup-system.sh installs it): ${stderr.trim()}`, { cause });
  }
}

/** An EC P-256 key and a certificate signed by the CA in `dir`, valid for `names` (DNS names and IP addresses). */
function serverCert(dir: string, name: string, names: string[], days: number): void {
  const san = names.map((n) => (/^[0-9.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${names[0]}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(days), '-out', `${name}.crt`, '-extfile', ext], dir);
  rmSync(ext);
  rmSync(join(dir, `${name}.csr`));
}

/** The names a Service answers to inside the cluster, then localhost for port-forwards and tests. */
function serviceNames(service: string, namespace: string, extra: string[] = []): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, ...extra, 'localhost', '127.0.0.1'];
}

/** Writes every file into the output folder; returns the folder and the file names. */
export async function generateSecrets(options: GenerateSecretsOptions = {}): Promise<{ dir: string; files: string[] }> {
  const dir = resolve(options.out ?? DEFAULT_SECRETS_DIR);
  const namespace = options.namespace ?? 'nasnet';
  const days = options.days ?? 825;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new SecretsError(`--namespace ${JSON.stringify(namespace)}: expected a Kubernetes namespace name`);
  if (existsSync(dir) && readdirSync(dir).some((f) => f !== 'README.md') && !options.force) {
    throw new SecretsError(`${dir} already holds secrets; pass --force to replace all of them (tokens, certificates and NATS credentials change together)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text, { mode: 0o600 });

  // API tokens: the transfer service's token for the controller is also one of the controller's callers.
  const transferToController = token();
  write('controller-tokens.txt', `operator ${token()}\ntransfer ${transferToController}\n`);
  write('transfer-tokens.txt', `operator ${token()}\n`);
  write('transfer.env', `transfer-controller-token=${transferToController}\n`);

  // TLS: one CA, three servers.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', String(days),
    '-subj', '/CN=nasnet CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  serverCert(dir, 'nats', serviceNames('nats', namespace, [`*.nats-headless.${namespace}.svc.cluster.local`, `*.nats-headless.${namespace}.svc`]), days);
  serverCert(dir, 'controller', serviceNames('nasnet-controller', namespace), days);
  serverCert(dir, 'transfer', serviceNames('nasnet-transfer', namespace), days);

  // NATS: operator and accounts for the server, users for the services, the signing key for the controller.
  const setup = await createNatsOperator();
  write('nats-operator.conf', natsOperatorConfig(setup));
  // The services' users are signed with the account's own key, which is then forgotten; the controller gets
  // only the scoped signing key, which can sign nothing but trainer-shaped users (accounts.ts).
  for (const role of ['controller', 'metrics', 'transfer'] as const) {
    write(`${role}.creds`, await mintServiceCreds({ account: setup.account.publicKey, accountSeed: setup.accountSeed }, role));
  }
  write('signer.json', formatSigner({ account: setup.account.publicKey, signingSeed: setup.signingSeed }));

  write(STAMP_FILE, `Generated by npm run secrets on ${new Date().toISOString()} for namespace ${namespace}.\n`);
  return { dir, files: readdirSync(dir).sort() };
}

function parseArgs(argv: string[]): GenerateSecretsOptions {
  const options: GenerateSecretsOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new SecretsError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--out') options.out = value();
    else if (arg === '--namespace') options.namespace = value();
    else if (arg === '--force') options.force = true;
    else if (arg === '--days') options.days = Number(value());
    else throw new SecretsError(`unknown argument ${arg}; usage: npm run secrets -- [--out DIR] [--namespace NS] [--force] [--days N]`);
  }
  if (options.days !== undefined && !(Number.isInteger(options.days) && options.days > 0)) throw new SecretsError('--days: expected a positive integer');
  return options;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { dir, files } = await generateSecrets(parseArgs(process.argv.slice(2)));
    process.stdout.write(`wrote ${files.length} files to ${dir}:\n${files.map((f) => `  ${f}`).join('\n')}\nca.key stays here (no Secret holds it); k8s/base/kustomization.yaml reads the others.\n`);
  } catch (err) {
    if (!(err instanceof SecretsError)) throw err;
    process.stderr.write(`secrets: ${err.message}\n`);
    process.exit(2);
  }
}
