/**
 * Genotypes known by name, for CLIs and configs (`--genotype nasnet-a`).
 *
 * Only NASNet-A is listed. The paper's appendix also draws NASNet-B and
 * NASNet-C, which come from other search runs whose cells do not have the
 * structure used here, and the reference implementation (tensorflow/models
 * research/slim nets/nasnet) defines neither. Rather than transcribe them
 * from figures into a format that may not fit, they are left out.
 */
import { UnknownGenotypeNameError } from './errors.js';
import type { Genotype } from './genotype.js';
import { copyGenotype } from './internal.js';
import { NASNET_A } from './nasnet.js';
import { validateGenotype } from './validate.js';

function registry(entries: Record<string, Genotype>): Readonly<Record<string, Genotype>> {
  // Null prototype: `NAMED_GENOTYPES['constructor']` and friends are
  // undefined, so a lookup with an arbitrary user string is safe.
  const out = Object.create(null) as Record<string, Genotype>;
  for (const [name, g] of Object.entries(entries)) {
    validateGenotype(g);
    out[name] = copyGenotype(g);
  }
  return Object.freeze(out);
}

/** Name -> frozen genotype. */
export const NAMED_GENOTYPES: Readonly<Record<string, Genotype>> = registry({
  'nasnet-a': NASNET_A,
});

/** The names of NAMED_GENOTYPES, sorted. */
export function namedGenotypeNames(): string[] {
  return Object.keys(NAMED_GENOTYPES).sort();
}

/**
 * The genotype registered under `name` (exact, lower case). Throws
 * UnknownGenotypeNameError listing the known names.
 */
export function getNamedGenotype(name: string): Genotype {
  const g = typeof name === 'string' && Object.hasOwn(NAMED_GENOTYPES, name) ? NAMED_GENOTYPES[name] : undefined;
  if (g === undefined) throw new UnknownGenotypeNameError(String(name), namedGenotypeNames());
  return g;
}
