/**
 * Alertmanager as a notifier: alerts are posted to its API (`POST /api/v2/alerts`), and it
 * does its own routing, grouping, silencing and repeating. Firing alerts are re-posted at
 * every notification, with an `endsAt` four re-post intervals ahead, as Prometheus does: an
 * alert posted without one ends after Alertmanager's `resolve_timeout` (5 minutes, the
 * re-post interval itself), so any delay (a skipped tick, a restart) would resolve it and
 * fire it again. Resolved ones are posted with their own `endsAt`.
 */
import { postJson } from './http-post.js';
import { DEFAULT_ROUTING, type Notifier, type Routing } from './types.js';

export interface AlertmanagerOptions {
  name: string;
  /** Base URL, e.g. `http://127.0.0.1:9093`. */
  url: string;
  headers?: Record<string, string>;
  /** Default: grouped per alert, re-posted every 5 minutes while firing. */
  routing?: Partial<Routing>;
  /** A link back to claudescope for `generatorURL`. */
  generatorUrl?: string;
}

/** A firing alert is posted as ending this many re-post intervals ahead (Prometheus: 4 × its resend delay). */
const FIRING_HOLD_INTERVALS = 4;

export function alertmanagerNotifier(o: AlertmanagerOptions): Notifier {
  const endpoint = `${o.url.replace(/\/+$/, '')}/api/v2/alerts`;
  const routing: Routing = { ...DEFAULT_ROUTING, groupBy: ['alertname'], repeatIntervalMs: 5 * 60_000, ...o.routing };
  return {
    name: o.name, kind: 'alertmanager',
    routing,
    async send(n, signal) {
      const firingUntil = Date.now() + FIRING_HOLD_INTERVALS * routing.repeatIntervalMs;
      const body = JSON.stringify(n.alerts.map((a) => ({
        labels: a.labels,
        annotations: a.annotations,
        startsAt: new Date(a.startsAt).toISOString(),
        endsAt: new Date(a.endsAt ?? firingUntil).toISOString(),
        ...(o.generatorUrl !== undefined ? { generatorURL: o.generatorUrl } : {}),
      })));
      await postJson(endpoint, body, { ...o.headers }, signal);
    },
  };
}
