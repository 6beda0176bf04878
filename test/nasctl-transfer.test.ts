import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pb from '@nasnet/proto';
import { NASNET_A } from '@nasnet/search-space';
import { startTransferServer } from '@nasnet/transfer-service';
import { main, type CliIO } from '../services/nasctl/src/main.js';
import { nasctlConfigFromEnv } from '../services/nasctl/src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'nasctl-transfer-'));
const server = await startTransferServer({ port: 0 });
after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

function io(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}
const conn = ['--server', `127.0.0.1:${server.port}`];

test('nasctl transfer - start NASNet-A 1@192 (F0 8) on MNIST, watch it train; the export has exactly describe\'s parameter count', { timeout: 300_000 }, async () => {
  const out = io();
  const code = await main(['transfer', 'start', '--genotype', 'nasnet-a', '--layout', 'cifar', '--cells', '1', '--initial-filters', '8',
    '--data', 'mnist', '--epochs', '1', '--max-steps', '2', '--batch', '16', '--export', join(dir, 'model'), '--watch', '--json', ...conn], out);
  assert.equal(code, 0, out.stderr.join('\n') + out.stdout.join('\n'));
  const started = JSON.parse(out.stdout.find((l) => l.startsWith('{'))!);
  // N@F with the paper's F: 8 x 4 x 6 = 192 penultimate filters.
  assert.deepEqual([started.cells, started.filters, started.initialFilters], [1, 192, 8]);
  assert.match(out.stdout[0]!, /^started \S+: 1@192 \(F0 8\), /);
  // The built-in MNIST has no test split: the CLI says so instead of "test accuracy 0.0000".
  assert.match(out.stdout.at(-1)!, /succeeded: no test split, validation accuracy \d\.\d{4}, model in /);
  assert.ok(existsSync(join(dir, 'model', 'model.json')));
  const described = io();
  assert.equal(await main(['describe', '--cells', '1', '--filters', '192', '--image-size', '28', '--channels', '1', '--json'], described), 0);
  const paramCount = JSON.parse(described.stdout.at(-1)!).paramCount as number;
  assert.equal(started.paramCount, paramCount);
  // Trained with the auxiliary head (the recipe's default), exported without it: the weights are the described parameters
  // plus the batch-norm moving statistics, nothing else.
  const manifest = JSON.parse(readFileSync(join(dir, 'model', 'model.json'), 'utf8')).weightsManifest[0].weights as Array<{ name: string; shape: number[] }>;
  const size = (w: { shape: number[] }) => w.shape.reduce((p, d) => p * d, 1);
  assert.equal(manifest.filter((w) => !/moving_(mean|variance)$/.test(w.name)).reduce((n, w) => n + size(w), 0), paramCount);
  assert.ok(!manifest.some((w) => w.name.startsWith('aux_')), 'no auxiliary head in the export');
  const list = io();
  assert.equal(await main(['transfer', 'list', ...conn], list), 0);
  assert.ok(list.stdout.some((l) => l.startsWith(started.transferId) && /succeeded\s+1@192\s+.*no test$/.test(l)), list.stdout.join('\n'));
});

test('nasctl transfer - 8x8 synthetic images: the aux head is dropped with a one-line note, or turned off with --no-aux-head', { timeout: 120_000 }, async () => {
  const base = ['transfer', 'start', '--cells', '1', '--initial-filters', '4', '--data', 'synthetic', '--epochs', '1', '--max-steps', '1', '--json', ...conn];
  const auto = io();
  assert.equal(await main(base, auto), 0, auto.stderr.join('\n'));
  assert.deepEqual(auto.stderr.filter((l) => l.startsWith('note:')), ['note: auxiliary head off: it does not fit 8x8 images (the server dropped it; --no-aux-head says so explicitly)']);
  const off = io();
  assert.equal(await main([...base, '--no-aux-head'], off), 0, off.stderr.join('\n'));
  assert.deepEqual(off.stderr.filter((l) => l.startsWith('note:')), []);
  const got = io();
  assert.equal(await main(['transfer', 'get', JSON.parse(off.stdout.at(-1)!).transferId, ...conn], got), 0);
  assert.equal(JSON.parse(got.stdout.join('\n')).spec.recipe.auxHead, false);
});

test('nasctl transfer - the paper F converts to F0; bad flags and unknown ids are named', async () => {
  const both = io();
  assert.equal(await main(['transfer', 'start', '--data', 'mnist', '--cells', '6', '--filters', '768', '--budget-params', '3300000', ...conn], both), 2);
  assert.match(both.stderr.join('\n'), /give one of --cells\/--filters, --budget-params, --budget-mult-adds/);
  const search = io();
  assert.equal(await main(['transfer', 'start', '--data', 'mnist', '--search', 's-1', '--cells', '6', '--filters', '768', ...conn], search), 2);
  assert.match(search.stderr.join('\n'), /with --search, give --initial-filters/);
  const missing = io();
  assert.equal(await main(['transfer', 'get', 'no-such-transfer', ...conn], missing), 1);
  assert.match(missing.stderr.join('\n'), /NOT_FOUND/);
});

test('nasctl transfer - --checkpoint-cells and a spec file\'s recipe.checkpointCells reach the server; a non-boolean is refused', { timeout: 120_000 }, async () => {
  const recipeOf = async (args: string[]) => {
    const started = io();
    assert.equal(await main(['transfer', 'start', ...args, '--json', ...conn], started), 0, started.stderr.join('\n'));
    const got = io();
    assert.equal(await main(['transfer', 'get', JSON.parse(started.stdout.at(-1)!).transferId, ...conn], got), 0);
    return JSON.parse(got.stdout.join('\n')).spec.recipe as { checkpointCells?: boolean; epochs?: number };
  };
  const flags = ['--cells', '1', '--initial-filters', '4', '--data', 'synthetic', '--epochs', '1', '--max-steps', '1', '--no-aux-head'];
  assert.equal((await recipeOf(flags)).checkpointCells, false, 'off unless asked for: the filled spec says so');
  assert.equal((await recipeOf([...flags, '--checkpoint-cells'])).checkpointCells, true);

  const file = (name: string, recipe: Record<string, unknown>) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify({
      name: 'from-file', genotype: pb.Genotype.toJSON(pb.genotypeToProto(NASNET_A)), fixed: { cells: 1, filters: 4 }, dataset: 'synthetic',
      recipe: { epochs: 1, maxSteps: 1, auxHead: false, ...recipe },
    }));
    return path;
  };
  assert.equal((await recipeOf([file('on.json', { checkpointCells: true })])).checkpointCells, true);
  const over = await recipeOf([file('unset.json', { epochs: 2 }), '--checkpoint-cells']);
  assert.deepEqual([over.checkpointCells, over.epochs], [true, 2], 'the flag sets the field over a spec file, keeping the rest');

  const bad = io();
  assert.equal(await main(['transfer', 'start', file('bad.json', { checkpointCells: 'no' }), ...conn], bad), 2);
  assert.match(bad.stderr.join('\n'), /spec '.*bad\.json': recipe\.checkpointCells must be true or false, got "no"/);
  const help = io();
  assert.equal(await main(['transfer', 'start', '--help'], help), 0);
  assert.match(help.stdout.join('\n'), /--checkpoint-cells +recompute each cell in the backward pass/);
});
