/**
 * Confidence intervals of a mean over a few seeds: Student's t interval
 * (mean +- t_{(1+c)/2, n-1} * s / sqrt(n)), the usual choice when the
 * spread is estimated from the same handful of runs.
 */
import { InvalidDrawingOptionError } from './errors.js';

export interface MeanInterval {
  /** Values the interval is over. */
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 when n = 1. */
  sd: number;
  /** Half-width of the interval; undefined when n < 2 (no spread to estimate). */
  halfWidth?: number;
  lo?: number;
  hi?: number;
  confidence: number;
}

/** ln Gamma(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; about 15 significant digits). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz's method). */
function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(x, a, b)) / a : 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (0 < p < 1), by bisection on the CDF. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new InvalidDrawingOptionError('p', p, 'a probability strictly between 0 and 1');
  if (!(df > 0)) throw new InvalidDrawingOptionError('df', df, 'a positive number of degrees of freedom');
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Mean and t interval of `values` (at least one finite number). @param confidence @default 0.95 */
export function meanInterval(values: readonly number[], confidence = 0.95): MeanInterval {
  if (values.length === 0) throw new InvalidDrawingOptionError('values', '[]', 'at least one value');
  values.forEach((v, i) => { if (!Number.isFinite(v)) throw new InvalidDrawingOptionError(`values[${i}]`, v, 'a finite number'); });
  if (!(confidence > 0 && confidence < 1)) throw new InvalidDrawingOptionError('confidence', confidence, 'a number strictly between 0 and 1');
  const n = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / n;
  if (n < 2) return { n, mean, sd: 0, confidence };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const halfWidth = studentTQuantile((1 + confidence) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth, confidence };
}
