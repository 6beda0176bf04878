import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import {
  GenotypeDecodeError,
  GenotypeParseError,
  GenotypeValidationError,
  NASNET_A,
  formatGenotype,
  genotypeFromJSON,
  genotypeHash,
  parseGenotype,
  sampleGenotype,
  validateGenotype,
  type Genotype,
} from '../src/index.js';

/** Valid inputs to mutate: NASNet-A and sampled genotypes. */
function corpus(rng: Rng): Genotype[] {
  return [NASNET_A, ...Array.from({ length: 40 }, () => sampleGenotype(rng))];
}

/** Characters the grammar and JSON use, to make mutations hit interesting places. */
const ALPHABET = ' ()+;:,|=>[]{}"0123456789-._eE\n\tnormalreductionconcatsepidmaxavg\u00e9\u0000\uffff';

function randomBytes(rng: Rng, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = rng.int(256);
  return rng.int(2) === 0 ? Buffer.from(bytes).toString('latin1') : Buffer.from(bytes).toString('utf8');
}

/** One random edit: flip a byte, truncate, duplicate or delete a span, splice in another text, insert noise. */
function mutateText(rng: Rng, text: string, donors: readonly string[]): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(7)) {
    case 0: {
      if (text.length === 0) return text;
      const i = Math.min(at, text.length - 1);
      const flipped = String.fromCharCode(text.charCodeAt(i) ^ (1 << rng.int(8)));
      return text.slice(0, i) + flipped + text.slice(i + 1);
    }
    case 1:
      return text.slice(0, at);
    case 2: {
      const end = Math.min(text.length, at + 1 + rng.int(40));
      return text.slice(0, end) + text.slice(at, end) + text.slice(end);
    }
    case 3: {
      const end = Math.min(text.length, at + 1 + rng.int(20));
      return text.slice(0, at) + text.slice(end);
    }
    case 4: {
      const donor = rng.pick(donors);
      const from = rng.int(donor.length + 1);
      return text.slice(0, at) + donor.slice(from, from + rng.int(80)) + text.slice(at + rng.int(80));
    }
    case 5: {
      let noise = '';
      for (let i = 1 + rng.int(4); i > 0; i--) noise += ALPHABET[rng.int(ALPHABET.length)];
      return text.slice(0, at) + noise + text.slice(at);
    }
    default: {
      // Replace a digit with another number, sometimes a wild one.
      const digits = [...text.matchAll(/\d+/g)];
      if (digits.length === 0) return text;
      const m = rng.pick(digits);
      const v = rng.pick(['0', '1', '6', '7', '99', '-1', '1.5', '1e3', '00', String(rng.int(10))]);
      return text.slice(0, m.index) + v + text.slice(m.index! + m[0].length);
    }
  }
}

/** A random JSON-able value, sometimes deep. */
function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 6 : 9)) {
    case 0: return null;
    case 1: return rng.int(2) === 0;
    case 2: return rng.pick([0, 1, 2, 6, 7, -1, 0.5, 1e308, -0, 2 ** 53]);
    case 3: return rng.pick(['', 'identity', 'sep_conv3x3', 'add', 'concat', 'normal', '__proto__', 'x'.repeat(100)]);
    case 4: return rng.int(1000);
    case 5: return String(rng.int(10));
    case 6: return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    case 7: {
      const obj: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) obj[rng.pick(['inputs', 'ops', 'combine', 'blocks', 'concat', 'normal', 'reduction', 'extra'])] = randomValue(rng, depth + 1);
      return obj;
    }
    default: {
      // Very deep nesting: decoders must not recurse into it.
      let v: unknown = 1;
      for (let i = 0; i < 2000; i++) v = [v];
      return v;
    }
  }
}

