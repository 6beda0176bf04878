import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import { Rng } from '@nasnet/random';
import * as proto from '../src/index.js';

interface Codec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  fromPartial(object: unknown): unknown;
}

function isCodec(value: unknown): value is Codec {
  return (
    typeof value === 'object' && value !== null &&
    typeof (value as Codec).encode === 'function' &&
    typeof (value as Codec).decode === 'function' &&
    typeof (value as Codec).fromPartial === 'function'
  );
}

/** Every message codec the package exports (new messages are picked up automatically). */
const CODECS: Array<[string, Codec]> = Object.entries(proto as Record<string, unknown>).filter(
  (e): e is [string, Codec] => isCodec(e[1]),
);

/** Valid encodings to mutate: rich messages whose bytes exercise nesting, oneofs, maps, packed fields. */
function seeds(): Uint8Array[] {
  const genotype = proto.genotypeToProto(NASNET_A, { hash: 'abc', text: 'nasnet-a' });
  return [
    proto.Genotype.encode(genotype).finish(),
    proto.SearchSpec.encode(proto.SearchSpec.fromPartial({
      name: 'x', dataset: 'mnist', budget: { maxArchitectures: 20, maxWallSeconds: 2 ** 40 },
      recipe: { epochs: 1, learningRate: 0.1 }, labels: { a: 'b' }, strategy: proto.SearchStrategy.SEARCH_STRATEGY_PPO,
    })).finish(),
    proto.SearchEvent.encode(proto.SearchEvent.fromPartial({
      searchId: 's', sequence: 9, event: { $case: 'childQueued', value: { childId: 'c', genotype } },
    })).finish(),
    proto.TransferSpec.encode(proto.TransferSpec.fromPartial({
      source: { $case: 'genotype', value: genotype }, size: { $case: 'budgetParams', value: 3_300_000 },
    })).finish(),
    proto.ListSearchesRequest.encode({ pageSize: 5, pageToken: 't', states: [1, 2, 3] }).finish(),
  ];
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const kind = rng.int(5);
    const at = rng.int(bytes.length + 1);
    if (kind === 0 && bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = rng.int(256); // overwrite
    else if (kind === 1) bytes.splice(at, 0, rng.int(256)); // insert
    else if (kind === 2) bytes.splice(at, 1 + rng.int(4)); // delete
    else if (kind === 3) bytes.length = at; // truncate
    else bytes.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f); // a huge varint (length or tag)
  }
  return Uint8Array.from(bytes);
}

/** Decode with one codec; anything thrown must be an Error, and decoded values must re-encode. */
function probe(name: string, codec: Codec, bytes: Uint8Array, label: string): 'ok' | 'error' {
  let decoded: unknown;
  try {
    decoded = codec.decode(bytes);
  } catch (err) {
    assert.ok(err instanceof Error, `${name}.decode threw a non-Error (${typeof err}: ${String(err)}) for ${label}: ${Buffer.from(bytes).toString('hex')}`);
    return 'error';
  }
  assert.doesNotThrow(() => codec.encode(decoded).finish(), `${name}.encode failed on what decode returned for ${label}: ${Buffer.from(bytes).toString('hex')}`);
  return 'ok';
}

test('decode - codecs list covers the contract', () => {
  const names = CODECS.map(([n]) => n);
  for (const expected of ['Genotype', 'SearchSpec', 'SearchEvent', 'TransferSpec', 'ChildTask', 'ChildResult', 'WatchSearchRequest', 'TransferEvent']) {
    assert.ok(names.includes(expected), `${expected} missing from the exported codecs`);
  }
  assert.ok(CODECS.length >= 50, `only ${CODECS.length} codecs exported`);
});

test('decode - seeded random bytes only ever throw Error instances', () => {
  const rng = new Rng(20170721); // arbitrary fixed seed; the hex of any failure is printed
  const outcome = { ok: 0, error: 0 };
  for (const [name, codec] of CODECS) {
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: rng.int(48) }, () => rng.int(256));
      outcome[probe(name, codec, bytes, `random input ${i}`)]++;
    }
  }
  // Both paths must be exercised, or the test proves nothing.
  assert.ok(outcome.ok > 0 && outcome.error > 0, JSON.stringify(outcome));
});

test('decode - mutated valid encodings only ever throw Error instances', () => {
  const rng = new Rng(4242);
  const valid = seeds();
  const outcome = { ok: 0, error: 0 };
  for (const [name, codec] of CODECS) {
    for (let i = 0; i < 200; i++) {
      const base = valid[rng.int(valid.length)]!;
      outcome[probe(name, codec, mutate(rng, base), `mutation ${i}`)]++;
    }
  }
  assert.ok(outcome.ok > 0 && outcome.error > 0, JSON.stringify(outcome));
});

test('decode - deeply nested groups and oversized lengths fail with an Error', () => {
  const cases: Array<[string, Uint8Array]> = [
    // 100,000 nested start-group tags (field 1, wire type 3).
    ['nested groups', new Uint8Array(100_000).fill(0x0b)],
    // Field 1 length-delimited with a 4 GiB length and 2 bytes of payload.
    ['oversized length', Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02])],
    // A uint64 field (WatchSearchRequest.from_sequence) above 2^53.
    ['uint64 over 2^53', Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    // Wire type 7 does not exist.
    ['bad wire type', Uint8Array.from([0x0f])],
  ];
  for (const [label, bytes] of cases) {
    for (const [name, codec] of CODECS) probe(name, codec, bytes, label);
  }
  assert.throws(() => proto.WatchSearchRequest.decode(cases[2]![1]), /MAX_SAFE_INTEGER/);
});

test('decode - the probe itself flags a decoder that throws a non-Error', () => {
  const throwsString: Codec = {
    encode: () => ({ finish: () => new Uint8Array() }),
    decode: () => { throw 'boom'; },
    fromPartial: (o) => o,
  };
  assert.throws(() => probe('Fake', throwsString, Uint8Array.of(1), 'self-check'), /Fake\.decode threw a non-Error \(string: boom\)/);
});
