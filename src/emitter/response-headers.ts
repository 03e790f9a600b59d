/** Reading Anthropic's response headers: ids, retry hints and rate-limit buckets. */
import type { RateLimitBucket, RateLimitDimension, RateLimits } from '../event/types.js';

const DIMENSIONS: ReadonlyArray<readonly [RateLimitDimension, string]> = [
  ['requests', 'anthropic-ratelimit-requests-'],
  ['tokens', 'anthropic-ratelimit-tokens-'],
  ['input_tokens', 'anthropic-ratelimit-input-tokens-'],
  ['output_tokens', 'anthropic-ratelimit-output-tokens-'],
];

/**
 * The rate-limit buckets the response reports, or null when it reports none. A bucket whose
 * headers are absent is left out rather than filled with a sentinel: a made-up "remaining"
 * would read as real headroom.
 */
export function readRateLimits(headers: Headers): RateLimits | null {
  let out: RateLimits | null = null;
  for (const [dimension, prefix] of DIMENSIONS) {
    const limit = headers.get(prefix + 'limit');
    const remaining = headers.get(prefix + 'remaining');
    if (limit === null && remaining === null) continue;
    const bucket: RateLimitBucket = {
      limit: toNumber(limit),
      remaining: toNumber(remaining),
      reset: headers.get(prefix + 'reset'),
    };
    (out ??= {})[dimension] = bucket;
  }
  return out;
}

/** The server's retry hint in milliseconds (`retry-after-ms`, else `retry-after` seconds or date). */
export function readRetryAfterMs(headers: Headers): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const after = headers.get('retry-after');
  if (after === null) return null;
  const seconds = Number(after);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(after);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
}

function toNumber(v: string | null): number | null {
  if (v === null) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}
