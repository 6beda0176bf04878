/**
 * Confined paths: a service reads data sets only under its data root and
 * writes exports only under its export root. A path is resolved inside the
 * root (relative ones against it), symlinks included (realpath of the
 * longest existing prefix), and refused when it lands outside. Errors never
 * echo the path or anything outside the root.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** A path that resolves outside its root (absolute elsewhere, `..`, a symlink out). */
export class PathOutsideRootError extends Error {
  constructor(readonly field: string, readonly what: string) {
    super(`${field}: must be a path inside the ${what} directory of this server (relative paths are taken from it)`);
    this.name = 'PathOutsideRootError';
  }
}

/** A path was given but the server has no root for that kind of path. */
export class PathRootUnsetError extends Error {
  constructor(readonly field: string, readonly what: string, readonly variable: string) {
    super(`${field}: this server takes no ${what} paths (${variable} is not set)`);
    this.name = 'PathRootUnsetError';
  }
}

/** realpath of the longest existing prefix, plus the rest (which cannot hold symlinks yet). */
async function realpathLoose(path: string): Promise<string> {
  const rest: string[] = [];
  let at = path;
  for (;;) {
    try {
      return join(await realpath(at), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = resolve(at, '..');
      if (parent === at) return path;
      rest.push(at.slice(parent.length).replace(/^[/\\]+/, ''));
      at = parent;
    }
  }
}

/**
 * The real absolute path of `requested` inside `root`, or PathOutsideRootError
 * (`field` and `what`, e.g. 'data', name it in the message).
 */
export async function confinePath(root: string, requested: string, field: string, what: string): Promise<string> {
  if (requested.trim() === '' || requested.includes('\0')) throw new PathOutsideRootError(field, what);
  const realRoot = await realpathLoose(resolve(root));
  const wanted = await realpathLoose(isAbsolute(requested) ? resolve(requested) : resolve(realRoot, requested));
  const rel = relative(realRoot, wanted);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new PathOutsideRootError(field, what);
  return wanted;
}

const DIRECTORY_DATASETS = ['cifar10:', 'imagefolder:'];

/**
 * A data-set spec with its directory confined to `root`: `cifar10:DIR` and
 * `imagefolder:DIR` come back with DIR's real path inside the root; built-in
 * sets (mnist, synthetic) unchanged. Without a root a directory data set is
 * PathRootUnsetError.
 */
export async function confineDataset(dataset: string, root: string | undefined, field: string): Promise<string> {
  const kind = DIRECTORY_DATASETS.find((k) => dataset.trim().startsWith(k));
  if (kind === undefined) return dataset;
  if (root === undefined) throw new PathRootUnsetError(field, 'data', 'NASNET_DATA_DIR');
  const dir = dataset.trim().slice(kind.length);
  return `${kind}${await confinePath(root, dir, field, 'data')}`;
}
