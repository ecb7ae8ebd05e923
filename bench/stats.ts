/** Order statistics for benchmark samples. Pure, so they are unit-tested. */

/**
 * The q-quantile (0..1) by linear interpolation between closest ranks, the
 * usual definition (numpy's default): with few samples a p99 is then the
 * largest sample's neighbourhood rather than an arbitrary pick.
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0..1, got ${q}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const n = samples.length;
  const mean = n ? samples.reduce((a, b) => a + b, 0) / n : Number.NaN;
  return {
    n,
    min: n ? Math.min(...samples) : Number.NaN,
    p50: quantile(samples, 0.5),
    p90: quantile(samples, 0.9),
    p99: quantile(samples, 0.99),
    max: n ? Math.max(...samples) : Number.NaN,
    mean,
  };
}

/** value / baseline, or NaN when either is missing or the baseline is zero. */
export function ratio(value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return value / baseline;
}

/**
 * Which side runs first in pair i of an interleaved A/B comparison: A B, B A,
 * A B, … (the ABBA pattern), so neither side always runs first and a slow drift
 * in machine load or a cache warmed by the other side favours neither.
 */
export function firstOfPair(i: number): "a" | "b" {
  return i % 2 === 0 ? "a" : "b";
}

/** The order of round i: each item goes first in turn, and the order reverses every other cycle (ABC, BCA, CAB, CBA, ...). */
export function rotation<T>(items: readonly T[], i: number): T[] {
  const k = items.length;
  const turned = items.map((_, j) => items[(j + i) % k]);
  return Math.floor(i / k) % 2 === 0 ? turned : turned.reverse();
}

/** Splits n items into k blocks whose sizes differ by at most one. */
export function blockSizes(n: number, k: number): number[] {
  if (k <= 0) throw new RangeError("need at least one block");
  const base = Math.floor(n / k);
  return Array.from({ length: k }, (_, i) => base + (i < n % k ? 1 : 0));
}
