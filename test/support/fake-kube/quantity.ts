// The Kubernetes resource quantity grammar (k8s.io/apimachinery/pkg/api/resource):
//   quantity = signedNumber suffix ; suffix = binarySI | decimalSI | decimalExponent
// Written independently of src/runtime so the fake does not share the runtime's bugs.

const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|n|u|m|k|M|G|T|P|E)?$/;

const MULTIPLIER: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The value in base units (cores, bytes), or undefined when the text is not a quantity. JSON numbers are accepted too. */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = QUANTITY.exec(value);
  if (!match) return undefined;
  const [, number, suffix] = match;
  const base = Number(number);
  if (!suffix) return base;
  if (suffix[0] === "e" || suffix[0] === "E") {
    if (suffix.length > 1) return base * 10 ** Number(suffix.slice(1));
  }
  return base * MULTIPLIER[suffix];
}

export const QUANTITY_SYNTAX = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