/** Replaces (or deletes) one random node of a plain JSON tree, in place. */
function mutateTree(rng: Rng, root: any): any {
  const nodes: Array<{ parent: any; key: string | number }> = [];
  const walk = (v: any): void => {
    if (v === null || typeof v !== 'object') return;
    for (const key of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      nodes.push({ parent: v, key });
      walk(v[key]);
    }
  };
  walk(root);
  if (nodes.length === 0 || rng.int(20) === 0) return randomValue(rng);
  const { parent, key } = rng.pick(nodes);
  if (rng.int(4) === 0) {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else {
    parent[key] = randomValue(rng);
  }
  return root;
}

function isOwnError(err: unknown): boolean {
  return err instanceof GenotypeParseError || err instanceof GenotypeValidationError || err instanceof GenotypeDecodeError;
}

interface Tally { cases: number; accepted: number; rejected: number; jsonSyntax: number; maxMs: number }

/** Runs one input through `decode`; anything but our own errors fails the test. */
function attempt(tally: Tally, label: string, input: string, decode: () => Genotype): void {
  tally.cases++;
  const start = performance.now();
  let g: Genotype | undefined;
  try {
    g = decode();
  } catch (err) {
    if (!isOwnError(err)) {
      assert.fail(`${label}: ${String(err)} escaped for input ${JSON.stringify(input.slice(0, 300))}`);
    }
    const message = (err as Error).message;
    assert.ok(message.length > 0 && message.length < 1000, `${label}: message of length ${message.length}`);
    if (err instanceof GenotypeParseError) {
      assert.ok(err.offset >= 0 && err.offset <= input.length, `offset ${err.offset} outside the text`);
    }
    tally.rejected++;
  }
  tally.maxMs = Math.max(tally.maxMs, performance.now() - start);
  if (g !== undefined) {
    // Whatever is accepted is a real genotype.
    validateGenotype(g);
    assert.deepEqual(parseGenotype(formatGenotype(g)), g);
    assert.match(genotypeHash(g), /^[0-9a-f]{64}$/);
    tally.accepted++;
  }
}

function parseJsonThenDecode(tally: Tally, label: string, text: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    assert.ok(err instanceof SyntaxError, `JSON.parse threw ${String(err)}`);
    tally.jsonSyntax++;
    return;
  }
  attempt(tally, label, text, () => genotypeFromJSON(value));
}

test('fuzz - random bytes and mutated text never throw anything but parse errors', (t) => {
  const rng = new Rng(0xf022);
  const texts = corpus(rng).map((g) => formatGenotype(g));
  const tally: Tally = { cases: 0, accepted: 0, rejected: 0, jsonSyntax: 0, maxMs: 0 };
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytes(rng, rng.int(400));
    attempt(tally, 'random bytes', bytes, () => parseGenotype(bytes));
  }
  for (let i = 0; i < 4000; i++) {
    let text = rng.pick(texts);
    for (let k = 1 + rng.int(3); k > 0; k--) text = mutateText(rng, text, texts);
    attempt(tally, 'mutated text', text, () => parseGenotype(text));
  }
  t.diagnostic(`text: ${tally.cases} cases, ${tally.accepted} accepted, ${tally.rejected} rejected, slowest ${tally.maxMs.toFixed(1)} ms`);
  assert.ok(tally.cases >= 5000);
  assert.ok(tally.accepted > 0 && tally.rejected > tally.cases / 2, JSON.stringify(tally));
  assert.ok(tally.maxMs < 250, `slowest input took ${tally.maxMs} ms`);
});

test('fuzz - random bytes, mutated JSON text and mutated JSON trees never throw anything but decode/validation errors', (t) => {
  const rng = new Rng(0x150);
  const jsons = corpus(rng).map((g) => JSON.stringify(g));
  const tally: Tally = { cases: 0, accepted: 0, rejected: 0, jsonSyntax: 0, maxMs: 0 };
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytes(rng, rng.int(300));
    parseJsonThenDecode(tally, 'random bytes', rng.int(2) === 0 ? bytes : `{${bytes}}`);
  }
  for (let i = 0; i < 3000; i++) {
    let text = rng.pick(jsons);
    for (let k = 1 + rng.int(3); k > 0; k--) text = mutateText(rng, text, jsons);
    parseJsonThenDecode(tally, 'mutated JSON text', text);
  }
  for (let i = 0; i < 2000; i++) {
    let tree = JSON.parse(rng.pick(jsons));
    for (let k = 1 + rng.int(2); k > 0; k--) tree = mutateTree(rng, tree);
    attempt(tally, 'mutated JSON tree', '(tree)', () => genotypeFromJSON(tree));
  }
  t.diagnostic(
    `json: ${tally.cases} decoded, ${tally.jsonSyntax} stopped by JSON.parse, ${tally.accepted} accepted, ` +
      `${tally.rejected} rejected, slowest ${tally.maxMs.toFixed(1)} ms`,
  );
  assert.ok(tally.cases + tally.jsonSyntax >= 6000);
  assert.ok(tally.cases >= 2500, `${tally.cases} inputs reached the decoder`);
  assert.ok(tally.accepted > 0 && tally.rejected > 0, JSON.stringify(tally));
  assert.ok(tally.maxMs < 250, `slowest input took ${tally.maxMs} ms`);
});
