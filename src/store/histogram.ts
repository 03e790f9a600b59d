/**
 * A log-scale histogram (the DDSketch bucket mapping) for latency and TTFT percentiles.
 *
 * Bucket `i` holds values in (γ^(i-1), γ^i] with γ = (1+α)/(1-α); answering a bucket's
 * midpoint 2γ^i/(γ+1) is within α of every value in it. With α = 1 % a nearest-rank
 * percentile computed from merged histograms is within 1 % of the exact one, which is the
 * tolerance the query interface promises. Zero (and anything below 1 µs) has its own bucket.
 *
 * Serialised sparsely as JSON `{"<index>":count,…}` so per-minute rollups stay small.
 */

/** Relative accuracy of every percentile answer. */
export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Values at or below this (ms) share the zero bucket. */
const MIN_VALUE = 1e-3;
const ZERO_BUCKET = -1_000_000;

export function bucketOf(value: number): number {
  if (!(value > MIN_VALUE)) return ZERO_BUCKET;
  return Math.ceil(Math.log(value) / LOG_GAMMA);
}

export function bucketValue(index: number): number {
  if (index === ZERO_BUCKET) return 0;
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** Sparse bucket → count map. */
export class LogHistogram {
  readonly counts = new Map<number, number>();
  total = 0;

  add(value: number, count = 1): void {
    const b = bucketOf(value);
    this.counts.set(b, (this.counts.get(b) ?? 0) + count);
    this.total += count;
  }

  merge(other: LogHistogram): void {
    for (const [b, c] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + c);
    this.total += other.total;
  }

  /** Merges a serialised histogram (as stored in a rollup row); null is empty. */
  mergeJson(json: string | null): void {
    if (!json) return;
    const obj = JSON.parse(json) as Record<string, number>;
    for (const k in obj) {
      const c = obj[k] ?? 0;
      const b = Number(k);
      this.counts.set(b, (this.counts.get(b) ?? 0) + c);
      this.total += c;
    }
  }

  toJson(): string | null {
    if (this.total === 0) return null;
    const obj: Record<string, number> = {};
    for (const [b, c] of this.counts) obj[b] = c;
    return JSON.stringify(obj);
  }

  /**
   * Nearest-rank percentile: the value at rank ⌈p/100 · n⌉ (rank 1 for p = 0).
   * @param p percentile in [0, 100], e.g. 99.
   * @returns null when empty.
   */
  percentile(p: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * this.total));
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k) ?? 0;
      if (seen >= rank) return bucketValue(k);
    }
    return bucketValue(keys[keys.length - 1] ?? ZERO_BUCKET);
  }
}
