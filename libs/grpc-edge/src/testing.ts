/**
 * Test helpers for servers behind the edge (the `@nasnet/grpc-edge/testing`
 * entry; not part of the main one).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM file paths of a throwaway PKI. */
export interface TestPki {
  /** The CA certificate that signed both certificates below. */
  ca: string;
  /** Server certificate for 127.0.0.1, ::1 and localhost, and its key. */
  serverCert: string;
  serverKey: string;
  /** Client certificate (CN=client) for mutual TLS, and its key. */
  clientCert: string;
  clientKey: string;
  /** Deletes the files. */
  cleanup(): void;
}

/** A throwaway CA with a server and a client certificate, made by the openssl command in a temp dir (valid one day). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'nasnet-pki-'));
  const p = (file: string) => join(dir, file);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=nasnet-test-ca', '-keyout', p('ca.key'), '-out', p('ca.pem'));
  writeFileSync(p('san.cnf'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  for (const [name, ext] of [['server', ['-extfile', p('san.cnf')]], ['client', []]] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
    ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-out', p(`${name}.pem`), ...ext);
  }
  return {
    ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
