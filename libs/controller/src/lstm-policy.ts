import { Rng } from '@nasnet/random';
import { decisionSpace, decisionsToGenotype, NUM_OPERATIONS, type DecisionSlot, type Genotype } from '@nasnet/search-space';

/**
 * The NASNet controller: a one-layer LSTM that emits the 2 x 5 x B cell
 * decisions one after another (paper section 3, Figure 3). Each decision is a
 * softmax over the choices legal at that point; the chosen value is embedded
 * and fed to the next step. Written with explicit forward and backward passes
 * in float64 so the policy is exact, deterministic and free of any tensor
 * engine (it is tiny: 100 units, 50 steps).
 */
export interface LstmPolicyOptions {
  /** Blocks per cell. @default 5 */
  numBlocks: number;
  /** LSTM units. @default 100 (paper section 4) */
  hiddenUnits: number;
  /** Weights are drawn from U(-initRange, initRange). @default 0.1 (paper section 4) */
  initRange: number;
  /** Seed for the initial weights. @default 0 */
  seed: number;
}

export function defaultPolicyOptions(): LstmPolicyOptions {
  return { numBlocks: 5, hiddenUnits: 100, initRange: 0.1, seed: 0 };
}

type Kind = 'input' | 'op' | 'combine';
const KINDS: readonly Kind[] = ['input', 'op', 'combine'];

function kindOf(slot: DecisionSlot): Kind {
  return slot.field === 'combine' ? 'combine' : slot.field.startsWith('op') ? 'op' : 'input';
}

/** Names of the parameter arrays, in the order of `parameters()`. */
export const POLICY_PARAMETER_NAMES = [
  'go', 'embed.input', 'embed.op', 'embed.combine', 'lstm.w', 'lstm.b',
  'head.input.w', 'head.input.b', 'head.op.w', 'head.op.b', 'head.combine.w', 'head.combine.b',
] as const;

/** One sampled (or re-evaluated) decision sequence. */
export interface PolicySample {
  decisions: number[];
  genotype: Genotype;
  /** Sum of the log-probabilities of all decisions. */
  logProb: number;
  /** Sum over steps of the entropy of each step's distribution. */
  entropy: number;
}

interface StepCache {
  x: Float64Array; hPrev: Float64Array; cPrev: Float64Array;
  i: Float64Array; f: Float64Array; g: Float64Array; o: Float64Array;
  c: Float64Array; tanhC: Float64Array; h: Float64Array;
  p: Float64Array; logp: Float64Array; n: number; action: number;
}

export interface PolicyTrace extends PolicySample {
  steps: StepCache[];
}

export class LstmPolicy {
  readonly options: LstmPolicyOptions;
  readonly slots: readonly DecisionSlot[];
  private readonly kinds: Kind[];
  private readonly numChoices: Record<Kind, number>;
  private readonly params: Float64Array[];

  constructor(options: Partial<LstmPolicyOptions> = {}) {
    this.options = { ...defaultPolicyOptions(), ...options };
    const { numBlocks, hiddenUnits: H, initRange, seed } = this.options;
    this.slots = decisionSpace(numBlocks);
    this.kinds = this.slots.map(kindOf);
    this.numChoices = { input: 2 + numBlocks - 1, op: NUM_OPERATIONS, combine: 2 };
    const E = H;
    const sizes = [
      E, this.numChoices.input * E, this.numChoices.op * E, this.numChoices.combine * E,
      4 * H * (E + H), 4 * H,
      this.numChoices.input * H, this.numChoices.input,
      this.numChoices.op * H, this.numChoices.op,
      this.numChoices.combine * H, this.numChoices.combine,
    ];
    const rng = new Rng(seed);
    this.params = sizes.map((n) => {
      const a = new Float64Array(n);
      for (let k = 0; k < n; k++) a[k] = rng.uniform(-initRange, initRange);
      return a;
    });
  }

  /** The live parameter arrays (the optimizer updates them in place). */
  parameters(): Float64Array[] {
    return this.params;
  }

  parameterCount(): number {
    return this.params.reduce((s, a) => s + a.length, 0);
  }

  /** Samples a full architecture. */
  sample(rng: Rng): PolicySample {
    const { decisions, genotype, logProb, entropy } = this.run(undefined, rng);
    return { decisions, genotype, logProb, entropy };
  }

