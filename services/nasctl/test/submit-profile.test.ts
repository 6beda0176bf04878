import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { serverStream, startGrpcServer, unary } from '@nasnet/grpc-edge';
import { makeTestPki } from '@nasnet/grpc-edge/testing';
import * as pb from '@nasnet/proto';
import { main, type CliIO } from '../src/main.js';
import { nasctlConfigFromEnv } from '../src/config.js';

// A SearchService that records what `nasctl search submit` sends.
const pki = makeTestPki();
const dir = mkdtempSync(join(tmpdir(), 'nasctl-profile-'));
const submitted: pb.SubmitSearchRequest[] = [];
const none = unary(() => undefined, () => { throw new Error('not served'); });
const server = await startGrpcServer({
  port: 0,
  tokens: [{ name: 'cli-user', token: 'cli-token-123' }],
  tls: { cert: pki.serverCert, key: pki.serverKey },
  log: () => {},
  services: [{
    definition: pb.SearchServiceService,
    handlers: {
      submitSearch: unary(() => ({ code: status.INTERNAL, message: 'x' }), (req: pb.SubmitSearchRequest): pb.SubmitSearchResponse => {
        submitted.push(req);
        return { searchId: `s-${submitted.length}` };
      }),
      listSearches: none, getSearch: none, cancelSearch: none, topArchitectures: none,
      watchSearch: serverStream(() => undefined, () => { throw new Error('not served'); }),
    },
  }],
});
after(async () => { await server.close(); pki.cleanup(); rmSync(dir, { recursive: true, force: true }); });

function io(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}
const conn = ['--server', `localhost:${server.port}`, '--ca', pki.ca, '--token', 'cli-token-123'];

test('nasctl search submit - --profile names the operator\'s trainer profile, over the spec file\'s, keeping its other resources', async () => {
  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, 'name: with-profile\ndataset: mnist\nstrategy: random\nresources: {profile: cpu, gpus: 1}\n');
  const plain = io();
  assert.equal(await main(['search', 'submit', spec, ...conn], plain), 0, plain.stderr.join('\n'));
  const chosen = io();
  assert.equal(await main(['search', 'submit', spec, '--profile', 'gpu-large', ...conn], chosen), 0, chosen.stderr.join('\n'));
  assert.deepEqual(chosen.stdout, ['submitted s-2']);
  assert.equal(submitted[0]!.spec!.resources!.profile, 'cpu', 'without the flag the file\'s profile goes');
  assert.equal(submitted[1]!.spec!.resources!.profile, 'gpu-large');
  assert.equal(submitted[1]!.spec!.resources!.gpus, 1);
  assert.equal(submitted[1]!.spec!.name, 'with-profile');
});

test('nasctl search submit - a --profile that is not a profile name is a usage error and nothing is sent', async () => {
  const spec = join(dir, 'bare.json');
  writeFileSync(spec, JSON.stringify({ name: 'bare', dataset: 'mnist' }));
  const before = submitted.length;
  for (const bad of ['GPU', 'gpu_big', '-gpu', '']) {
    const out = io();
    assert.equal(await main(['search', 'submit', spec, `--profile=${bad}`, ...conn], out), 2, bad);
    assert.match(out.stderr.join('\n'), /--profile must be a profile name/, bad);
  }
  assert.equal(submitted.length, before);
});

test('nasctl search submit - recipe.checkpointCells from the spec file or --checkpoint-cells reaches the request; a non-boolean is refused', async () => {
  const inFile = join(dir, 'checkpointed.yaml');
  writeFileSync(inFile, 'name: big-children\ndataset: mnist\nrecipe: {initialFilters: 32, cellsPerStack: 6, checkpointCells: true}\n');
  const bare = join(dir, 'unset.json');
  writeFileSync(bare, JSON.stringify({ name: 'unset', dataset: 'mnist', recipe: { epochs: 2 } }));
  const sent = async (args: string[]) => {
    const out = io();
    assert.equal(await main(['search', 'submit', ...args, ...conn], out), 0, out.stderr.join('\n'));
    return submitted.at(-1)!.spec!.recipe;
  };
  const fromFile = await sent([inFile]);
  assert.deepEqual([fromFile?.checkpointCells, fromFile?.initialFilters, fromFile?.cellsPerStack], [true, 32, 6]);
  assert.equal((await sent([bare]))?.checkpointCells, undefined, 'unset in the file: the controller\'s default (off)');
  const flagged = await sent([bare, '--checkpoint-cells']);
  assert.deepEqual([flagged?.checkpointCells, flagged?.epochs], [true, 2], 'the flag sets the field and keeps the file\'s recipe');

  const before = submitted.length;
  for (const [text, field] of [['recipe: {checkpointCells: "yes"}', 'recipe.checkpointCells'], ['recipe: {checkpoint_cells: 1}', 'recipe.checkpoint_cells']] as const) {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `name: bad\ndataset: mnist\n${text}\n`);
    const out = io();
    assert.equal(await main(['search', 'submit', bad, ...conn], out), 2, text);
    assert.match(out.stderr.join('\n'), new RegExp(`spec '.*bad\\.yaml': ${field.replace('.', '\\.')} must be true or false, got`), text);
  }
  assert.equal(submitted.length, before, 'nothing sent');
  const help = io();
  assert.equal(await main(['search', 'submit', '--help'], help), 0);
  assert.match(help.stdout.join('\n'), /--checkpoint-cells/);
});
