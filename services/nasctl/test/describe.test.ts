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

test('nasctl describe - the issue\'s NASNet-A 6@4032 at 331 is within 1% of the paper\'s 88.9M; imagenet-large is the reference Large exactly', () => {
  const run = (...args: string[]) => {
    const res = spawnSync(process.execPath, [bin, 'describe', '--genotype', 'nasnet-a', ...args, '--json'], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    return { json: JSON.parse(res.stdout.trim().split('\n').at(-1)!), stdout: res.stdout };
  };
  // The command of issue 13, as written: --filters is the paper's F (penultimate), so 6@4032 means F0 = 168.
  const issue = run('--layout', 'imagenet', '--cells', '6', '--filters', '4032', '--image-size', '331');
  assert.ok(within(issue.json.paramCount, 88.9e6, 0.01), `paramCount ${issue.json.paramCount}`);
  assert.deepEqual([issue.json.cells, issue.json.penultimateFilters, issue.json.initialFilters], [6, 4032, 168]);
  assert.match(issue.stdout, /^network\s+imagenet 6@4032 \(F0 168, stem x1\)/m);
  // NASNet-A Large as the reference builds it (stem multiplier 3, skip_reduction_layer_input): Keras NASNetLarge's
  // 88,753,150 trainable parameters, and the paper's 23.8B mult-adds.
  const large = run('--layout', 'imagenet-large');
  assert.equal(large.json.paramCount, 88_753_150);
  assert.ok(within(large.json.multAdds, 23.8e9, 0.01), `multAdds ${large.json.multAdds}`);
  assert.deepEqual([large.json.cells, large.json.filters, large.json.imageSize, large.json.stemMultiplier, large.json.skipReductionLayerInput], [6, 4032, 331, 3, true]);
  assert.equal(run('--layout', 'imagenet', '--cells', '6', '--filters', '4032', '--image-size', '331', '--stem-multiplier', '3').json.paramCount, 88_753_150);
});

test('nasctl describe - the published CIFAR and mobile counts stay exact, labelled N@F with the paper\'s F', async () => {
  const cifar = capture();
  assert.equal(await main(['describe', '--layout', 'cifar', '--cells', '6', '--filters', '768', '--json'], cifar), 0);
  assert.equal(JSON.parse(cifar.stdout.at(-1)!).paramCount, 3_346_538);
  assert.ok(cifar.stdout.some((l) => /^network\s+cifar 6@768 \(F0 32, stem x3\)/.test(l)), cifar.stdout.join('\n'));
  const mobile = capture();
  assert.equal(await main(['describe', '--layout', 'imagenet', '--json'], mobile), 0);
  const m = JSON.parse(mobile.stdout.at(-1)!);
  assert.deepEqual([m.cells, m.filters, m.paramCount, m.multAdds], [4, 1056, 5_289_978, 563_638_816]);
  const bad = capture();
  assert.equal(await main(['describe', '--layout', 'mobile'], bad), 2);
  assert.match(bad.stderr.join('\n'), /--layout must be one of cifar, imagenet, imagenet-large, got 'mobile'/);
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
