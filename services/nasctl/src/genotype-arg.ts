import { readFileSync, existsSync } from 'node:fs';
import {
  NAMED_GENOTYPES,
  genotypeFromJSON,
  parseGenotype,
  type Genotype,
} from '@nasnet/search-space';
import { UsageError } from './errors.js';

/**
 * Resolves a `--genotype` argument: a named genotype (`nasnet-a`), a file
 * (`@cells.json`, or a path that exists) holding JSON or the text form, or
 * the text form itself.
 */
export function resolveGenotype(arg: string): Genotype {
  const named = (NAMED_GENOTYPES as Record<string, Genotype>)[arg.toLowerCase()];
  if (named) return named;
  const path = arg.startsWith('@') ? arg.slice(1) : existsSync(arg) ? arg : undefined;
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new UsageError(`cannot read genotype file '${path}': ${(cause as Error).message}`, { cause });
    }
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch (cause) {
        throw new UsageError(`genotype file '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
      }
      const obj = value as { genotype?: unknown };
      return genotypeFromJSON(obj && typeof obj === 'object' && 'genotype' in obj ? obj.genotype : value);
    }
    return parseGenotype(trimmed);
  }
  if (/^[a-z0-9-]+$/i.test(arg)) {
    throw new UsageError(`unknown genotype '${arg}': known names are ${Object.keys(NAMED_GENOTYPES).join(', ')}; or give the text form or @file`);
  }
  return parseGenotype(arg);
}
