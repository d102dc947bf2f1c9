// How one k6 test is split over N runners (k6 execution segments). Runner i runs the part
// `i/N:(i+1)/N`; every runner gets the same sequence `0,1/N,...,1`, so k6 spreads VUs and
// iterations over the parts without overlap and without losing any (see k6.md).

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** i/n in lowest terms, as k6 prints it: "0", "1", "1/2", "2/3". */
export function fraction(i: number, n: number): string {
  if (!Number.isInteger(i) || !Number.isInteger(n) || n < 1 || i < 0 || i > n) throw new Error(`not a fraction of a run: ${i}/${n}`);
  if (i === 0) return "0";
  if (i === n) return "1";
  const d = gcd(i, n);
  return `${i / d}/${n / d}`;
}

/** The `--execution-segment` of runner `index` (0-based) out of `parallelism`. */
export function executionSegment(index: number, parallelism: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= parallelism) throw new Error(`runner index ${index} is outside 0..${parallelism - 1}`);
  return `${fraction(index, parallelism)}:${fraction(index + 1, parallelism)}`;
}

/** Every runner's segment, by index. */
export function executionSegments(parallelism: number): string[] {
  return Array.from({ length: parallelism }, (_, i) => executionSegment(i, parallelism));
}

/** The `--execution-segment-sequence` every runner of a split run shares. */
export function executionSegmentSequence(parallelism: number): string {
  return Array.from({ length: parallelism + 1 }, (_, i) => fraction(i, parallelism)).join(",");
}

/** The segment's [from, to) as numbers, e.g. "1/3:2/3" → [0.333…, 0.666…]. */
export function segmentBounds(segment: string): [number, number] {
  const parse = (text: string): number => {
    const [num, den = "1"] = text.split("/");
    const value = Number(num) / Number(den);
    if (!Number.isFinite(value) || value < 0 || value > 1) throw new Error(`bad execution segment "${segment}"`);
    return value;
  };
  const [from, to] = segment.split(":");
  if (to === undefined) throw new Error(`bad execution segment "${segment}"`);
  return [parse(from), parse(to)];
}