  /** Log-probability and entropy of given decisions under the current weights, with the cache for backward(). */
  evaluate(decisions: readonly number[]): PolicyTrace {
    if (decisions.length !== this.slots.length) {
      throw new RangeError(`policy expects ${this.slots.length} decisions, got ${decisions.length}`);
    }
    return this.run(decisions, undefined);
  }

  private run(given: readonly number[] | undefined, rng: Rng | undefined): PolicyTrace {
    const H = this.options.hiddenUnits, E = H, Z = E + H;
    const [go, embIn, embOp, embComb, W, b] = this.params as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    const emb: Record<Kind, Float64Array> = { input: embIn, op: embOp, combine: embComb };
    let h: Float64Array = new Float64Array(H), c: Float64Array = new Float64Array(H);
    const steps: StepCache[] = [];
    const decisions: number[] = [];
    let logProb = 0, entropy = 0;
    for (let t = 0; t < this.slots.length; t++) {
      const x = new Float64Array(E);
      if (t === 0) x.set(go);
      else {
        const k = this.kinds[t - 1]!, a = decisions[t - 1]!;
        x.set(emb[k].subarray(a * E, (a + 1) * E));
      }
      const zi = new Float64Array(H), zf = new Float64Array(H), zg = new Float64Array(H), zo = new Float64Array(H);
      const zs = [zi, zf, zg, zo];
      for (let gate = 0; gate < 4; gate++) {
        const out = zs[gate]!;
        for (let u = 0; u < H; u++) {
          const row = (gate * H + u) * Z;
          let s = b[gate * H + u]!;
          for (let j = 0; j < E; j++) s += W[row + j]! * x[j]!;
          for (let j = 0; j < H; j++) s += W[row + E + j]! * h[j]!;
          out[u] = s;
        }
      }
      const cNew = new Float64Array(H), tanhC = new Float64Array(H), hNew = new Float64Array(H);
      for (let u = 0; u < H; u++) {
        zi[u] = sigmoid(zi[u]!); zf[u] = sigmoid(zf[u]!); zg[u] = Math.tanh(zg[u]!); zo[u] = sigmoid(zo[u]!);
        cNew[u] = zf[u]! * c[u]! + zi[u]! * zg[u]!;
        tanhC[u] = Math.tanh(cNew[u]!);
        hNew[u] = zo[u]! * tanhC[u]!;
      }
      const kind = this.kinds[t]!;
      const n = this.slots[t]!.numChoices;
      const { w: hw, b: hb } = this.head(kind);
      const logits = new Float64Array(n);
      for (let a = 0; a < n; a++) {
        let s = hb[a]!;
        for (let u = 0; u < H; u++) s += hw[a * H + u]! * hNew[u]!;
        logits[a] = s;
      }
      const { p, logp } = logSoftmax(logits);
      let action: number;
      if (given) {
        action = given[t]!;
        if (!Number.isInteger(action) || action < 0 || action >= n) {
          const slot = this.slots[t]!;
          throw new RangeError(`decision ${t} (${slot.cell} block ${slot.block} ${slot.field}) is ${action}, must be an integer in 0..${n - 1}`);
        }
      } else {
        action = rng!.categorical(p);
      }
      decisions.push(action);
      logProb += logp[action]!;
      for (let a = 0; a < n; a++) if (p[a]! > 0) entropy -= p[a]! * logp[a]!;
      steps.push({ x, hPrev: h, cPrev: c, i: zi, f: zf, g: zg, o: zo, c: cNew, tanhC, h: hNew, p, logp, n, action });
      h = hNew; c = cNew;
    }
    return { decisions, genotype: decisionsToGenotype(decisions, this.options.numBlocks), logProb, entropy, steps };
  }

  private head(kind: Kind): { w: Float64Array; b: Float64Array; wIndex: number } {
    const base = 6 + KINDS.indexOf(kind) * 2;
    return { w: this.params[base]!, b: this.params[base + 1]!, wIndex: base };
  }

  /** Zeroed gradient arrays shaped like the parameters. */
  zeroGradients(): Float64Array[] {
    return this.params.map((a) => new Float64Array(a.length));
  }

