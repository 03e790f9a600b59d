/**
 * From alert state to notifications, in Alertmanager's manner: per notifier, alerts matching
 * its routing are grouped by its `groupBy` labels; a group is sent when an alert starts
 * firing in it, when alerts of it resolve (if `sendResolved`), and again every repeat interval
 * while it fires. Silenced alerts are held back from the notifiers that claudescope delivers
 * to the end (email, webhook, Slack), not from an Alertmanager: see {@link mutedBy}. What was
 * sent is logged durably, and the log is updated only after a delivery succeeded, so a failed
 * one is retried at the next tick and a restart does not send it twice. Each notifier delivers on its own: one still busy from an
 * earlier dispatch (a receiver that is down, retried with backoff) is skipped by the next ones,
 * which go on for the others; its log catches it up once it is free.
 */
import type { AlertPayload, Notification, Notifier } from '../notify/types.js';
import { deliver, type NotifierCounters, type RetryOptions } from '../notify/retry.js';
import { silencedBy } from './silences.js';
import type { AlertRecord, LogEntry, Silence, StateDb } from './state-db.js';

export interface DispatchReport {
  sent: number;
  failed: number;
  /** Redacted errors, one per failed notification. */
  errors: string[];
}

export class Dispatcher {
  readonly counters = new Map<string, NotifierCounters>();
  /** Notifiers delivering now. */
  readonly #busy = new Set<string>();
  /** Aborted by {@link stop}: deliveries in flight end without their retries. */
  readonly #stopping = new AbortController();

  /**
   * `valueText` gives an alert's value as its rule's kind reads it, for the texts notifiers
   * write for people (an email's `value:` line); without it, they print a plain number.
   */
  constructor(
    private readonly notifiers: Notifier[], private readonly state: StateDb, private readonly retry: RetryOptions = {},
    private readonly valueText?: (a: AlertRecord) => string | undefined,
  ) {
    for (const n of notifiers) this.counters.set(n.name, { sent: 0, failed: 0, retries: 0, permanentFailures: 0 });
  }

  /**
   * Ends the deliveries in flight at once, without their retries (a receiver that is down would
   * otherwise hold a stopping daemon for tens of seconds, past a service manager's patience).
   * What they did not deliver stays out of the log, so the next start sends it.
   */
  stop(): void {
    this.#stopping.abort();
  }

