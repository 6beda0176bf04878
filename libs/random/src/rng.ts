/**
 * A small, fast, seedable generator (xoshiro128**) whose whole state is four
 * 32-bit words, so a search or a training run can save it and resume exactly.
 */
export type RngState = readonly [number, number, number, number];

/** SplitMix32 step: spreads one seed word over the four state words. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seed from a number (any integer; only its low 32 bits matter) or a saved state. */
  constructor(seed: number | RngState) {
    if (typeof seed === 'number') {
      if (!Number.isFinite(seed)) throw new RangeError(`rng seed must be a finite number, got ${seed}`);
      const next = splitmix32(Math.trunc(seed));
      this.s0 = next(); this.s1 = next(); this.s2 = next(); this.s3 = next();
    } else {
      [this.s0, this.s1, this.s2, this.s3] = seed.map((w) => w >>> 0) as unknown as [number, number, number, number];
    }
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0; this.s1 >>>= 0; this.s2 >>>= 0; this.s3 >>>= 0;
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`rng.int bound must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal sample (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** One element chosen uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('rng.pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!; items[i] = items[j]!; items[j] = tmp;
    }
    return items;
  }

  /** Index drawn from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i]!;
    if (!(total > 0)) throw new RangeError('rng.categorical needs a positive total weight');
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** A new generator whose stream is independent of this one (consumes one draw). */
  fork(): Rng {
    return new Rng(this.nextUint32() ^ 0x5bd1e995);
  }

  /** The state, to save and later pass back to the constructor. */
  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Derive a 32-bit seed from a base seed and labels, e.g. deriveSeed(seed, 'child', 17). */
export function deriveSeed(seed: number, ...labels: Array<string | number>): number {
  let h = (Math.trunc(seed) ^ 0x811c9dc5) >>> 0;
  for (const label of labels) {
    const text = String(label);
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return new Rng(h).nextUint32();
}
