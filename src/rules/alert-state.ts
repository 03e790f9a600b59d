/**
 * The Prometheus alert lifecycle, as pure transitions: inactive → pending (condition true,
 * waiting `for`) → firing → resolved (condition false for longer than `keep_firing_for`).
 * A pending alert whose condition clears is dropped; a resolved one is kept a while so its
 * resolution can be notified, then forgotten.
 */
import { createHash } from 'node:crypto';
import type { AlertRecord } from './state-db.js';

/** Resolved alerts stay this long (as in Prometheus) so notifiers learn of the resolution. */
export const RESOLVED_RETENTION_MS = 15 * 60_000;

/**
 * A pending alert read back after a restart and last observed longer ago than this (or than
 * its `for`, if longer) starts its `for` over: the condition may have cleared while the daemon
 * was down.
 */
export const PENDING_GAP_TOLERANCE_MS = 5 * 60_000;

/** A stable id of an alert: a hash of its sorted labels. */
export function fingerprint(labels: Record<string, string>): string {
  const sorted = Object.keys(labels).sort().map((k) => [k, labels[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

export interface Observation {
  active: boolean;
  value: number | null;
  /** `value` as the rule's kind reads it (see AlertRecord.valueText). */
  valueText: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Timing {
  forMs: number;
  keepFiringForMs: number;
  repeatIntervalMs: number | null;
}

/**
 * The next record of one alert, or null when it is forgotten. `restored`: `prev` was read back
 * from the state after a restart and this is its first evaluation since.
 */
export function step(prev: AlertRecord | undefined, obs: Observation | null, rule: string, fp: string, t: Timing, now: number, restored = false): AlertRecord | null {
  if (obs?.active) {
    let next: AlertRecord;
    if (!prev || prev.state === 'resolved') {
      next = {
        fingerprint: fp, rule, labels: obs.labels, annotations: obs.annotations, state: 'pending', value: obs.value,
        valueText: obs.valueText, activeAt: now, firedAt: null, lastActiveAt: now, resolvedAt: null, repeatIntervalMs: t.repeatIntervalMs,
      };
    } else {
      next = { ...prev, labels: obs.labels, annotations: obs.annotations, value: obs.value, valueText: obs.valueText, lastActiveAt: now, repeatIntervalMs: t.repeatIntervalMs };
      // Not observed while the daemon was down: the condition may have cleared meanwhile, so
      // `for` starts over rather than counting the downtime as held. (Only across a restart:
      // evaluations may come further apart than `for` by their schedule.)
      if (restored && prev.state === 'pending' && now - prev.lastActiveAt > Math.max(t.forMs, PENDING_GAP_TOLERANCE_MS)) next.activeAt = now;
    }
    if (next.state === 'pending' && now - next.activeAt >= t.forMs) {
      next.state = 'firing';
      next.firedAt = now;
    }
    return next;
  }
  if (!prev) return null;
  switch (prev.state) {
    case 'pending':
      return null;
    case 'firing':
      if (t.keepFiringForMs > 0 && now - prev.lastActiveAt < t.keepFiringForMs) {
        return obs ? { ...prev, value: obs.value, valueText: obs.valueText } : prev;
      }
      return { ...prev, state: 'resolved', resolvedAt: now, ...(obs ? { value: obs.value, valueText: obs.valueText } : {}) };
    case 'resolved':
      return now - (prev.resolvedAt ?? now) > RESOLVED_RETENTION_MS ? null : prev;
    default: {
      const never: never = prev.state;
      throw new Error(`unknown alert state ${String(never)}`);
    }
  }
}
