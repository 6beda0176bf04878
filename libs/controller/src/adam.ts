/**
 * Adam over a flat list of parameter arrays, with its whole state
 * (moments and step) exportable so a search resumes exactly. The moments
 * are float64 whatever the parameters are: a float32 parameter takes the
 * rounded result of each step, and the state round-trips through JSON
 * exactly.
 */
import { isPackedArrays, packArrays, unpackArrays, type PackedArrays } from './packed.js';

export interface AdamOptions {
  /** @default 0.00035 (NASNet controller learning rate, paper section 4) */
  learningRate: number;
  /** @default 0.9 */
  beta1: number;
  /** @default 0.999 */
  beta2: number;
  /** @default 1e-8 */
  epsilon: number;
}

export interface AdamState {
  step: number;
  /** First moments: packed float64 (packed.ts), or plain numbers as states before packing held them. */
  m: PackedArrays | number[][];
  /** Second moments, likewise. */
  v: PackedArrays | number[][];
}

export function defaultAdamOptions(): AdamOptions {
  return { learningRate: 0.00035, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
}

export class Adam {
  readonly options: AdamOptions;
  private step = 0;
  private m: Float64Array[];
  private v: Float64Array[];

  constructor(shapes: readonly number[], options: Partial<AdamOptions> = {}) {
    this.options = { ...defaultAdamOptions(), ...options };
    this.m = shapes.map((n) => new Float64Array(n));
    this.v = shapes.map((n) => new Float64Array(n));
  }

  /** params[i] -= lr * mhat / (sqrt(vhat) + eps), in place. */
  apply(params: readonly (Float32Array | Float64Array)[], grads: readonly (Float32Array | Float64Array)[]): void {
    const { learningRate, beta1, beta2, epsilon } = this.options;
    this.step += 1;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!, g = grads[k]!, m = this.m[k]!, v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * gi;
        v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
        p[i] = p[i]! - (learningRate * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + epsilon);
      }
    }
  }

  getState(): AdamState {
    return { step: this.step, m: packArrays('float64', this.m), v: packArrays('float64', this.v) };
  }

  setState(state: AdamState): void {
    const read = (x: PackedArrays | number[][], name: 'm' | 'v'): ArrayLike<number>[] => (isPackedArrays(x) ? unpackArrays(x, `adam state ${name}`) : x);
    const m = read(state.m, 'm'), v = read(state.v, 'v');
    for (const [name, arrays] of [['m', m], ['v', v]] as const) {
      if (arrays.length !== this.m.length) throw new RangeError(`adam state has ${arrays.length} ${name} arrays, expected ${this.m.length}`);
      arrays.forEach((a, k) => {
        if (a.length !== this.m[k]!.length) throw new RangeError(`adam state ${name}[${k}] has ${a.length} entries, expected ${this.m[k]!.length}`);
      });
    }
    this.step = state.step;
    this.m = m.map((a) => Float64Array.from(a));
    this.v = v.map((a) => Float64Array.from(a));
  }
}
