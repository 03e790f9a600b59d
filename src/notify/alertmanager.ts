/**
 * Alertmanager as a notifier: alerts are posted to its API (`POST /api/v2/alerts`), and it
 * does its own routing, grouping, silencing and repeating. Firing alerts are re-posted at
 * every notification (Alertmanager expects that; its `resolve_timeout` ends alerts not
 * re-posted); resolved ones are posted with their `endsAt`.
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

export function alertmanagerNotifier(o: AlertmanagerOptions): Notifier {
  const endpoint = `${o.url.replace(/\/+$/, '')}/api/v2/alerts`;
  return {
    name: o.name, kind: 'alertmanager',
    routing: { ...DEFAULT_ROUTING, groupBy: ['alertname'], repeatIntervalMs: 5 * 60_000, ...o.routing },
    async send(n, signal) {
      const body = JSON.stringify(n.alerts.map((a) => ({
        labels: a.labels,
        annotations: a.annotations,
        startsAt: new Date(a.startsAt).toISOString(),
        ...(a.endsAt !== null ? { endsAt: new Date(a.endsAt).toISOString() } : {}),
        ...(o.generatorUrl !== undefined ? { generatorURL: o.generatorUrl } : {}),
      })));
      await postJson(endpoint, body, { ...o.headers }, signal);
    },
  };
}
