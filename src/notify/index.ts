/**
 * Notifiers from configuration, as the daemon's config file spells them:
 *
 * ```yaml
 * notifiers:
 *   - { name: ops-mail, type: email, host: smtp.example.com, port: 587, requireTLS: true,
 *       auth: { user: alerts, pass: ${SMTP_PASSWORD} }, from: alerts@example.com, to: [ops@example.com] }
 *   - { name: hook, type: webhook, url: https://example.com/hook, secret: ${HOOK_SECRET} }
 *   - { name: slack, type: slack, url: https://hooks.slack.com/services/… , match: { severity: critical } }
 *   - { name: am, type: alertmanager, url: http://127.0.0.1:9093 }
 * ```
 * Routing keys on every notifier: `match`, `group_by`, `repeat_interval` (ms here), `send_resolved`.
 * nodemailer is loaded only when an email notifier is configured.
 */
import type { EmailOptions } from './email.js';
import type { Notifier, Routing } from './types.js';
import { alertmanagerNotifier } from './alertmanager.js';
import { slackNotifier, webhookNotifier } from './webhook.js';

interface RoutingConfig {
  match?: Record<string, string>;
  group_by?: string[];
  repeat_interval_ms?: number;
  send_resolved?: boolean;
}

export type NotifierConfig = RoutingConfig & (
  | ({ type: 'email' } & Omit<EmailOptions, 'routing'>)
  | { type: 'webhook'; name: string; url: string; secret?: string; headers?: Record<string, string> }
  | { type: 'slack'; name: string; url: string; channel?: string }
  | { type: 'alertmanager'; name: string; url: string; headers?: Record<string, string>; generator_url?: string }
);

function routingOf(c: RoutingConfig): Partial<Routing> {
  return {
    ...(c.match ? { match: c.match } : {}), ...(c.group_by ? { groupBy: c.group_by } : {}),
    ...(c.repeat_interval_ms !== undefined ? { repeatIntervalMs: c.repeat_interval_ms } : {}),
    ...(c.send_resolved !== undefined ? { sendResolved: c.send_resolved } : {}),
  };
}

export async function createNotifiers(configs: NotifierConfig[]): Promise<Notifier[]> {
  const names = new Set<string>();
  const out: Notifier[] = [];
  for (const c of configs) {
    if (names.has(c.name)) throw new Error(`duplicate notifier name ${c.name}`);
    names.add(c.name);
    const routing = routingOf(c);
    switch (c.type) {
      case 'email': {
        const { emailNotifier } = await import('./email.js');
        const { type: _t, match: _m, group_by: _g, repeat_interval_ms: _r, send_resolved: _s, ...opts } = c;
        out.push(emailNotifier({ ...opts, routing }));
        break;
      }
      case 'webhook':
        out.push(webhookNotifier({ name: c.name, url: c.url, ...(c.secret !== undefined ? { secret: c.secret } : {}), ...(c.headers ? { headers: c.headers } : {}), routing }));
        break;
      case 'slack':
        out.push(slackNotifier({ name: c.name, url: c.url, ...(c.channel !== undefined ? { channel: c.channel } : {}), routing }));
        break;
      case 'alertmanager':
        out.push(alertmanagerNotifier({ name: c.name, url: c.url, ...(c.headers ? { headers: c.headers } : {}), ...(c.generator_url !== undefined ? { generatorUrl: c.generator_url } : {}), routing }));
        break;
      default: {
        const never: never = c;
        throw new Error(`unknown notifier type ${JSON.stringify((never as { type: unknown }).type)}`);
      }
    }
  }
  return out;
}

export { alertmanagerNotifier } from './alertmanager.js';
export { slackNotifier, webhookNotifier, signBody, SIGNATURE_HEADER } from './webhook.js';
export { redactUrl, redactText } from './redact.js';
export { NotifyError, classifyHttpStatus } from './types.js';
export type { Notification, Notifier, Routing, AlertPayload } from './types.js';
