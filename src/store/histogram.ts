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

import type Database from 'better-sqlite3';

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
    this.addBucket(bucketOf(value), count);
  }

  /** Adds `count` values of bucket `b` (from {@link bucketOf}). */
  addBucket(b: number, count: number): void {
    this.counts.set(b, (this.counts.get(b) ?? 0) + count);
    this.total += count;
  }

  merge(other: LogHistogram): void {
    for (const [b, c] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + c);
    this.total += other.total;
  }

  /** Merges a serialised histogram (as stored in a rollup row); null is empty. */
  mergeJson(json: string | null): void {
    if (json) forEachJsonPair(json, (b, c) => this.addBucket(b, c));
  }

  /** Merges a binary histogram (see {@link histToBlob}); null is empty. */
  mergeBlob(blob: Uint8Array | null): void {
    if (blob) forEachBlobPair(blob, (b, c) => this.addBucket(b, c));
  }

  /** `{"<bucket>":count,…}` of the non-empty buckets (written directly: one per rollup group and batch); null when empty. */
  toJson(): string | null {
    if (this.total === 0) return null;
    return pairsToJson(this.counts);
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

/**
 * Binary form of a histogram, for the coarse rollup levels: varints, the zero bucket's count,
 * then the first non-empty bucket (zigzag), then the count of every bucket from it to the last
 * non-empty one (gaps as 0). Latency buckets are contiguous, so a bucket costs about a byte
 * where the JSON form costs ten; and merging it is a loop over bytes, not a parse (the coarse
 * levels are read thousands of rows at a time, and large rows spill to overflow pages).
 */
export function histToBlob(counts: Map<number, number>): Buffer | null {
  let zero = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const [b, c] of counts) {
    if (c === 0) continue;
    if (b === ZERO_BUCKET) zero += c;
    else {
      if (b < lo) lo = b;
      if (b > hi) hi = b;
    }
  }
  if (zero === 0 && lo === Infinity) return null;
  const out: number[] = [];
  const varint = (v: number): void => {
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  };
  varint(zero);
  if (lo !== Infinity) {
    varint(lo < 0 ? -2 * lo - 1 : 2 * lo);
    for (let b = lo; b <= hi; b++) varint(counts.get(b) ?? 0);
  }
  return Buffer.from(out);
}

/** Calls `onPair` with each non-empty (bucket, count) of a blob from {@link histToBlob}. */
export function forEachBlobPair(blob: Uint8Array, onPair: (bucket: number, count: number) => void): void {
  const n = blob.byteLength;
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = blob[i++]!;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80 || i >= n) return v;
      mul *= 0x80;
    }
  };
  if (n === 0) return;
  const zero = varint();
  if (zero !== 0) onPair(ZERO_BUCKET, zero);
  if (i >= n) return;
  const z = varint();
  let b = z % 2 === 1 ? -(z + 1) / 2 : z / 2;
  while (i < n) {
    const c = varint();
    if (c !== 0) onPair(b, c);
    b++;
  }
}

/** `{"<bucket>":count,…}` of the non-empty buckets, as the per-minute rollups store them (null when none). */
function pairsToJson(counts: Map<number, number>): string | null {
  let out = '';
  for (const [b, c] of counts) {
    if (c === 0) continue;
    out += `${out === '' ? '{' : ','}"${b}":${c}`;
  }
  return out === '' ? null : `${out}}`;
}

const scanned: number[] = [];

/**
 * Calls `onPair` with each bucket and count of a JSON histogram (`{"<bucket>":count,…}`):
 * scanned when it is in the form the rollups write, parsed as JSON otherwise.
 */
export function forEachJsonPair(json: string, onPair: (bucket: number, count: number) => void): void {
  const p = scanned;
  p.length = 0;
  if (scanHistogram(json, p)) {
    for (let i = 0; i < p.length; i += 2) onPair(p[i]!, p[i + 1]!);
    return;
  }
  const obj = JSON.parse(json) as Record<string, number>;
  for (const k in obj) onPair(Number(k), obj[k] ?? 0);
}

/**
 * Scans `{"<int>":<int>,…}` (what rollups store) into `[bucket, count, …]`; false on anything
 * else (and `out` may then hold part of it).
 */
function scanHistogram(s: string, out: number[]): boolean {
  const n = s.length;
  if (s.charCodeAt(0) !== 123 /* { */) return false;
  let i = 1;
  if (s.charCodeAt(i) === 125 /* } */) return i === n - 1;
  for (;;) {
    if (s.charCodeAt(i) !== 34 /* " */) return false;
    i++;
    let neg = false;
    if (s.charCodeAt(i) === 45 /* - */) {
      neg = true;
      i++;
    }
    let b = 0;
    let digits = 0;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) {
      b = b * 10 + (c - 48);
      digits++;
    }
    if (digits === 0 || s.charCodeAt(i) !== 34 || s.charCodeAt(i + 1) !== 58 /* : */) return false;
    i += 2;
    let c = 0;
    digits = 0;
    for (let ch = s.charCodeAt(i); ch >= 48 && ch <= 57; ch = s.charCodeAt(++i)) {
      c = c * 10 + (ch - 48);
      digits++;
    }
    if (digits === 0) return false;
    out.push(neg ? -b : b, c);
    const sep = s.charCodeAt(i);
    if (sep === 125) return i === n - 1;
    if (sep !== 44 /* , */) return false;
    i++;
  }
}

/**
 * Registers on `db` the SQL aggregate `name`, which builds one {@link LogHistogram} per group:
 * of the values it is given (`from: 'values'`), or merging stored JSON histograms (`'json'`).
 * Its result is JSON text or the binary form ({@link histToBlob}).
 */
export function registerHistogramAggregate(db: Database.Database, name: string, from: 'values' | 'json', to: 'json' | 'blob'): void {
  db.aggregate(name, {
    start: () => new LogHistogram(),
    step: (h: LogHistogram, v: unknown) => {
      if (from === 'values') {
        if (typeof v === 'number') h.add(v);
      } else if (typeof v === 'string') {
        h.mergeJson(v);
      }
      return h;
    },
    result: (h: LogHistogram) => (to === 'blob' ? histToBlob(h.counts) : h.toJson()),
  });
}
