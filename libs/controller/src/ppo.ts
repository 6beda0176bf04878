import { Rng, type RngState } from '@nasnet/random';
import { Adam, type AdamState } from './adam.js';
import { LstmPolicy, type LstmPolicyOptions } from './lstm-policy.js';
import { isPackedArrays, packArrays, unpackArrays, type PackedArrays } from './packed.js';
import { StrategyStateError, type Candidate, type PolicyUpdate, type SearchStrategy, type StrategyState } from './strategy.js';

/**
 * PPO settings. The paper (section 4) fixes the learning rate, entropy
 * weight, baseline decay and batch; it leaves the clip range and the epochs
 * per update open.
 */
export interface PpoOptions {
  /** @default 0.00035 (paper) */
  learningRate: number;
  /** @default 0.00001 (paper) */
  entropyWeight: number;
  /** Reward baseline: exponential moving average with this decay. @default 0.95 (paper) */
  baselineDecay: number;
  /** Architectures per policy update. @default 20 (paper) */
  batchSize: number;
  /**
   * Clip range epsilon of the surrogate ratio. @default 0.2: the value of the
   * PPO paper (Schulman et al. 2017), where it was the best of {0.1, 0.2,
   * 0.3}. The ratio is taken over the whole 50-decision sequence, so one
   * update can move a sequence's probability by at most ~20% per epoch.
   */
  clipRange: number;
  /**
   * Passes over each batch. @default 4: a batch of 20 rewards is expensive
   * (20 trained networks), so it is reused a few times; with the clip range
   * above, more epochs add little (the ratio saturates) and risk overfitting
   * 20 samples.
   */
  epochs: number;
  /** Policy network settings. */
  policy: Partial<LstmPolicyOptions>;
  /** Seed for weights and sampling. @default 0 */
  seed: number;
}

export function defaultPpoOptions(): Omit<PpoOptions, 'policy'> & { policy: Partial<LstmPolicyOptions> } {
  return { learningRate: 0.00035, entropyWeight: 0.00001, baselineDecay: 0.95, batchSize: 20, clipRange: 0.2, epochs: 4, policy: {}, seed: 0 };
}

interface BufferEntry {
  decisions: number[];
  oldLogProb: number;
  advantage: number;
  reward: number;
}

/** The NASNet controller trained with Proximal Policy Optimization. */
export class PpoStrategy implements SearchStrategy {
  readonly name = 'ppo' as const;
  readonly options: PpoOptions;
  readonly policy: LstmPolicy;
  private readonly optimizer: Adam;
  private rng: Rng;
  private baseline: number | undefined;
  private buffer: BufferEntry[] = [];
  private updates = 0;

  constructor(options: Partial<PpoOptions> = {}) {
    this.options = { ...defaultPpoOptions(), ...options };
    const { seed } = this.options;
    this.policy = new LstmPolicy({ ...this.options.policy, seed: this.options.policy.seed ?? seed });
    this.optimizer = new Adam(this.policy.parameters().map((p) => p.length), { learningRate: this.options.learningRate });
    this.rng = new Rng(seed ^ 0x2545f491);
  }

  propose(): Candidate {
    const s = this.policy.sample(this.rng);
    return { genotype: s.genotype, decisions: s.decisions, logProb: s.logProb };
  }

  observe(candidate: Candidate, reward: number): PolicyUpdate | undefined {
    if (!candidate.decisions || candidate.logProb === undefined) {
      throw new StrategyStateError('ppo.observe needs the decisions and log-probability the policy produced');
    }
    if (!Number.isFinite(reward)) throw new StrategyStateError(`ppo.observe got a non-finite reward ${reward}`);
    // Advantage against the baseline of earlier rewards, then fold this reward in.
    const advantage = this.baseline === undefined ? 0 : reward - this.baseline;
    const d = this.options.baselineDecay;
    this.baseline = this.baseline === undefined ? reward : d * this.baseline + (1 - d) * reward;
    this.buffer.push({ decisions: candidate.decisions.slice(), oldLogProb: candidate.logProb, advantage, reward });
    if (this.buffer.length < this.options.batchSize) return undefined;
    return this.update();
  }

  private update(): PolicyUpdate {
    const started = performance.now();
    const batch = this.buffer;
    this.buffer = [];
    const { clipRange, epochs, entropyWeight } = this.options;
    const n = batch.length;
    let firstLoss = 0, entropySum = 0, clipped = 0;
    const decisions = batch.map((b) => b.decisions);
    const dLogProb = new Array<number>(n).fill(0);
    const dEntropy = new Array<number>(n).fill(-entropyWeight / n);
    for (let epoch = 0; epoch < epochs; epoch++) {
      // All n sequences in one batched forward and backward pass.
      const trace = this.policy.evaluate(decisions);
      let loss = 0;
      for (let k = 0; k < n; k++) {
        const item = batch[k]!;
        const ratio = Math.exp(trace.logProb[k]! - item.oldLogProb);
        const A = item.advantage;
        const unclipped = ratio * A;
        const clippedRatio = Math.min(Math.max(ratio, 1 - clipRange), 1 + clipRange);
        const surrogate = Math.min(unclipped, clippedRatio * A);
        loss += -surrogate / n - (entropyWeight * trace.entropy[k]!) / n;
        // Gradient flows through the ratio only where the unclipped term is the minimum.
        const active = unclipped <= clippedRatio * A;
        if (!active) clipped++;
        dLogProb[k] = active ? (-A * ratio) / n : 0;
        if (epoch === 0) entropySum += trace.entropy[k]!;
      }
      this.policy.zeroGradients();
      this.policy.backward(trace, dLogProb, dEntropy);
      if (epoch === 0) firstLoss = loss;
      this.optimizer.apply(this.policy.parameters(), this.policy.gradients());
    }
    this.updates += 1;
    return {
      update: this.updates,
      meanReward: batch.reduce((s, b) => s + b.reward, 0) / n,
      baseline: this.baseline ?? 0,
      loss: firstLoss,
      entropy: entropySum / n,
      clipFraction: clipped / (n * epochs),
      updateMs: performance.now() - started,
    };
  }

  exportState(): StrategyState {
    return {
      name: 'ppo',
      // Packed (packed.ts): exact, and a quarter of the JSON numbers' size in every checkpoint.
      weights: packArrays(this.policy.options.precision, this.policy.parameters()),
      optimizer: this.optimizer.getState(),
      rng: this.rng.state(),
      baseline: this.baseline ?? null,
      buffer: this.buffer.map((b) => ({ ...b, decisions: b.decisions.slice() })),
      updates: this.updates,
    };
  }

  importState(state: StrategyState): void {
    if (state.name !== 'ppo') throw new StrategyStateError(`cannot load a '${state.name}' state into the ppo strategy`);
    const s = state as unknown as { weights: PackedArrays | number[][]; optimizer: AdamState; rng: RngState; baseline: number | null; buffer: BufferEntry[]; updates: number };
    // Plain numbers: a state saved before weights were packed.
    this.policy.setWeights(isPackedArrays(s.weights) ? unpackArrays(s.weights, 'ppo state weights') : s.weights);
    this.optimizer.setState(s.optimizer);
    this.rng = new Rng(s.rng);
    this.baseline = s.baseline ?? undefined;
    this.buffer = s.buffer.map((b) => ({ ...b, decisions: b.decisions.slice() }));
    this.updates = s.updates;
  }
}
