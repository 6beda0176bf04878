import { Rng } from '@nasnet/random';
import { decisionSpace, decisionsToGenotype, NUM_OPERATIONS, type DecisionSlot, type Genotype } from '@nasnet/search-space';
import { createArena, type Arena, type Precision } from './arena.js';

/**
 * The NASNet controller: a one-layer LSTM that emits the 2 x 5 x B cell
 * decisions one after another (paper section 3, Figure 3). Each decision is a
 * softmax over the choices legal at that point; the chosen value is embedded
 * and fed to the next step.
 *
 * Written with explicit forward and backward passes over a whole batch of
 * sequences at once (the PPO update evaluates its 20 architectures
 * together), free of any tensor engine. Three things keep it fast:
 * - the input of every step is an embedding row, so its share of the gates
 *   (W_x e + b) is one table per weight version, looked up per step, and
 *   its gradient is summed per embedding row before one small product;
 * - the recurrent products run over the batch as matrix products (float32
 *   WebAssembly SIMD, arena.ts), the weight gradient as one product over
 *   all steps after the backward sweep;
 * - every buffer lives in one preallocated arena: no allocation per step.
 * `precision: 'float64'` runs the same code in float64 JavaScript: the
 * exact reference the gradient check uses.
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
  /** Number format of weights and activations. @default 'float32' */
  precision: Precision;
}

export function defaultPolicyOptions(): LstmPolicyOptions {
  return { numBlocks: 5, hiddenUnits: 100, initRange: 0.1, seed: 0, precision: 'float32' };
}

/** Decision kinds, in the order of the embedding tables and heads. */
const INPUT = 0, OP = 1, COMBINE = 2;

function kindOf(slot: DecisionSlot): number {
  return slot.field === 'combine' ? COMBINE : slot.field.startsWith('op') ? OP : INPUT;
}

/** Names of the parameter arrays, in the order of `parameters()`. */
export const POLICY_PARAMETER_NAMES = [
  'go', 'embed.input', 'embed.op', 'embed.combine', 'lstm.w', 'lstm.b',
  'head.input.w', 'head.input.b', 'head.op.w', 'head.op.b', 'head.combine.w', 'head.combine.b',
] as const;

/** One sampled architecture. */
export interface PolicySample {
  decisions: number[];
  genotype: Genotype;
  /** Sum of the log-probabilities of all decisions. */
  logProb: number;
  /** Sum over steps of the entropy of each step's distribution. */
  entropy: number;
}

/**
 * A batch of decision sequences evaluated under the current weights. The
 * activations it refers to live in the policy and are valid for backward()
 * until the policy's next forward pass (sample or evaluate).
 */
export interface PolicyTrace {
  readonly decisions: readonly (readonly number[])[];
  /** Per sequence: sum of the log-probabilities of its decisions. */
  readonly logProb: readonly number[];
  /** Per sequence: sum over steps of each step's entropy. */
  readonly entropy: readonly number[];
}

/** backward() got a trace whose activations a later forward pass has overwritten. */
export class StaleTraceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StaleTraceError';
  }
}

interface Trace extends PolicyTrace {
  readonly pass: number;
}

export class LstmPolicy {
  readonly options: LstmPolicyOptions;
  readonly slots: readonly DecisionSlot[];
  private readonly kinds: Uint8Array;
  private readonly choices: Int32Array;
  /** Softmax sizes per kind: input (all blocks' heads share the widest), op, combine. */
  private readonly kindChoices: readonly [number, number, number];
  /** Row of the first embedding of each kind in the embedding table (row 0 is `go`). */
  private readonly embedRow: readonly [number, number, number];
  /** Rows of the embedding table: go plus every choice of every kind. */
  private readonly V: number;
  private readonly H: number;
  private readonly T: number;
  private readonly maxChoices: number;
  private readonly arena: Arena;
  /** Offsets of the parameters (and, shifted by `paramCount`, of their gradients). */
  private readonly offsets: number[];
  private readonly sizes: number[];
  private readonly paramCount: number;
  // Fixed regions after the gradients.
  private readonly wt: number;   // W transposed: [E + H][4H]
  private readonly table: number; // per embedding row: W_x e + b, [V][4H]
  private readonly sums: number;  // per embedding row: sum of the gate gradients of the steps it fed, [V][4H]
  private readonly headT: [number, number, number]; // each head's weights transposed, [H][choices]
  private readonly batchBase: number;
  // Batch regions, laid out for the current batch size by layout().
  private batch = 0;
  private hs = 0; private cs = 0; private zs = 0; private tanhC = 0; private dzs = 0; private dh = 0; private dc = 0;
  /** Logits of one step, then their gradients, [B][choices]. */
  private dl = 0;
  // Per (step, sequence) bookkeeping in JavaScript.
  private probs = new Float64Array(0);
  private logps = new Float64Array(0);
  private stepEntropy = new Float64Array(0);
  private actions = new Int32Array(0);
  private rows = new Int32Array(0);
  private readonly logits: Float64Array;
  private pass = 0;
  private views?: (Float32Array | Float64Array)[];
  private gradViews?: (Float32Array | Float64Array)[];
  private viewsOf?: Float32Array | Float64Array;

