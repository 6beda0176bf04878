/**
 * Kubernetes quantities as numbers (apimachinery resource.Quantity): a
 * decimal with a binary (Ki..Ei), decimal SI (m, k..E) or exponent suffix.
 * Only used to compare a request with a profile's maximum.
 */
const QUANTITY = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const FACTORS: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The quantity's value (bytes, cores), or undefined when it is not a quantity. */
export function quantityValue(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const factor = FACTORS[suffix] ?? 10 ** Number(suffix.slice(1));
  return Number(m[1]) * factor;
}
