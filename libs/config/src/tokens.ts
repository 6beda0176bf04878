import { readFileSync } from 'node:fs';
import { TokenFileError } from './errors.js';

/** A bearer token and the name recorded as the submitter of what a caller presenting it starts. */
export interface NamedToken {
  name: string;
  token: string;
}

/** What a token's name may be: it ends up in logs and in SearchStatus.submitter. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][-_.@A-Za-z0-9]{0,63}$/;

/**
 * Parses the text of a token file: one `name token` pair per line,
 * separated by spaces or tabs; blank lines and lines starting with `#` are
 * skipped. Names and tokens must each be unique (a token shared by two
 * names would make the submitter ambiguous). `file` is only used in errors.
 */
export function parseTokens(text: string, file: string): NamedToken[] {
  const tokens: NamedToken[] = [];
  const byName = new Map<string, number>();
  const byToken = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const n = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/[ \t]+/);
    if (fields.length !== 2) {
      throw new TokenFileError(file, n, `expected "name token" (two fields separated by spaces), found ${fields.length} field(s)`);
    }
    const [name, token] = fields as [string, string];
    if (!TOKEN_NAME_PATTERN.test(name)) {
      throw new TokenFileError(file, n, `name ${JSON.stringify(name)} must be 1 to 64 characters of A-Z a-z 0-9 - _ . @, starting with a letter or digit`);
    }
    const seenName = byName.get(name);
    if (seenName !== undefined) throw new TokenFileError(file, n, `name "${name}" is already used on line ${seenName}`);
    const seenToken = byToken.get(token);
    // The token itself is never printed, only where its twin is.
    if (seenToken !== undefined) throw new TokenFileError(file, n, `the token of "${name}" is the same as the one on line ${seenToken}`);
    byName.set(name, n);
    byToken.set(token, n);
    tokens.push({ name, token });
  }
  return tokens;
}

/** Reads and parses a token file (see parseTokens); a file with no token at all is an error too. */
export function readTokenFile(file: string): NamedToken[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TokenFileError(file, 0, `cannot read it (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`, { cause });
  }
  const tokens = parseTokens(text, file);
  if (tokens.length === 0) throw new TokenFileError(file, 0, 'it holds no "name token" line');
  return tokens;
}