  constructor(options: Partial<LstmPolicyOptions> = {}) {
    this.options = { ...defaultPolicyOptions(), ...options };
    const { numBlocks, hiddenUnits: H, initRange, seed, precision } = this.options;
    if (!Number.isInteger(H) || H < 1) throw new RangeError(`policy hiddenUnits must be a positive integer, got ${H}`);
    if (precision !== 'float32' && precision !== 'float64') throw new RangeError(`policy precision must be 'float32' or 'float64', got ${String(precision)}`);
    this.slots = decisionSpace(numBlocks);
    this.T = this.slots.length;
    this.H = H;
    this.kinds = Uint8Array.from(this.slots.map(kindOf));
    this.choices = Int32Array.from(this.slots.map((s) => s.numChoices));
    this.kindChoices = [2 + numBlocks - 1, NUM_OPERATIONS, 2];
    this.embedRow = [1, 1 + this.kindChoices[0], 1 + this.kindChoices[0] + this.kindChoices[1]];
    this.V = 1 + this.kindChoices[0] + this.kindChoices[1] + this.kindChoices[2];
    this.maxChoices = Math.max(...this.kindChoices);
    this.logits = new Float64Array(this.maxChoices);
    const E = H, G = 4 * H;
    const [nIn, nOp, nComb] = this.kindChoices;
    // go and the three embedding tables are consecutive: together they are the V x E embedding table.
    this.sizes = [E, nIn * E, nOp * E, nComb * E, G * (E + H), G, nIn * H, nIn, nOp * H, nOp, nComb * H, nComb];
    this.offsets = [];
    let at = 0;
    for (const n of this.sizes) { this.offsets.push(at); at += n; }
    this.paramCount = at;
    this.wt = 2 * at;
    this.table = this.wt + (E + H) * G;
    this.sums = this.table + this.V * G;
    const headT = this.sums + this.V * G;
    this.headT = [headT, headT + H * nIn, headT + H * (nIn + nOp)];
    this.batchBase = headT + H * (nIn + nOp + nComb);
    this.arena = createArena(precision, this.batchBase);
    const rng = new Rng(seed);
    const d = this.arena.data;
    for (let k = 0; k < at; k++) d[k] = rng.uniform(-initRange, initRange);
  }

  /**
   * The live parameter arrays, in the order of POLICY_PARAMETER_NAMES (the
   * optimizer updates them in place). Views of the policy's arena: fetch
   * them again after a forward pass with a larger batch than before.
   */
  parameters(): (Float32Array | Float64Array)[] {
    this.refreshViews();
    return this.views!;
  }

  /** Gradient arrays shaped like the parameters, accumulated by backward(). Same caveat as parameters(). */
  gradients(): (Float32Array | Float64Array)[] {
    this.refreshViews();
    return this.gradViews!;
  }

  /** Zeroes the gradients and returns them. */
  zeroGradients(): (Float32Array | Float64Array)[] {
    this.arena.data.fill(0, this.paramCount, 2 * this.paramCount);
    return this.gradients();
  }

  parameterCount(): number {
    return this.paramCount;
  }

  private refreshViews(): void {
    const d = this.arena.data;
    if (this.viewsOf === d) return;
    this.views = this.offsets.map((o, k) => d.subarray(o, o + this.sizes[k]!));
    this.gradViews = this.offsets.map((o, k) => d.subarray(this.paramCount + o, this.paramCount + o + this.sizes[k]!));
    this.viewsOf = d;
  }

