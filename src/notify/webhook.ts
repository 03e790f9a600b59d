/**
 * Webhook notifiers: generic JSON (Alertmanager's webhook shape, version 4, signed with
 * HMAC-SHA256 when a secret is set) and Slack's incoming-webhook format.
 *
 * The signature header is `X-Claudescope-Signature: t=<unix seconds>,v1=<hex>` where `<hex>`
 * is HMAC-SHA256(secret, `<t>.<body>`): receivers recompute it and reject old timestamps.
 */
import { createHmac } from 'node:crypto';
import { postJson } from './http-post.js';
import { DEFAULT_ROUTING, type Notification, type Notifier, type Routing } from './types.js';

export interface WebhookOptions {
  name: string;
  url: string;
  /** HMAC secret; when set every request is signed. */
  secret?: string;
  headers?: Record<string, string>;
  routing?: Partial<Routing>;
  /** For the signature timestamp. Default `Date.now`. */
  clock?: () => number;
}

export const SIGNATURE_HEADER = 'x-claudescope-signature';

/** The signature of a body at a time: `t=<s>,v1=<hex>`. */
export function signBody(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Alertmanager's webhook payload (version 4), times as RFC 3339. */
export function webhookBody(n: Notification): Record<string, unknown> {
  return {
    version: '4', receiver: n.receiver, groupKey: n.groupKey, status: n.status, groupLabels: n.groupLabels,
    commonLabels: n.commonLabels, commonAnnotations: n.commonAnnotations, truncatedAlerts: 0,
    alerts: n.alerts.map((a) => ({
      status: a.status, labels: a.labels, annotations: a.annotations, fingerprint: a.fingerprint, value: a.value,
      startsAt: new Date(a.startsAt).toISOString(), endsAt: a.endsAt === null ? '0001-01-01T00:00:00Z' : new Date(a.endsAt).toISOString(),
    })),
  };
}

export function webhookNotifier(o: WebhookOptions): Notifier {
  const clock = o.clock ?? Date.now;
  return {
    name: o.name, kind: 'webhook', routing: { ...DEFAULT_ROUTING, ...o.routing },
    async send(n, signal) {
      const body = JSON.stringify(webhookBody(n));
      const headers: Record<string, string> = { ...o.headers };
      if (o.secret !== undefined && o.secret !== '') headers[SIGNATURE_HEADER] = signBody(o.secret, body, Math.floor(clock() / 1000));
      await postJson(o.url, body, headers, signal);
    },
  };
}

/**
 * Slack's control characters in message text: `&`, `<` and `>` must be sent as entities, or
 * `<…>` is taken as a link or mention and what is inside it is not shown as written.
 */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack incoming webhook: one message, a line per alert. */
export function slackText(n: Notification): string {
  const group = slackEscape(Object.values(n.groupLabels).join(' '));
  const title = n.status === 'firing'
    ? `:rotating_light: [FIRING:${n.alerts.filter((a) => a.status === 'firing').length}] ${group}`
    : `:white_check_mark: [RESOLVED] ${group}`;
  const lines = n.alerts.map((a) => {
    const text = slackEscape(a.annotations['summary'] ?? a.annotations['description'] ?? a.labels['alertname'] ?? '');
    const labels = slackEscape(Object.entries(a.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(', '));
    return `• ${a.status === 'firing' ? '🔥' : '✅'} *${slackEscape(a.labels['alertname'] ?? '')}* ${text}${labels ? ` (${labels})` : ''}`;
  });
  return [title, ...lines].join('\n');
}

export function slackNotifier(o: Omit<WebhookOptions, 'secret'> & { channel?: string }): Notifier {
  return {
    name: o.name, kind: 'slack', routing: { ...DEFAULT_ROUTING, ...o.routing },
    async send(n, signal) {
      const body = JSON.stringify({ text: slackText(n), ...(o.channel !== undefined ? { channel: o.channel } : {}) });
      await postJson(o.url, body, { ...o.headers }, signal);
    },
  };
}
