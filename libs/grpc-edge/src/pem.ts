import { readFileSync } from 'node:fs';
import { TlsFileError } from './errors.js';

/** Reads a PEM file; TlsFileError names its role (`cert`, `key`, `ca`, `clientCa`) and path. */
export function readPem(role: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new TlsFileError(role, path, `cannot be read: ${(cause as Error).message}`, { cause });
  }
}