  /** Samples a full architecture. */
  sample(rng: Rng): PolicySample {
    const t = this.forward(1, undefined, rng);
    const decisions = t.decisions[0]!.slice();
    return { decisions, genotype: decisionsToGenotype(decisions, this.options.numBlocks), logProb: t.logProb[0]!, entropy: t.entropy[0]! };
  }

  /** Log-probabilities and entropies of decision sequences under the current weights, kept for backward(). */
  evaluate(batch: readonly (readonly number[])[]): PolicyTrace {
    if (batch.length === 0) throw new RangeError('policy.evaluate needs at least one decision sequence');
    batch.forEach((decisions, b) => {
      if (decisions.length !== this.T) throw new RangeError(`policy expects ${this.T} decisions, sequence ${b} has ${decisions.length}`);
      for (let t = 0; t < this.T; t++) {
        const a = decisions[t]!, n = this.choices[t]!;
        if (!Number.isInteger(a) || a < 0 || a >= n) {
          const slot = this.slots[t]!;
          throw new RangeError(`sequence ${b}: decision ${t} (${slot.cell} block ${slot.block} ${slot.field}) is ${a}, must be an integer in 0..${n - 1}`);
        }
      }
    });
    return this.forward(batch.length, batch, undefined);
  }

  /** Lays the batch regions out for `B` sequences (growing the arena if needed). */
  private layout(B: number): void {
    if (B === this.batch) return;
    const { H, T } = this;
    const G = 4 * H;
    this.hs = this.batchBase;
    this.cs = this.hs + (T + 1) * B * H;
    this.tanhC = this.cs + (T + 1) * B * H;
    this.zs = this.tanhC + T * B * H;
    this.dzs = this.zs + T * B * G;
    this.dh = this.dzs + T * B * G;
    this.dc = this.dh + B * H;
    this.dl = this.dc + B * H;
    this.arena.ensure(this.dl + B * this.maxChoices);
    if (this.probs.length < T * B * this.maxChoices) {
      this.probs = new Float64Array(T * B * this.maxChoices);
      this.logps = new Float64Array(T * B * this.maxChoices);
      this.stepEntropy = new Float64Array(T * B);
      this.actions = new Int32Array(T * B);
      this.rows = new Int32Array(T * B);
    }
    this.batch = B;
  }

  /** W transposed, and the gate table W_x e + b of every embedding row, for the current weights. */
  private prepare(): void {
    const { H, V } = this;
    const E = H, Z = E + H, G = 4 * H;
    const d = this.arena.data;
    const w = this.offsets[4]!, bias = this.offsets[5]!;
    for (let r = 0; r < G; r++) {
      const row = w + r * Z;
      for (let j = 0; j < Z; j++) d[this.wt + j * G + r] = d[row + j]!;
    }
    this.arena.gemm(this.table, this.offsets[0]!, this.wt, V, G, E, E, 1, G, G, false);
    for (let v = 0; v < V; v++) {
      const row = this.table + v * G;
      for (let r = 0; r < G; r++) d[row + r] = d[row + r]! + d[bias + r]!;
    }
    for (let k = 0; k < 3; k++) {
      const w = this.offsets[6 + 2 * k]!, n = this.kindChoices[k]!, out = this.headT[k]!;
      for (let a = 0; a < n; a++) for (let u = 0; u < H; u++) d[out + u * n + a] = d[w + a * H + u]!;
    }
  }

