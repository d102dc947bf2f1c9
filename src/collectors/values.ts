// Parsing the free-text values teams (or organizers) type into the Hub's environment.

/** "150 000 ₸", "150,000.50", "150000,5", "1.234.567 KZT" -> a number; null when it is not an amount. */
export function parseAmount(text: string): number | null {
  let t = text.replace(/[\s\u00a0\u202f']/g, "").replace(/(₸|kzt|тг\.?|тенге)/giu, "");
  if (!/^\d[\d.,]*$/.test(t)) return null;
  const commas = (t.match(/,/g) ?? []).length;
  const dots = (t.match(/\./g) ?? []).length;
  if (commas && dots) {
    // The later separator is the decimal one: 1,234.56 or 1.234,56.
    t = t.lastIndexOf(",") > t.lastIndexOf(".") ? t.replace(/\./g, "").replace(",", ".") : t.replace(/,/g, "");
  } else if (commas === 1 && /,\d{1,2}$/.test(t)) {
    t = t.replace(",", ".");
  } else if (commas) {
    t = t.replace(/,/g, "");
  } else if (dots > 1) {
    t = t.replace(/\./g, "");
  }
  const value = Number(t);
  return Number.isFinite(value) ? value : null;
}

/** "7", "7.5", "7,5", "8/10" -> a number; null when it is not a score. */
export function parseScore(text: string): number | null {
  const t = text.trim().replace(/\s*\/\s*10$/, "").replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  const value = Number(t);
  return Number.isFinite(value) ? value : null;
}
