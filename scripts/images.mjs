#!/usr/bin/env node
// Builds the container images of the services with podman or docker,
// whichever is present (podman first; CONTAINER_ENGINE or --engine chooses),
// from the repository root, and prints each image's size.
//
//   npm run images                          every image, ghcr.io/nasnet-k8s/<name>:<version>
//   npm run images -- controller metrics    some of them
//   npm run images -- --base IMAGE          another base (a Node 24+ image with npm)
//
// Options: --engine podman|docker, --base IMAGE (build argument BASE_IMAGE of
// every Dockerfile; default: theirs, the official node:24 image), --prefix
// REPO/ (default ghcr.io/nasnet-k8s/), --tag TAG (default the root package's
// version), --host-network (podman/docker build --network host), --ca FILE
// (podman only: a CA bundle that npm must trust inside the build, mounted
// read-only and named by NODE_EXTRA_CA_CERTS at build time only; default
// $NODE_EXTRA_CA_CERTS), --list (print the names and exit).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The images, in build order; `suffix` goes after the tag (the GPU image shares the trainer's repository). */
const IMAGES = [
  { name: 'controller', repo: 'controller', dockerfile: 'services/controller/Dockerfile', suffix: '' },
  { name: 'metrics', repo: 'metrics', dockerfile: 'services/metrics/Dockerfile', suffix: '' },
  { name: 'transfer', repo: 'transfer', dockerfile: 'services/transfer/Dockerfile', suffix: '' },
  { name: 'child-trainer', repo: 'child-trainer', dockerfile: 'services/child-trainer/Dockerfile', suffix: '' },
  // CUDA base and libtensorflow downloaded at build time: needs Docker Hub and the network.
  { name: 'child-trainer-gpu', repo: 'child-trainer', dockerfile: 'services/child-trainer/Dockerfile.gpu', suffix: '-gpu' },
];

function fail(message) {
  process.stderr.write(`images: ${message}\n`);
  process.exit(2);
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    engine: { type: 'string' }, base: { type: 'string' }, prefix: { type: 'string', default: 'ghcr.io/nasnet-k8s/' },
    tag: { type: 'string' }, 'host-network': { type: 'boolean', default: false }, ca: { type: 'string' },
    list: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 17).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
if (values.list) {
  for (const image of IMAGES) process.stdout.write(`${image.name}\t${image.dockerfile}\n`);
  process.exit(0);
}

const engine = values.engine ?? process.env.CONTAINER_ENGINE ?? (onPath('podman') ? 'podman' : onPath('docker') ? 'docker' : undefined);
if (!engine) fail('neither podman nor docker is on PATH (or name one with --engine / CONTAINER_ENGINE)');
if (!['podman', 'docker'].includes(engine)) fail(`--engine: expected podman or docker, got '${engine}'`);
const unknown = positionals.filter((name) => !IMAGES.some((i) => i.name === name));
if (unknown.length) fail(`unknown image ${unknown.map((n) => `'${n}'`).join(', ')}; the images are ${IMAGES.map((i) => i.name).join(', ')}`);
const chosen = positionals.length ? IMAGES.filter((i) => positionals.includes(i.name)) : IMAGES;
const tag = values.tag ?? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const ca = values.ca ?? (engine === 'podman' ? process.env.NODE_EXTRA_CA_CERTS : undefined);
if (ca && engine !== 'podman') fail('--ca needs podman (docker build cannot mount a file into RUN steps)');
if (ca && !existsSync(ca)) fail(`--ca: no file '${ca}'`);

const built = [];
for (const image of chosen) {
  const name = `${values.prefix}${image.repo}:${tag}${image.suffix}`;
  const args = ['build', '-f', image.dockerfile, '-t', name];
  if (values.base) args.push('--build-arg', `BASE_IMAGE=${values.base}`);
  if (values['host-network']) args.push('--network', 'host');
  if (engine === 'podman') {
    // Podman 4 does not look for <Dockerfile>.dockerignore by itself.
    const ignore = `${image.dockerfile}.dockerignore`;
    if (existsSync(join(root, ignore))) args.push('--ignorefile', ignore);
    if (ca) args.push('-v', `${dirname(ca)}:${dirname(ca)}:ro`, '--build-arg', `NODE_EXTRA_CA_CERTS=${ca}`);
  }
  args.push('.');
  process.stderr.write(`images: ${engine} ${args.join(' ')}\n`);
  const started = Date.now();
  const res = spawnSync(engine, args, { cwd: root, stdio: 'inherit', env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  if (res.status !== 0) fail(`building ${image.name} (${image.dockerfile}) failed with ${res.status ?? res.signal}`);
  const size = spawnSync(engine, ['image', 'inspect', '--format', '{{.Size}}', name], { encoding: 'utf8' }).stdout.trim();
  built.push({ name, size: Number(size), seconds: Math.round((Date.now() - started) / 1000) });
}
for (const b of built) {
  process.stdout.write(`${b.name}\t${(b.size / 1e6).toFixed(0)} MB\t${b.seconds} s\n`);
}
