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

const DIMENSIONS: readonly (readonly [RateLimitDimension, string])[] = [
  ['requests', 'requests'],
  ['tokens', 'tokens'],
  ['input_tokens', 'input-tokens'],
  ['output_tokens', 'output-tokens'],
];
const FIELDS = ['limit', 'remaining', 'reset'] as const;

const RATE_PREFIX = 'anthropic-ratelimit-';
/** `anthropic-ratelimit-<dimension>-<field>` by index of its dimension × 3 + index of its field. */
const RATE_HEADERS: readonly string[] = DIMENSIONS.flatMap(([, name]) => FIELDS.map((field) => `${RATE_PREFIX}${name}-${field}`));
const SHORTEST_RATE_HEADER = Math.min(...RATE_HEADERS.map((h) => h.length));

/** By a character code, the index it stands for in `names` at `at` (from the end when negative); -1 for none. Each must tell its name apart. */
function indexByChar(names: readonly string[], at: number): Int8Array {
  const byChar = new Int8Array(128).fill(-1);
  names.forEach((name, i) => {
    const code = name.charCodeAt(at < 0 ? name.length + at : at);
    if (byChar[code] !== -1) throw new Error(`${name} shares its character at ${at} with ${names[byChar[code]!]}`);
    byChar[code] = i;
  });
  return byChar;
}
/** A dimension by the first character of its name; a field by its last but one. */
const DIMENSION_BY_CHAR = indexByChar(DIMENSIONS.map(([, name]) => name), 0);
const FIELD_BY_CHAR = indexByChar(FIELDS, -2);

/**
 * The index in {@link RATE_HEADERS} of a header name, or -1: from two of its characters, the
 * dimension's first and the field's last but one, then checked whole. A `Map` look-up hashed
 * each name, a new string on every response, and cost about twice as much.
 */
export function rateHeaderIndex(name: string): number {
  if (name.length < SHORTEST_RATE_HEADER) return -1;
  const d = DIMENSION_BY_CHAR[name.charCodeAt(RATE_PREFIX.length)] ?? -1;
  const f = FIELD_BY_CHAR[name.charCodeAt(name.length - 2)] ?? -1;
  if (d === -1 || f === -1) return -1;
  const i = d * FIELDS.length + f;
  return name === RATE_HEADERS[i] ? i : -1;
}

const A = 0x61;
const R = 0x72;

/**
 * Reads the headers of interest in one pass over them. The SDK lists every header of each
 * response it receives (for its log line), which leaves the sorted list cached on the
 * `Headers`; iterating it afterwards costs about a quarter of what one `get()` per header of
 * interest does (each `get()` validates the name and searches again). So the emitter reads
 * a successful response's headers when the call ends, after the SDK did.
 */
export function readResponseFacts(headers: Headers): ResponseFacts {
  let requestId: string | null = null;
  let organizationId: string | null = null;
  let workspaceId: string | null = null;
  let retryAfter: string | null = null;
  let retryAfterMs: string | null = null;
  let rate: (string | undefined)[] | null = null;
  for (const [name, value] of headers) {
    // Every name of interest begins with `a` (anthropic-…) or `r` (request-id, retry-after…):
    // the others (content-type, date…) skip the comparisons.
    const first = name.charCodeAt(0);
    if (first !== A && first !== R) continue;
    switch (name) {
      case 'request-id':
        requestId = value;
        break;
      case 'anthropic-organization-id':
        organizationId = value;
        break;
      case 'anthropic-workspace-id':
        workspaceId = value;
        break;
      case 'retry-after':
        retryAfter = value;
        break;
      case 'retry-after-ms':
        retryAfterMs = value;
        break;
      default: {
        const i = rateHeaderIndex(name);
        if (i !== -1) (rate ??= noRateHeaders())[i] = value;
      }
    }
  }
  let rateLimits: RateLimits | null = null;
  if (rate !== null) {
    // Each dimension stored by name, in one order: a key from an array (`limits[name] = …`)
    // takes V8's generic keyed store, a few hundred instructions each.
    const requests = bucketOf(rate, 0);
    const tokens = bucketOf(rate, 1);
    const inputTokens = bucketOf(rate, 2);
    const outputTokens = bucketOf(rate, 3);
    if (requests !== null || tokens !== null || inputTokens !== null || outputTokens !== null) {
      rateLimits = {};
      if (requests !== null) rateLimits.requests = requests;
      if (tokens !== null) rateLimits.tokens = tokens;
      if (inputTokens !== null) rateLimits.input_tokens = inputTokens;
      if (outputTokens !== null) rateLimits.output_tokens = outputTokens;
    }
  }
  return {
    requestId,
    organizationId,
    workspaceId,
    retryAfterMs: retryAfter !== null || retryAfterMs !== null ? parseRetryAfter(retryAfterMs, retryAfter) : null,
    rateLimits,
  };
}

/**
 * A slot for each rate-limit header ({@link RATE_HEADERS}), all there from the start: stores
 * into an empty array at scattered indexes grow it through V8's generic keyed store.
 */
function noRateHeaders(): (string | undefined)[] {
  return [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];
}

/** The bucket of dimension `d` (its index in {@link DIMENSIONS}), or null when its headers are absent. */
function bucketOf(rate: readonly (string | undefined)[], d: number): RateLimitBucket | null {
  const limit = rate[d * 3];
  const remaining = rate[d * 3 + 1];
  // A bucket whose headers are absent is left out rather than filled with a sentinel.
  if (limit === undefined && remaining === undefined) return null;
  return { limit: toNumber(limit ?? null), remaining: toNumber(remaining ?? null), reset: rate[d * 3 + 2] ?? null };
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
