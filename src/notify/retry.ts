/**
 * Delivery with retries: capped exponential backoff with full jitter, honouring Retry-After,
 * stopping at the first permanent failure. Counts outcomes for the daemon's metrics.
 */
import { NotifyError, type Notification, type Notifier } from './types.js';
import { redactText } from './redact.js';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  attempts?: number;
  /** First backoff, ms. Default 1000. */
  baseDelayMs?: number;
  /** Largest backoff (and largest Retry-After honoured), ms. Default 30 000. */
  maxDelayMs?: number;
  /** Per-attempt timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /**
   * Ends the delivery early (the daemon stopping): the attempt in flight is aborted and no retry
   * follows; the result is a failure, so the notification log still holds it for next time.
   */
  signal?: AbortSignal;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Counters per notifier, plain numbers for the daemon to export. */
export interface NotifierCounters {
  sent: number;
  failed: number;
  retries: number;
  permanentFailures: number;
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  /** Redacted message of the last error. */
  error: string | null;
  /** Ended by the stop signal: neither delivered nor failed (the next start sends it). */
  stopped?: boolean;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * `p`'s outcome, or, when `signal` aborts first, `onAbort()`'s (a throw rejects). `p` is left to
 * settle on its own, its rejection handled. Without a signal, `p` itself.
 */
export function untilAborted<T, U>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: () => U): Promise<T | U> {
  if (signal === undefined) return p;
  p.catch(() => {});
  return new Promise<T | U>((resolve, reject) => {
    const abort = (): void => {
      try {
        resolve(onAbort());
      } catch (err: unknown) {
        reject(err);
      }
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Sends `n` through `notifier`, retrying transient failures. Never throws. */
export async function deliver(notifier: Notifier, n: Notification, counters: NotifierCounters, opts: RetryOptions = {}): Promise<DeliveryResult> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const base = opts.baseDelayMs ?? 1000;
  const max = opts.maxDelayMs ?? 30_000;
  const timeout = opts.timeoutMs ?? 10_000;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  let lastError = '';
  const stop = opts.signal;
  for (let i = 1; i <= attempts; i++) {
    if (stop?.aborted) return { ok: false, attempts: i - 1, error: null, stopped: true };
    if (i > 1) counters.retries++;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new NotifyError('E_NOTIFY_TIMEOUT', `timed out after ${timeout} ms`, false)), timeout);
    timer.unref();
    const onStop = (): void => ac.abort(new NotifyError('E_NOTIFY_STOPPED', 'stopped', true));
    stop?.addEventListener('abort', onStop, { once: true });
    try {
      await notifier.send(n, ac.signal, stop);
      counters.sent++;
      return { ok: true, attempts: i, error: null };
    } catch (err: unknown) {
      const e = err instanceof NotifyError ? err : ac.signal.aborted && ac.signal.reason instanceof NotifyError ? ac.signal.reason : null;
      lastError = redactText(err instanceof Error ? err.message : String(err));
      if (stop?.aborted) return { ok: false, attempts: i, error: null, stopped: true };
      if (e?.permanent) {
        counters.failed++;
        counters.permanentFailures++;
        return { ok: false, attempts: i, error: lastError };
      }
      if (i < attempts) {
        const backoff = Math.min(max, base * 2 ** (i - 1)) * (0.5 + random() / 2);
        await untilAborted(sleep(e?.retryAfterMs != null ? Math.min(max, Math.max(e.retryAfterMs, backoff)) : backoff), stop, () => undefined);
      }
    } finally {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
    }
  }
  counters.failed++;
  return { ok: false, attempts, error: lastError };
}