  async dispatch(alerts: AlertRecord[], silences: Silence[], now: number): Promise<DispatchReport> {
    const report: DispatchReport = { sent: 0, failed: 0, errors: [] };
    const logs = new Map<string, LogEntry>();
    for (const e of this.state.loadLog()) logs.set(`${e.receiver}\u0000${e.groupKey}`, e);
    await Promise.all(this.notifiers.map(async (notifier) => {
      // Still delivering an earlier dispatch's notifications: its log catches it up later.
      if (this.#busy.has(notifier.name)) return;
      this.#busy.add(notifier.name);
      try {
        await this.dispatchTo(notifier, alerts, silences, now, logs, report);
      } finally {
        this.#busy.delete(notifier.name);
      }
    }));
    return report;
  }

  private async dispatchTo(notifier: Notifier, alerts: AlertRecord[], silences: Silence[], now: number, logs: Map<string, LogEntry>, report: DispatchReport): Promise<void> {
    const counters = this.counters.get(notifier.name) ?? { sent: 0, failed: 0, retries: 0, permanentFailures: 0 };
    const { match, groupBy, repeatIntervalMs, sendResolved } = notifier.routing;
    const mutes = mutedBy(notifier, silences);
    const byFp = new Map(alerts.map((a) => [a.fingerprint, a]));
    const groups = new Map<string, { labels: Record<string, string>; firing: AlertRecord[]; silenced: Set<string> }>();
    for (const a of alerts) {
      if (a.state === 'pending') continue;
      if (!Object.entries(match).every(([k, v]) => a.labels[k] === v)) continue;
      const labels: Record<string, string> = {};
      for (const k of groupBy) labels[k] = a.labels[k] ?? '';
      const key = JSON.stringify(groupBy.map((k) => labels[k]));
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { labels, firing: [], silenced: new Set() }));
      if (a.state !== 'firing') continue;
      if (silencedBy(mutes, a.labels, now) !== null) g.silenced.add(a.fingerprint);
      else g.firing.push(a);
    }
    // Groups notified before but absent now: all their alerts resolved.
    for (const e of logs.values()) {
      if (e.receiver !== notifier.name || groups.has(e.groupKey)) continue;
      const first = Object.values(e.firing)[0];
      const labels: Record<string, string> = {};
      for (const k of groupBy) labels[k] = first?.labels[k] ?? '';
      groups.set(e.groupKey, { labels, firing: [], silenced: new Set() });
    }
    for (const [groupKey, g] of groups) {
      // Stopping: what is left waits for the next start (the log does not have it yet).
      if (this.#stopping.signal.aborted) break;
      const prev = logs.get(`${notifier.name}\u0000${groupKey}`);
      const prevFiring = prev?.firing ?? {};
      const firingNow = new Set(g.firing.map((a) => a.fingerprint));
      const fresh = g.firing.filter((a) => !(a.fingerprint in prevFiring));
      // Still firing but silenced: neither re-sent nor reported resolved; the log keeps them.
      // Still firing outside this group (the notifier's group_by or match changed across a
      // restart): not resolved either; it leaves this group's log without a notification.
      const stillFiring = (fp: string): boolean => byFp.get(fp)?.state === 'firing';
      const resolved = Object.keys(prevFiring).filter((fp) => !firingNow.has(fp) && !g.silenced.has(fp) && !stillFiring(fp));
      const moved = Object.keys(prevFiring).some((fp) => !firingNow.has(fp) && !g.silenced.has(fp) && stillFiring(fp));
      // A rule's repeat_interval overrides the notifier's, longer or shorter; a group repeats at
      // the shortest of its alerts'. An Alertmanager's re-posts keep its alerts from expiring
      // (their endsAt is a few re-post intervals ahead), so a rule can only shorten them.
      const ruleRepeat = (a: AlertRecord): number => a.repeatIntervalMs ?? repeatIntervalMs;
      const repeatMs = notifier.kind === 'alertmanager'
        ? Math.min(repeatIntervalMs, ...g.firing.map(ruleRepeat))
        : Math.min(...g.firing.map(ruleRepeat));
      const due = g.firing.length > 0 && prev !== undefined && now - prev.sentAt >= repeatMs;
      const nextFiring: LogEntry['firing'] = {};
      for (const a of g.firing) nextFiring[a.fingerprint] = { labels: a.labels, annotations: a.annotations, startsAt: a.firedAt ?? a.activeAt };
      for (const fp of g.silenced) if (fp in prevFiring) nextFiring[fp] = prevFiring[fp] as LogEntry['firing'][string];
      const send = fresh.length > 0 || due || (resolved.length > 0 && sendResolved);
      if (!send) {
        if (resolved.length > 0 || moved) this.state.saveLog({ receiver: notifier.name, groupKey, sentAt: prev?.sentAt ?? now, firing: nextFiring });
        continue;
      }
      const payload: AlertPayload[] = [
        ...g.firing.map((a): AlertPayload => ({ fingerprint: a.fingerprint, status: 'firing', labels: a.labels, annotations: a.annotations, startsAt: a.firedAt ?? a.activeAt, endsAt: null, value: a.value, ...this.describe(a) })),
        ...(sendResolved ? resolved.map((fp): AlertPayload => {
          const rec = byFp.get(fp);
          const old = prevFiring[fp];
          return {
            fingerprint: fp, status: 'resolved', labels: rec?.labels ?? old?.labels ?? {}, annotations: rec?.annotations ?? old?.annotations ?? {},
            startsAt: rec?.firedAt ?? old?.startsAt ?? now, endsAt: rec?.resolvedAt ?? now, value: rec?.value ?? null,
            ...(rec ? this.describe(rec) : {}),
          };
        }) : []),
      ];
      const n: Notification = {
        receiver: notifier.name, groupKey, groupLabels: g.labels, status: g.firing.length > 0 ? 'firing' : 'resolved',
        alerts: payload, commonLabels: common(payload.map((p) => p.labels)), commonAnnotations: common(payload.map((p) => p.annotations)),
      };
      const r = await deliver(notifier, n, counters, { ...this.retry, signal: this.#stopping.signal });
      if (r.ok) {
        report.sent++;
        this.state.saveLog({ receiver: notifier.name, groupKey, sentAt: now, firing: nextFiring });
      } else if (r.stopped) {
        // Stopping: not delivered, no failure either; the log does not have it, the next start sends it.
        break;
      } else {
        report.failed++;
        report.errors.push(`${notifier.name}: ${r.error ?? 'failed'}`);
      }
    }
  }

  private describe(a: AlertRecord): { valueText?: string } {
    const text = this.valueText?.(a);
    return text === undefined ? {} : { valueText: text };
  }
}

/**
 * The silences that hold back a notifier's alerts. An Alertmanager gets every firing alert,
 * silenced or not: it keeps an alert only while it is re-posted (its `endsAt` passes otherwise),
 * so holding a silenced one back would have it resolve there, notify "resolved" while the
 * condition holds, and fire anew when the silence ends. Silencing is its own job, as for
 * Prometheus's alerts: a silence made in it (amtool, its UI) mutes what it routes.
 */
function mutedBy(notifier: Notifier, silences: Silence[]): Silence[] {
  return notifier.kind === 'alertmanager' ? [] : silences;
}

function common(maps: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = maps;
  if (!first) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first)) if (rest.every((m) => m[k] === v)) out[k] = v;
  return out;
}
