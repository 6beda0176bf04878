import { UsageError } from './errors.js';

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Checks the boolean fields of one message of a spec file before the
 * generated fromJSON reads it: fromJSON takes any truthy value as true (a
 * YAML `checkpointCells: "no"` would turn checkpointing on). Fields are given
 * by their proto JSON name; the file may use it or the proto field name.
 */
export function requireBooleans(file: string, spec: Record<string, unknown>, message: string, fields: readonly string[]): void {
  const value = spec[message];
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  for (const field of fields) {
    for (const key of new Set([field, snake(field)])) {
      const v = obj[key];
      if (v !== undefined && v !== null && typeof v !== 'boolean') {
        throw new UsageError(`spec '${file}': ${message}.${key} must be true or false, got ${JSON.stringify(v)}`);
      }
    }
  }
}
