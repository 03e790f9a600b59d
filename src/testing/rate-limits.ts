/**
 * The `anthropic-ratelimit-*` headers, from a fixed-window budget per dimension: each
 * window starts with the first call that consumes from it and lasts `windowMs`; `remaining`
 * goes down as calls consume and `reset` (RFC 3339) is the end of the window, when the
 * budget is full again. Deterministic, so tests can assert exact numbers.
 *
 * What counts, as the API documents it: requests; input = `input_tokens +
 * cache_creation_input_tokens` (cache reads do not count); output = output tokens;
 * tokens = input + output.
 */

/** Per-minute limits the fake advertises. */
export interface RateLimitOptions {
  /** `anthropic-ratelimit-requests-limit`. Default 4000. */
  requests?: number;
  /** `anthropic-ratelimit-input-tokens-limit`. Default 2,000,000. */
  inputTokens?: number;
  /** `anthropic-ratelimit-output-tokens-limit`. Default 400,000. */
  outputTokens?: number;
  /** `anthropic-ratelimit-tokens-limit`. Default: input + output limits. */
  tokens?: number;
  /** Window length in ms. Default 60,000 (limits are per minute). */
  windowMs?: number;
}

type Dimension = 'requests' | 'tokens' | 'input-tokens' | 'output-tokens';
const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

interface Bucket {
  limit: number;
  used: number;
  /** Epoch ms when the window ends, or null before the first consumption. */
  resetAt: number | null;
}

/** What one call consumes. */
export interface Consumption {
  requests: number;
  inputTokens: number;
  outputTokens: number;
}

export class RateLimiter {
  readonly #windowMs: number;
  readonly #limits: Record<Dimension, number>;
  readonly #now: () => number;
  #buckets: Record<Dimension, Bucket>;

  /** @param now the clock, replaceable in tests. */
  constructor(options: RateLimitOptions = {}, now: () => number = Date.now) {
    this.#now = now;
    const input = options.inputTokens ?? 2_000_000;
    const output = options.outputTokens ?? 400_000;
    this.#limits = {
      requests: options.requests ?? 4000,
      'input-tokens': input,
      'output-tokens': output,
      tokens: options.tokens ?? input + output,
    };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value <= 0) throw new RangeError(`rateLimits: ${name} must be a positive integer, got ${value}`);
    }
    this.#windowMs = options.windowMs ?? 60_000;
    if (!(this.#windowMs > 0)) throw new RangeError(`rateLimits.windowMs must be positive, got ${this.#windowMs}`);
    this.#buckets = this.#fresh();
  }

  #fresh(): Record<Dimension, Bucket> {
    const bucket = (d: Dimension): Bucket => ({ limit: this.#limits[d], used: 0, resetAt: null });
    return { requests: bucket('requests'), tokens: bucket('tokens'), 'input-tokens': bucket('input-tokens'), 'output-tokens': bucket('output-tokens') };
  }

  /** Forgets all consumption. */
  reset(): void {
    this.#buckets = this.#fresh();
  }

  #roll(b: Bucket, now: number): void {
    if (b.resetAt !== null && now >= b.resetAt) {
      b.used = 0;
      b.resetAt = null;
    }
  }

  consume(c: Consumption): void {
    const now = this.#now();
    const amounts: Record<Dimension, number> = {
      requests: c.requests,
      'input-tokens': c.inputTokens,
      'output-tokens': c.outputTokens,
      tokens: c.inputTokens + c.outputTokens,
    };
    for (const d of DIMENSIONS) {
      const b = this.#buckets[d];
      this.#roll(b, now);
      if (amounts[d] <= 0) continue;
      b.used += amounts[d];
      b.resetAt ??= now + this.#windowMs;
    }
  }

  /**
   * The twelve headers as of now. `exhausted` reports the requests dimension as used up, as
   * on a rate-limit 429.
   */
  headers(exhausted = false): Record<string, string> {
    const now = this.#now();
    const out: Record<string, string> = {};
    for (const d of DIMENSIONS) {
      const b = this.#buckets[d];
      this.#roll(b, now);
      const remaining = exhausted && d === 'requests' ? 0 : Math.max(0, b.limit - b.used);
      // A bucket nobody used is full now: its reset is the present moment.
      const reset = new Date(b.resetAt ?? now).toISOString().replace(/\.\d{3}Z$/, 'Z');
      out[`anthropic-ratelimit-${d}-limit`] = String(b.limit);
      out[`anthropic-ratelimit-${d}-remaining`] = String(remaining);
      out[`anthropic-ratelimit-${d}-reset`] = reset;
    }
    return out;
  }
}