  private forward(B: number, given: readonly (readonly number[])[] | undefined, rng: Rng | undefined): Trace {
    this.layout(B);
    this.prepare();
    const { H, T, maxChoices } = this;
    const E = H, G = 4 * H;
    const d = this.arena.data;
    const logits = this.logits;
    const decisions: number[][] = Array.from({ length: B }, () => new Array<number>(T));
    const logProb = new Array<number>(B).fill(0), entropy = new Array<number>(B).fill(0);
    d.fill(0, this.hs, this.hs + B * H);
    d.fill(0, this.cs, this.cs + B * H);
    for (let t = 0; t < T; t++) {
      const z = this.zs + t * B * G;
      const hPrev = this.hs + t * B * H, h = hPrev + B * H;
      const cPrev = this.cs + t * B * H, c = cPrev + B * H;
      const tc = this.tanhC + t * B * H;
      // Gates start from the table row of each sequence's input, then add U h_{t-1}.
      for (let b = 0; b < B; b++) {
        let row = 0;
        if (t > 0) row = this.embedRow[this.kinds[t - 1]!]! + decisions[b]![t - 1]!;
        this.rows[t * B + b] = row;
        const src = this.table + row * G;
        d.copyWithin(z + b * G, src, src + G);
      }
      if (t > 0) this.arena.gemm(z, hPrev, this.wt + E * G, B, G, H, H, 1, G, G, true);
      for (let b = 0; b < B; b++) {
        const zb = z + b * G, hb = h + b * H, cb = c + b * H, pb = cPrev + b * H, tb = tc + b * H;
        for (let u = 0; u < H; u++) {
          const i = sigmoid(d[zb + u]!), f = sigmoid(d[zb + H + u]!), g = tanh(d[zb + 2 * H + u]!), o = sigmoid(d[zb + 3 * H + u]!);
          d[zb + u] = i; d[zb + H + u] = f; d[zb + 2 * H + u] = g; d[zb + 3 * H + u] = o;
          const cu = f * d[pb + u]! + i * g;
          d[cb + u] = cu;
          const th = tanh(cu);
          d[tb + u] = th;
          d[hb + u] = o * th;
        }
      }
      // Heads: logits, log-softmax, the decision.
      const kind = this.kinds[t]!, n = this.choices[t]!;
      const hbias = this.offsets[7 + 2 * kind]!, width = this.kindChoices[kind]!;
      // logits = h W_head^T for the whole batch (only the first n columns are legal at this step).
      this.arena.gemm(this.dl, h, this.headT[kind]!, B, n, H, H, 1, width, n, false);
      for (let b = 0; b < B; b++) {
        let max = -Infinity;
        for (let a = 0; a < n; a++) {
          const s = d[this.dl + b * n + a]! + d[hbias + a]!;
          logits[a] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let a = 0; a < n; a++) sum += Math.exp(logits[a]! - max);
        const lse = max + Math.log(sum);
        const at = (t * B + b) * maxChoices;
        let ent = 0;
        for (let a = 0; a < n; a++) {
          const lp = logits[a]! - lse, p = Math.exp(lp);
          this.logps[at + a] = lp;
          this.probs[at + a] = p;
          if (p > 0) ent -= p * lp;
        }
        const action = given ? given[b]![t]! : rng!.categorical(this.probs.subarray(at, at + n));
        decisions[b]![t] = action;
        this.actions[t * B + b] = action;
        this.stepEntropy[t * B + b] = ent;
        logProb[b] += this.logps[at + action]!;
        entropy[b] += ent;
      }
    }
    this.pass++;
    return { decisions, logProb, entropy, pass: this.pass };
  }

