// Kubernetes resource quantities: "100m", "0.5", "2", "64Mi", "1G", "1e3".
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|(n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** No quantity a job can use is longer (a request's resource fields are bounded by it). */
export const MAX_QUANTITY_LENGTH = 64;
/** Kubernetes keeps a quantity in a signed 64-bit integer: anything from 2^63 up is no size at all. */
export const MAX_QUANTITY = 2 ** 63;

/** The quantity's value in base units (cores, bytes), or null when it does not parse or is not a finite size below 2^63. */
export function parseQuantity(text: string): number | null {
  if (text.length > MAX_QUANTITY_LENGTH) return null;
  const match = QUANTITY.exec(text);
  if (!match) return null;
  const [, number, binary, decimal, exponent] = match;
  const base = Number(number);
  const value = binary ? base * BINARY[binary] : decimal ? base * DECIMAL[decimal] : exponent ? base * 10 ** Number(exponent) : base;
  return Number.isFinite(value) && Math.abs(value) < MAX_QUANTITY ? value : null;
}
