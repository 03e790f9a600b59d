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

const RATE_PREFIX = 'anthropic-ratelimit-';
const DIMENSION_BY_NAME: Readonly<Record<string, RateLimitDimension>> = {
  requests: 'requests',
  tokens: 'tokens',
  'input-tokens': 'input_tokens',
  'output-tokens': 'output_tokens',
};

/**
 * One iteration over the headers instead of a `get()` per name: undici's `Headers.get` costs
 * about 0.2 µs a call, and a response carries some twenty names of interest.
 */
export function readResponseFacts(headers: Headers): ResponseFacts {
  const facts: ResponseFacts = { requestId: null, organizationId: null, workspaceId: null, retryAfterMs: null, rateLimits: null };
  let retryAfter: string | null = null;
  let retryAfterMs: string | null = null;
  for (const [name, value] of headers) {
    if (name.startsWith(RATE_PREFIX)) {
      const rest = name.slice(RATE_PREFIX.length);
      const dash = rest.lastIndexOf('-');
      const dimension = DIMENSION_BY_NAME[rest.slice(0, dash)];
      if (dimension === undefined) continue;
      const field = rest.slice(dash + 1);
      if (field !== 'limit' && field !== 'remaining' && field !== 'reset') continue;
      const limits = (facts.rateLimits ??= {});
      const bucket: RateLimitBucket = (limits[dimension] ??= { limit: null, remaining: null, reset: null });
      if (field === 'reset') bucket.reset = value;
      else bucket[field] = toNumber(value);
      continue;
    }
    switch (name) {
      case 'request-id':
        facts.requestId = value;
        break;
      case 'anthropic-organization-id':
        facts.organizationId = value;
        break;
      case 'anthropic-workspace-id':
        facts.workspaceId = value;
        break;
      case 'retry-after':
        retryAfter = value;
        break;
      case 'retry-after-ms':
        retryAfterMs = value;
        break;
    }
  }
  if (retryAfter !== null || retryAfterMs !== null) facts.retryAfterMs = parseRetryAfter(retryAfterMs, retryAfter);
  return facts;
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

function toNumber(v: string): number | null {
  const n = Number(v);
  return v !== '' && Number.isFinite(n) ? n : null;
}
