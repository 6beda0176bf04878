/**
 * The environment tables of k8s/README.md, generated from each service's
 * VARIABLES (services/X/src/config.ts). `npm run docs:env` rewrites the
 * tables between the `<!-- env:X -->` / `<!-- /env:X -->` markers;
 * `npm run docs:env -- --check` only says whether they are current
 * (test/k8s-manifests.test.ts checks the same).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeVariables, type EnvVariable } from '@nasnet/config';
import { VARIABLES as CONTROLLER } from '../services/controller/src/config.js';
import { VARIABLES as TRANSFER } from '../services/transfer/src/config.js';
import { VARIABLES as METRICS } from '../services/metrics/src/config.js';
import { VARIABLES as TRAINER } from '../services/child-trainer/src/config.js';

/** A deployed service: its image (ghcr.io/nasnet-k8s/<image>) and the variables it reads. */
export interface ServiceVariables {
  service: string;
  image: string;
  variables: readonly EnvVariable[];
}

export const SERVICE_VARIABLES: readonly ServiceVariables[] = [
  { service: 'controller', image: 'controller', variables: CONTROLLER },
  { service: 'transfer', image: 'transfer', variables: TRANSFER },
  { service: 'metrics', image: 'metrics', variables: METRICS },
  { service: 'child-trainer', image: 'child-trainer', variables: TRAINER },
];

export const README = fileURLToPath(new URL('../k8s/README.md', import.meta.url));

/** The README's text with every service's table regenerated; throws when a marker pair is missing. */
export function withEnvTables(text: string): string {
  let out = text;
  for (const { service, variables } of SERVICE_VARIABLES) {
    const open = `<!-- env:${service} -->`;
    const close = `<!-- /env:${service} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 || end < start) throw new Error(`k8s/README.md has no ${open} ... ${close} section for ${service}`);
    out = `${out.slice(0, start + open.length)}\n${describeVariables(variables)}${out.slice(end)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = readFileSync(README, 'utf8');
  const next = withEnvTables(text);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      process.stderr.write('k8s/README.md: the environment tables are out of date; run `npm run docs:env`\n');
      process.exit(1);
    }
    process.stdout.write('k8s/README.md: environment tables are current\n');
  } else if (next !== text) {
    writeFileSync(README, next);
    process.stdout.write('k8s/README.md: environment tables regenerated\n');
  } else {
    process.stdout.write('k8s/README.md: environment tables already current\n');
  }
}
