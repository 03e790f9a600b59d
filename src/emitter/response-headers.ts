/** Reading Anthropic's response headers: ids, retry hints and rate-limit buckets. */
import type { RateLimitBucket, RateLimitDimension, RateLimits } from '../event/types.js';

/** What one response's headers say, read in a single pass. */
export interface ResponseFacts {
  requestId: string | null;
  organizationId: string | null;
  workspaceId: string | null;
  /** The server's `retry-after-ms` / `retry-after`, in ms. */
  retryAfterMs: number | null;
  /**
   * The rate-limit buckets reported, or null when none. A bucket whose headers are absent is
   * left out rather than filled with a sentinel: a made-up "remaining" would read as headroom.
   */
  rateLimits: RateLimits | null;
}

const DIMENSIONS: ReadonlyArray<readonly [RateLimitDimension, string, string, string]> = (
  [
    ['requests', 'requests'],
    ['tokens', 'tokens'],
    ['input_tokens', 'input-tokens'],
    ['output_tokens', 'output-tokens'],
  ] as const
).map(([dimension, name]) => [
  dimension,
  `anthropic-ratelimit-${name}-limit`,
  `anthropic-ratelimit-${name}-remaining`,
  `anthropic-ratelimit-${name}-reset`,
]);

/**
 * Reads the headers of interest with one `get()` each. (Iterating an undici `Headers` once
 * looks cheaper, but on a fresh response it first builds and sorts the whole list, which
 * measured slower and far more erratic than these gets.)
 */
export function readResponseFacts(headers: Headers): ResponseFacts {
  let rateLimits: RateLimits | null = null;
  for (const [dimension, limitName, remainingName, resetName] of DIMENSIONS) {
    const limit = headers.get(limitName);
    const remaining = headers.get(remainingName);
    if (limit === null && remaining === null) continue;
    const bucket: RateLimitBucket = {
      limit: toNumber(limit),
      remaining: toNumber(remaining),
      reset: headers.get(resetName),
    };
    (rateLimits ??= {})[dimension] = bucket;
  }
  const retryAfter = headers.get('retry-after');
  const retryAfterMs = headers.get('retry-after-ms');
  return {
    requestId: headers.get('request-id'),
    organizationId: headers.get('anthropic-organization-id'),
    workspaceId: headers.get('anthropic-workspace-id'),
    retryAfterMs: retryAfter !== null || retryAfterMs !== null ? parseRetryAfter(retryAfterMs, retryAfter) : null,
    rateLimits,
  };
}

/** `retry-after-ms` wins; else `retry-after` as seconds or an HTTP date. */
function parseRetryAfter(ms: string | null, after: string | null): number | null {
  if (ms !== null) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  if (after === null) return null;
  const seconds = Number(after);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(after);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
}

function toNumber(v: string | null): number | null {
  if (v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}
