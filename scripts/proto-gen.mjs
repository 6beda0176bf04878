#!/usr/bin/env node
// Lints proto/ and regenerates libs/proto/src/gen from it with buf and the
// ts-proto plugin in node_modules (both local: works offline).
//
//   node scripts/proto-gen.mjs                 lint, then generate into libs/proto/src/gen
//   node scripts/proto-gen.mjs --out DIR       same config, generated files go to DIR
//   node scripts/proto-gen.mjs DIR             same as --out DIR
//   node scripts/proto-gen.mjs --skip-lint     generate only
//
// --out exists for the freshness test (libs/proto/test/freshness.test.ts),
// which generates into a temporary folder and compares it byte for byte with
// the committed files. The output folder is emptied first (`clean: true` in
// buf.gen.yaml), so files of deleted .proto files disappear too.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const templatePath = join(root, 'buf.gen.yaml');

function usage(message) {
  console.error(`proto-gen: ${message}`);
  console.error('usage: node scripts/proto-gen.mjs [--out DIR | DIR] [--skip-lint]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { out: undefined, lint: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--skip-lint') opts.lint = false;
    else if (arg === '--out') {
      if (i + 1 >= argv.length) usage('--out needs a directory');
      opts.out = argv[++i];
    } else if (arg.startsWith('--out=')) opts.out = arg.slice('--out='.length);
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else if (opts.out === undefined) opts.out = arg;
    else usage(`unexpected argument ${arg}`);
  }
  return opts;
}

function buf(args) {
  // The binary npm installed with @bufbuild/buf; never a download.
  const bin = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');
  if (!existsSync(bin)) {
    console.error(`proto-gen: ${bin} not found; run \`npm install\` (the @bufbuild/buf devDependency ships it)`);
    process.exit(1);
  }
  const res = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
  if (res.error) {
    console.error(`proto-gen: could not run buf ${args[0]}: ${res.error.message}`);
    process.exit(1);
  }
  if (res.status !== 0) {
    console.error(`proto-gen: buf ${args[0]} failed (exit ${res.status ?? res.signal})`);
    process.exit(res.status ?? 1);
  }
}

/** buf.gen.yaml with every plugin's `out` pointed at dir, as an inline template. */
function templateFor(dir) {
  const template = parse(readFileSync(templatePath, 'utf8'));
  if (!Array.isArray(template?.plugins) || template.plugins.length === 0) {
    console.error(`proto-gen: ${templatePath} has no plugins`);
    process.exit(1);
  }
  for (const plugin of template.plugins) plugin.out = dir;
  return JSON.stringify(template);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.lint) buf(['lint']);
if (opts.out === undefined) {
  buf(['generate', '--template', templatePath]);
  console.log('proto-gen: generated libs/proto/src/gen');
} else {
  const dir = isAbsolute(opts.out) ? opts.out : resolve(process.cwd(), opts.out);
  // buf empties the output folder first (clean: true): only accept a new or
  // empty one, so a mistyped path cannot wipe a folder that holds real files.
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    usage(`--out ${dir} must be a new or empty directory (buf empties it before generating)`);
  }
  buf(['generate', '--template', templateFor(dir)]);
  console.log(`proto-gen: generated into ${dir}`);
}
