// Kubernetes resource quantities: "100m", "0.5", "2", "64Mi", "1G", "1e3".
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|(n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** The quantity's value in base units (cores, bytes), or null when it does not parse. */
export function parseQuantity(text: string): number | null {
  const match = QUANTITY.exec(text.trim());
  if (!match || text.trim() !== text) return null;
  const [, number, binary, decimal, exponent] = match;
  const base = Number(number);
  if (binary) return base * BINARY[binary];
  if (decimal) return base * DECIMAL[decimal];
  if (exponent) return base * 10 ** Number(exponent);
  return base;
}
