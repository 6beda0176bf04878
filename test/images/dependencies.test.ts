/**
 * The images install the production dependencies of one service's workspace
 * (npm ci --omit=dev --workspace services/X): a package that a workspace's
 * sources import but its package.json does not declare is there in a
 * checkout (npm links every workspace and hoists everything) and missing in
 * the image, where the service dies at start with ERR_MODULE_NOT_FOUND.
 * This test finds those before an image is built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Manifest { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or undefined for relative, absolute and node: ones. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtinModules.includes(name) ? undefined : name;
}

/**
 * Specifiers that load code at run time: static imports and re-exports
 * (not `import type` / `export type`, which the compiler erases), dynamic
 * import(), require() and require.resolve().
 */
export function runtimeSpecifiers(source: string): string[] {
  const found: string[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (!m[2]) found.push(m[3]!);
  }
  for (const m of text.matchAll(/\b(?:import|require|require\.resolve)\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

const workspaces = ['libs', 'services'].flatMap((top) => readdirSync(join(ROOT, top)).map((name) => join(ROOT, top, name)))
  .filter((dir) => { try { return statSync(join(dir, 'src')).isDirectory() && statSync(join(dir, 'package.json')).isFile(); } catch { return false; } });

test('images - the import scanner sees static, dynamic and required packages and skips type-only imports', () => {
  const specs = runtimeSpecifiers([
    "import { a } from '@nasnet/bus';",
    "import type { B } from '@nasnet/search';",
    "export { c } from './c.js';",
    "export type { D } from '@nasnet/proto';",
    "import '@nasnet/network';",
    "const t = await import('@nasnet/trainer');",
    "const w = require.resolve('mnist');",
    '// import { x } from "commented-out";',
    "import {\n  e,\n  f,\n} from '@grpc/grpc-js';",
  ].join('\n'));
  assert.deepEqual(specs.map(packageOf).filter(Boolean).sort(), ['@grpc/grpc-js', '@nasnet/bus', '@nasnet/network', '@nasnet/trainer', 'mnist']);
  assert.equal(packageOf('node:fs'), undefined);
  assert.equal(packageOf('fs/promises'), undefined);
  assert.equal(packageOf('@tensorflow/tfjs-core/dist/x.js'), '@tensorflow/tfjs-core');
});

test('images - every package that a workspace\'s sources load at run time is one of its dependencies', () => {
  assert.ok(workspaces.length > 10, `found the workspaces (${workspaces.length})`);
  const missing: string[] = [];
  for (const dir of workspaces) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
    const declared = new Set([manifest.name, ...Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies })]);
    for (const file of tsFiles(join(dir, 'src'))) {
      for (const spec of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
        const name = packageOf(spec);
        if (name && !declared.has(name)) missing.push(`${relative(ROOT, file)} loads '${spec}', which ${relative(ROOT, join(dir, 'package.json'))} does not list in dependencies`);
      }
    }
  }
  assert.deepEqual(missing, [], `undeclared dependencies (an image built with npm ci --omit=dev --workspace would not have them):\n${missing.join('\n')}`);
});
