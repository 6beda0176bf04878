import { createHash, timingSafeEqual } from 'node:crypto';
import { TokenListError } from './errors.js';
import type { NamedToken } from './types.js';

/** A header longer than this is no token of ours; it is refused before hashing. */
const MAX_HEADER_CHARS = 8192;
/** A call may repeat `authorization`; more values than this are not looked at. */
const MAX_VALUES = 4;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks `authorization: Bearer <token>` against a list of named tokens.
 *
 * Tokens are compared as SHA-256 digests with crypto.timingSafeEqual: the
 * digests always have the same length (timingSafeEqual throws on unequal
 * lengths, and comparing raw strings would leak the token's length), and
 * every configured token is compared on every call, so the time taken says
 * neither how much of a guess was right nor which token matched.
 */
export class TokenChecker {
  private readonly entries: { name: string; digest: Buffer }[];

  constructor(tokens: readonly NamedToken[]) {
    const names = new Set<string>();
    const seen = new Map<string, number>();
    this.entries = tokens.map((t, i) => {
      if (!t.name || !t.name.trim()) throw new TokenListError(i, 'the name is empty');
      if (!t.token) throw new TokenListError(i, `the token of '${t.name}' is empty`);
      if (/\s/.test(t.token)) throw new TokenListError(i, `the token of '${t.name}' contains white space`);
      if (names.has(t.name)) throw new TokenListError(i, `the name '${t.name}' is given twice`);
      const key = digest(t.token).toString('hex');
      const other = seen.get(key);
      if (other !== undefined) throw new TokenListError(i, `'${t.name}' has the same token as tokens[${other}]: the caller would be ambiguous`);
      names.add(t.name);
      seen.set(key, i);
      return { name: t.name, digest: digest(t.token) };
    });
  }

  /** True when at least one token is configured, i.e. calls must carry one. */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The caller's name for the call's `authorization` values, or undefined when none carries a known token. */
  callerOf(authorization: readonly unknown[]): string | undefined {
    let caller: string | undefined;
    for (const value of authorization.slice(0, MAX_VALUES)) {
      const presented = bearerToken(value);
      if (presented === undefined) continue;
      const d = digest(presented);
      for (const entry of this.entries) {
        // No early exit: every entry is compared whatever matched before.
        if (timingSafeEqual(d, entry.digest) && caller === undefined) caller = entry.name;
      }
    }
    return caller;
  }
}

function bearerToken(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_HEADER_CHARS) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return match?.[1];
}
