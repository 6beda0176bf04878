import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main, type CliIO } from '../src/main.js';
import { nasctlConfigFromEnv } from '../src/config.js';

const bin = fileURLToPath(new URL('../bin/nasctl.mjs', import.meta.url));

function capture(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [], stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false, config: nasctlConfigFromEnv({}) };
}

const within = (value: number, target: number, tolerance: number) => Math.abs(value - target) / target <= tolerance;

test('nasctl describe - NASNet-A mobile 4@1056 at 224 matches the paper (5.3M params, 564M mult-adds, 2%)', () => {
  // Through the real executable, as a user runs it.
  const res = spawnSync(process.execPath, [bin, 'describe', '--genotype', 'nasnet-a', '--layout', 'imagenet', '--cells', '4', '--filters', '1056', '--image-size', '224', '--json'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  const json = JSON.parse(lines.at(-1)!);
  assert.ok(within(json.paramCount, 5.3e6, 0.02), `paramCount ${json.paramCount}`);
  assert.ok(within(json.multAdds, 564e6, 0.02), `multAdds ${json.multAdds}`);
  assert.match(res.stdout, /^hash\s+[0-9a-f]{64}$/m);
  assert.match(res.stdout, /^genotype\s+normal: sep5x5\(0\) \+ sep3x3\(1\);/m);
});

test('nasctl describe - NASNet-A CIFAR 6@768 has 3.3M parameters (2%), aux head only when asked', async () => {
  const io = capture();
  assert.equal(await main(['describe', '--layout', 'cifar', '--cells', '6', '--filters', '768', '--json'], io), 0);
  const plain = JSON.parse(io.stdout.at(-1)!);
  assert.ok(within(plain.paramCount, 3.3e6, 0.02), `paramCount ${plain.paramCount}`);
  const withAux = capture();
  assert.equal(await main(['describe', '--layout', 'cifar', '--cells', '6', '--filters', '768', '--aux', '--json'], withAux), 0);
  assert.ok(JSON.parse(withAux.stdout.at(-1)!).paramCount > plain.paramCount);
});

test('nasctl describe - text form and JSON files are accepted; bad input is named', async () => {
  const io = capture();
  assert.equal(await main(['describe', '--json'], io), 0);
  const text = JSON.parse(io.stdout.at(-1)!).genotype as string;
  const again = capture();
  assert.equal(await main(['describe', '--genotype', text, '--json'], again), 0);
  assert.equal(JSON.parse(again.stdout.at(-1)!).hash, JSON.parse(io.stdout.at(-1)!).hash);

  const bad = capture();
  assert.equal(await main(['describe', '--genotype', 'nasnet-z'], bad), 2);
  assert.match(bad.stderr.join('\n'), /unknown genotype 'nasnet-z': known names are nasnet-a/);
  const badCells = capture();
  assert.equal(await main(['describe', '--cells', 'many'], badCells), 2);
  assert.match(badCells.stderr.join('\n'), /--cells must be a positive integer, got 'many'/);
  const badText = capture();
  assert.equal(await main(['describe', '--genotype', 'normal: sep5x5(0) + nope(1)'], badText), 1);
  assert.match(badText.stderr.join('\n'), /column \d+/);
  const unknown = capture();
  assert.equal(await main(['frobnicate'], unknown), 2);
  assert.match(unknown.stderr.join('\n'), /unknown command 'frobnicate'/);
});