  /**
   * Accumulates into `grads` the gradient of
   *   dLogProb * logProb(trace) + dEntropy * entropy(trace)
   * with respect to every parameter (backpropagation through time).
   */
  backward(trace: PolicyTrace, dLogProb: number, dEntropy: number, grads: Float64Array[]): void {
    const H = this.options.hiddenUnits, E = H, Z = E + H;
    const W = this.params[4]!;
    const gGo = grads[0]!, gW = grads[4]!, gB = grads[5]!;
    const gEmb: Record<Kind, Float64Array> = { input: grads[1]!, op: grads[2]!, combine: grads[3]! };
    let dhNext: Float64Array = new Float64Array(H), dcNext: Float64Array = new Float64Array(H);
    const dz = new Float64Array(4 * H);
    for (let t = trace.steps.length - 1; t >= 0; t--) {
      const s = trace.steps[t]!;
      const kind = this.kinds[t]!;
      const { w: hw, wIndex } = this.head(kind);
      const gHw = grads[wIndex]!, gHb = grads[wIndex + 1]!;
      // d/dlogits of [dLogProb * logp[action] + dEntropy * H(p)]
      let ent = 0;
      for (let a = 0; a < s.n; a++) if (s.p[a]! > 0) ent -= s.p[a]! * s.logp[a]!;
      const dh = Float64Array.from(dhNext);
      for (let a = 0; a < s.n; a++) {
        const pa = s.p[a]!;
        let dl = dLogProb * ((a === s.action ? 1 : 0) - pa);
        if (pa > 0) dl += dEntropy * -pa * (s.logp[a]! + ent);
        if (dl === 0) continue;
        gHb[a] = gHb[a]! + dl;
        for (let u = 0; u < H; u++) {
          gHw[a * H + u] = gHw[a * H + u]! + dl * s.h[u]!;
          dh[u] = dh[u]! + dl * hw[a * H + u]!;
        }
      }
      const dcPrev = new Float64Array(H);
      for (let u = 0; u < H; u++) {
        const o = s.o[u]!, tc = s.tanhC[u]!, i = s.i[u]!, f = s.f[u]!, g = s.g[u]!;
        const dc = dcNext[u]! + dh[u]! * o * (1 - tc * tc);
        dz[u] = dc * g * i * (1 - i);                 // input gate
        dz[H + u] = dc * s.cPrev[u]! * f * (1 - f);   // forget gate
        dz[2 * H + u] = dc * i * (1 - g * g);         // candidate
        dz[3 * H + u] = dh[u]! * tc * o * (1 - o);    // output gate
        dcPrev[u] = dc * f;
      }
      const dx = new Float64Array(E), dhPrev = new Float64Array(H);
      for (let r = 0; r < 4 * H; r++) {
        const d = dz[r]!;
        if (d === 0) continue;
        gB[r] = gB[r]! + d;
        const row = r * Z;
        for (let j = 0; j < E; j++) {
          gW[row + j] = gW[row + j]! + d * s.x[j]!;
          dx[j] = dx[j]! + d * W[row + j]!;
        }
        for (let j = 0; j < H; j++) {
          gW[row + E + j] = gW[row + E + j]! + d * s.hPrev[j]!;
          dhPrev[j] = dhPrev[j]! + d * W[row + E + j]!;
        }
      }
      if (t === 0) {
        for (let j = 0; j < E; j++) gGo[j] = gGo[j]! + dx[j]!;
      } else {
        const k = this.kinds[t - 1]!, a = trace.decisions[t - 1]!;
        const g = gEmb[k];
        for (let j = 0; j < E; j++) g[a * E + j] = g[a * E + j]! + dx[j]!;
      }
      dhNext = dhPrev; dcNext = dcPrev;
    }
  }

  /** Weights as plain arrays (JSON-safe), for checkpoints. */
  getWeights(): number[][] {
    return this.params.map((a) => Array.from(a));
  }

  setWeights(weights: readonly (readonly number[])[]): void {
    if (weights.length !== this.params.length) throw new RangeError(`policy weights have ${weights.length} arrays, expected ${this.params.length}`);
    weights.forEach((w, k) => {
      if (w.length !== this.params[k]!.length) {
        throw new RangeError(`policy weight '${POLICY_PARAMETER_NAMES[k]}' has ${w.length} values, expected ${this.params[k]!.length}`);
      }
      this.params[k]!.set(w);
    });
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function logSoftmax(logits: Float64Array): { p: Float64Array; logp: Float64Array } {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const logp = logits.map((v) => v - lse);
  const p = logp.map((v) => Math.exp(v));
  return { p, logp };
}