  /**
   * Accumulates into gradients() the gradient of
   *   sum over sequences s of dLogProb[s] * logProb_s + dEntropy[s] * entropy_s
   * with respect to every parameter (backpropagation through time, all
   * sequences at once). A number applies to every sequence.
   */
  backward(trace: PolicyTrace, dLogProb: number | readonly number[], dEntropy: number | readonly number[]): void {
    const tr = trace as Trace;
    if (tr.pass !== this.pass) {
      throw new StaleTraceError(`policy.backward got the trace of forward pass ${tr.pass ?? '(none)'}, but pass ${this.pass} has overwritten its activations: call backward before the next sample or evaluate`);
    }
    const B = this.batch;
    const dLP = (s: number) => (typeof dLogProb === 'number' ? dLogProb : dLogProb[s]!);
    const dEnt = (s: number) => (typeof dEntropy === 'number' ? dEntropy : dEntropy[s]!);
    for (const [what, x] of [['dLogProb', dLogProb], ['dEntropy', dEntropy]] as const) {
      if (typeof x !== 'number' && x.length !== B) throw new RangeError(`policy.backward: ${what} has ${x.length} values for a batch of ${B}`);
    }
    const { H, T, V, maxChoices } = this;
    const E = H, Z = E + H, G = 4 * H, P = this.paramCount;
    const d = this.arena.data;
    const gW = P + this.offsets[4]!, gB = P + this.offsets[5]!, W = this.offsets[4]!;
    d.fill(0, this.sums, this.sums + V * G);
    d.fill(0, this.dh, this.dh + B * H);
    d.fill(0, this.dc, this.dc + B * H);
    for (let t = T - 1; t >= 0; t--) {
      const z = this.zs + t * B * G, dz = this.dzs + t * B * G;
      const h = this.hs + (t + 1) * B * H, cPrev = this.cs + t * B * H, tc = this.tanhC + t * B * H;
      const kind = this.kinds[t]!, n = this.choices[t]!;
      const hw = this.offsets[6 + 2 * kind]!, gHw = P + hw, gHb = P + this.offsets[7 + 2 * kind]!;
      // Heads: d/dlogits of [dLogProb * logp[action] + dEntropy * H(p)] for every sequence, then
      // dh += dl W_head and dW_head += dl^T h as two products over the batch.
      for (let b = 0; b < B; b++) {
        const at = (t * B + b) * maxChoices, action = this.actions[t * B + b]!, ent = this.stepEntropy[t * B + b]!;
        const lp = dLP(b), le = dEnt(b);
        for (let a = 0; a < n; a++) {
          const pa = this.probs[at + a]!;
          let dl = lp * ((a === action ? 1 : 0) - pa);
          if (pa > 0) dl += le * -pa * (this.logps[at + a]! + ent);
          d[this.dl + b * n + a] = dl;
          d[gHb + a] = d[gHb + a]! + dl;
        }
      }
      this.arena.gemm(this.dh, this.dl, hw, B, H, n, n, 1, H, H, true);
      this.arena.gemm(gHw, this.dl, h, n, H, B, 1, n, H, H, true);
      for (let b = 0; b < B; b++) {
        const dhb = this.dh + b * H, dcb = this.dc + b * H, zb = z + b * G, dzb = dz + b * G, pb = cPrev + b * H, tb = tc + b * H;
        // Cell: gate gradients (pre-activation) and the cell gradient to step t - 1.
        for (let u = 0; u < H; u++) {
          const i = d[zb + u]!, f = d[zb + H + u]!, g = d[zb + 2 * H + u]!, o = d[zb + 3 * H + u]!, th = d[tb + u]!, dhu = d[dhb + u]!;
          const dcu = d[dcb + u]! + dhu * o * (1 - th * th);
          d[dzb + u] = dcu * g * i * (1 - i);
          d[dzb + H + u] = dcu * d[pb + u]! * f * (1 - f);
          d[dzb + 2 * H + u] = dcu * i * (1 - g * g);
          d[dzb + 3 * H + u] = dhu * th * o * (1 - o);
          d[dcb + u] = dcu * f;
        }
        // The input was embedding row `row`: its share of the gradient is summed per row.
        const s = this.sums + this.rows[t * B + b]! * G;
        for (let r = 0; r < G; r++) d[s + r] = d[s + r]! + d[dzb + r]!;
      }
      // dh_{t-1} = dz U (U = the recurrent columns of W); h_{-1} is a constant.
      if (t > 0) this.arena.gemm(this.dh, dz, W + E, B, H, G, G, 1, Z, H, false);
    }
    // Recurrent weights: dU += sum over steps t >= 1 and sequences of dz_t h_{t-1}^T, one product.
    this.arena.gemm(gW + E, this.dzs + B * G, this.hs + B * H, G, H, (T - 1) * B, 1, G, H, Z, true);
    // Input weights, bias and embeddings from the per-row sums.
    this.arena.gemm(gW, this.sums, this.offsets[0]!, G, E, V, 1, G, E, Z, true);
    this.arena.gemm(P + this.offsets[0]!, this.sums, W, V, E, G, G, 1, Z, E, true);
    for (let v = 0; v < V; v++) {
      const s = this.sums + v * G;
      for (let r = 0; r < G; r++) d[gB + r] = d[gB + r]! + d[s + r]!;
    }
  }

  /** Weights as plain arrays (JSON-safe), for checkpoints. */
  getWeights(): number[][] {
    return this.parameters().map((a) => Array.from(a));
  }

  setWeights(weights: readonly ArrayLike<number>[]): void {
    const params = this.parameters();
    if (weights.length !== params.length) throw new RangeError(`policy weights have ${weights.length} arrays, expected ${params.length}`);
    weights.forEach((w, k) => {
      if (w.length !== params[k]!.length) {
        throw new RangeError(`policy weight '${POLICY_PARAMETER_NAMES[k]}' has ${w.length} values, expected ${params[k]!.length}`);
      }
    });
    weights.forEach((w, k) => params[k]!.set(w));
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** tanh through one exp (Math.tanh costs more here); exact to ~1e-16 absolute, saturates cleanly. */
function tanh(x: number): number {
  return 1 - 2 / (Math.exp(2 * x) + 1);
}
