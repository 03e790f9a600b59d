/**
 * What the alert engine hands a notifier: one notification per group of alerts, in the shape
 * Alertmanager's webhook uses, so receivers written for Alertmanager read it unchanged.
 */

export interface AlertPayload {
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** When the alert started firing, epoch ms. */
  startsAt: number;
  /** When it resolved, epoch ms; null while firing. */
  endsAt: number | null;
  value: number | null;
  /** The value as the rule's kind reads it (`36.36%`, `12.35s`), for texts people read. */
  valueText?: string;
}

export interface Notification {
  /** The notifier's name. */
  receiver: string;
  /** Stable key of the group (its label values). */
  groupKey: string;
  groupLabels: Record<string, string>;
  /** `firing` when any alert of the group fires, else `resolved`. */
  status: 'firing' | 'resolved';
  alerts: AlertPayload[];
  /** Labels and annotations every alert of the group shares. */
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
}

/** Routing of a notifier: which alerts it gets and how they are grouped and repeated. */
export interface Routing {
  /** Only alerts whose labels equal these (e.g. `{severity: critical}`). Default: all. */
  match: Record<string, string>;
  /** Labels alerts are grouped by into one notification. Default `['alertname']`. */
  groupBy: string[];
  /** Resend a still-firing group after this long, ms. Default 4h. */
  repeatIntervalMs: number;
  /** Send a notification when alerts resolve. Default true. */
  sendResolved: boolean;
}

/** A notification channel. `send` throws {@link NotifyError} (or anything: treated as transient). */
export interface Notifier {
  readonly name: string;
  readonly kind: 'email' | 'webhook' | 'slack' | 'alertmanager' | (string & {});
  readonly routing: Routing;
  /**
   * Delivers one notification. `signal` aborts the attempt (its timeout, or the daemon
   * stopping); `stop` aborts only when the daemon stops, for a notifier that cannot abort a
   * send and must not give one up on a timeout alone (email).
   */
  send(n: Notification, signal: AbortSignal, stop?: AbortSignal): Promise<void>;
  /** Releases connections (SMTP pool). */
  close?(): Promise<void> | void;
}

export type NotifyErrorCode = 'E_NOTIFY_HTTP' | 'E_NOTIFY_NETWORK' | 'E_NOTIFY_SMTP' | 'E_NOTIFY_TIMEOUT' | 'E_NOTIFY_CONFIG' | 'E_NOTIFY_STOPPED';

/** A failed delivery, classified once: permanent failures are not retried. */
export class NotifyError extends Error {
  constructor(
    readonly code: NotifyErrorCode,
    message: string,
    readonly permanent: boolean,
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NotifyError';
  }
}

/**
 * Classifies an HTTP status: 2xx ok (null), 4xx other than 408/429 permanent, the rest
 * (429, 408, 5xx) transient.
 */
export function classifyHttpStatus(status: number): 'ok' | 'permanent' | 'transient' {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 400 && status < 500 && status !== 429 && status !== 408) return 'permanent';
  return 'transient';
}

/** Parses `Retry-After` (seconds or an HTTP date) into ms. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export const DEFAULT_ROUTING: Routing = { match: {}, groupBy: ['alertname'], repeatIntervalMs: 4 * 3_600_000, sendResolved: true };
