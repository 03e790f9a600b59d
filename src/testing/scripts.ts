/**
 * Ready-made scripts for the cases tests need most. Each returns a plain {@link FakeScript},
 * so it can be spread and adjusted: `{ ...overloaded(), times: 2 }`.
 */
import type { FakeScript, ScriptError } from './script-types.js';

/** An error status with the API's body; type and message default from the status. */
export function errorScript(status: number, error?: ScriptError, extra: FakeScript = {}): FakeScript {
  return { ...extra, status, ...(error ? { error } : {}) };
}

/** 529 `overloaded_error`, which the SDK retries. */
export function overloaded(extra: FakeScript = {}): FakeScript {
  return { ...extra, status: 529 };
}

/**
 * A plain rate-limit 429 (`rate_limit_error`, requests remaining 0). With `retryAfterMs`
 * the SDK waits that long before retrying; `retryAfter: null` sends no `retry-after`.
 */
export function rateLimited(opts: { retryAfterMs?: number; retryAfter?: number | null } = {}): FakeScript {
  return { status: 429, ...opts };
}

/**
 * The tier spend-cap 429: `error.details.error_code: "enforced_spend_limit_reached"` and no
 * `retry-after` (the SDK raises `EnforcedSpendLimitReachedError`).
 */
export function spendCapReached(): FakeScript {
  return { status: 429, error: { code: 'enforced_spend_limit_reached' } };
}

/** A stream that sends `afterEvents` events, then an `event: error` frame (default overloaded_error). */
export function streamErrorAfter(afterEvents: number, error?: ScriptError): FakeScript {
  return { stream: { errorAfterEvents: afterEvents, ...(error ? { error } : {}) } };
}

/** A stream whose socket is destroyed after `afterEvents` events. */
export function cutStreamAfter(afterEvents: number): FakeScript {
  return { stream: { cutAfterEvents: afterEvents } };
}

/** A stream of `textDeltas` text deltas, `eventDelayMs` apart. */
export function pacedStream(textDeltas: number, eventDelayMs: number): FakeScript {
  return { stream: { textDeltas, eventDelayMs } };
}
