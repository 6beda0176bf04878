import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { startNatsServer, type NatsTestServer } from '@nasnet/bus/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

let nats: NatsTestServer;
before(async () => { nats = await startNatsServer(); });
after(async () => { await nats.stop(); });

test('transfer main - listens on TRANSFER_PORT, answers gRPC, stops on SIGTERM', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, NATS_URL: nats.url, TRANSFER_PORT: '0', TRANSFER_HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    proc.stdout.setEncoding('utf8');
    const address = await new Promise<string>((resolve, reject) => {
      proc.stdout.on('data', (chunk: string) => {
        out += chunk;
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.on('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)));
    });
    assert.match(address, /^127\.0\.0\.1:[1-9]\d*$/);
    const client = new pb.TransferServiceClient(address, credentials.createInsecure());
    const err = await new Promise<ServiceError | null>((resolve) => client.getTransfer({ transferId: 'transfer-1' }, (e) => resolve(e)));
    client.close();
    assert.equal(err?.code, status.NOT_FOUND);
    proc.kill('SIGTERM');
    const [code] = await once(proc, 'exit');
    assert.equal(code, 0);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
});

test('transfer main - rejects a TRANSFER_PORT that is not a port number', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, NATS_URL: nats.url, TRANSFER_PORT: 'fifty' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const [code] = await once(proc, 'exit');
  assert.equal(code, 2);
  assert.equal(stderr, 'transfer: TRANSFER_PORT="fifty": expected a TCP port, 0 to 65535 (0: any free port)\n');
});

test('transfer main - refuses to start without NATS_URL, naming it', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, TRANSFER_PORT: '0' };
  delete env['NATS_URL'];
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const [code] = await once(proc, 'exit');
  assert.equal(code, 2);
  assert.match(stderr, /^transfer: NATS_URL=\(unset\): expected .*nats:\/\/.* \(required\)\n$/);
});
