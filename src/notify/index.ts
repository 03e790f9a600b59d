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
 * Routing keys on every notifier: `match`, `group_by`, `repeat_interval` (a duration such as
 * `1h`; or `repeat_interval_ms`), `send_resolved`. Each notifier's settings are checked before
 * any is built: unknown keys, wrong types, missing required ones and URLs that are not http(s)
 * are refused, each named by notifier and field. nodemailer is loaded only when an email
 * notifier is configured.
 */
import { parseDuration } from '../rules/duration.js';
import type { EmailOptions } from './email.js';
import type { Notifier, Routing } from './types.js';
import { alertmanagerNotifier } from './alertmanager.js';
import { slackNotifier, webhookNotifier } from './webhook.js';

interface RoutingConfig {
  match?: Record<string, string>;
  group_by?: string[];
  /** A duration (`1h`, `30m`). */
  repeat_interval?: string;
  repeat_interval_ms?: number;
  send_resolved?: boolean;
}

export type NotifierConfig = RoutingConfig & (
  | ({ type: 'email' } & Omit<EmailOptions, 'routing'>)
  | { type: 'webhook'; name: string; url: string; secret?: string; headers?: Record<string, string> }
  | { type: 'slack'; name: string; url: string; channel?: string }
  | { type: 'alertmanager'; name: string; url: string; headers?: Record<string, string>; generator_url?: string }
);

/** A checked boolean setting: true, false, or their strings. */
function asBool(v: unknown): boolean {
  return v === true || v === 'true';
}

function routingOf(c: RoutingConfig): Partial<Routing> {
  const repeatMs = c.repeat_interval !== undefined ? parseDuration(c.repeat_interval) : c.repeat_interval_ms;
  return {
    ...(c.match ? { match: c.match } : {}), ...(c.group_by ? { groupBy: c.group_by } : {}),
    ...(repeatMs !== undefined && repeatMs !== null ? { repeatIntervalMs: repeatMs } : {}),
    ...(c.send_resolved !== undefined ? { sendResolved: asBool(c.send_resolved) } : {}),
  };
}

/** A notifier's settings that cannot work, all of them, each as `notifiers[i] (name): field: problem`. */
export class NotifierConfigError extends Error {
  readonly code = 'E_NOTIFIER_CONFIG';
  constructor(readonly problems: string[]) {
    super(`invalid notifier settings:\n  ${problems.join('\n  ')}`);
    this.name = 'NotifierConfigError';
  }
}

type Check = (v: unknown) => string | null;
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? null : 'expected a non-empty string');
const optText: Check = (v) => (typeof v === 'string' ? null : 'expected a string');
// A `${ENV}` reference expands to a string: `port: ${SMTP_PORT}` is "587", `secure: ${TLS}` "true".
const bool: Check = (v) => (typeof v === 'boolean' || v === 'true' || v === 'false' ? null : 'expected true or false');
const port: Check = (v) => {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? null : 'expected a port 1-65535';
};
const textList: Check = (v) => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== '') ? null : 'expected a non-empty list of strings');
/** Labels to group by; an empty list is one group for every alert. */
const labelList: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '') ? null : 'expected a list of label names');
const textMap: Check = (v) => (isMap(v) && Object.values(v).every((x) => typeof x === 'string') ? null : 'expected a mapping of strings');
const httpUrl: Check = (v) => {
  if (typeof v !== 'string') return 'expected an http(s) URL';
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'expected an http(s) URL';
  } catch {
    return 'expected an http(s) URL';
  }
};
const duration: Check = (v) => (typeof v === 'string' && (parseDuration(v) ?? 0) > 0 ? null : 'expected a duration such as 4h or 30m');
const positiveMs: Check = (v) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? null : 'expected a whole number of milliseconds above 0');
/** A certificate as nodemailer's `tls.ca` takes it: PEM text (a file path would fail every send with a PEM parse error). */
const pem = (v: unknown): boolean => typeof v === 'string' && v.includes('-----BEGIN CERTIFICATE-----');
/** Settings of `tls.connect` an email notifier takes (EmailOptions.tls); a misspelt one would be dropped unread. */
const TLS_FIELDS: Record<string, Check> = {
  ca: (v) => (pem(v) || (Array.isArray(v) && v.length > 0 && v.every(pem)) ? null : 'expected the PEM text of a certificate (-----BEGIN CERTIFICATE-----…), or a list of them, not a file name'),
  // Passed to tls.connect as written, where only `false` turns verification off: a string from a
  // ${ENV} reference ("false") would leave it on.
  rejectUnauthorized: (v) => (typeof v === 'boolean' ? null : 'expected true or false (written as such, not from an environment variable)'),
  servername: text,
};
const tls: Check = (v) => {
  if (!isMap(v)) return `expected a mapping of ${Object.keys(TLS_FIELDS).join(', ')}`;
  for (const [key, x] of Object.entries(v)) {
    const check = TLS_FIELDS[key];
    if (check === undefined) return `${key}: unknown setting (known: ${Object.keys(TLS_FIELDS).join(', ')})`;
    const problem = check(x);
    if (problem !== null) return `${key}: ${problem}`;
  }
  return null;
};
const auth: Check = (v) => (isMap(v) && typeof v['user'] === 'string' && typeof v['pass'] === 'string' && Object.keys(v).every((k) => k === 'user' || k === 'pass') ? null : 'expected { user, pass }');

const COMMON: Record<string, Check> = {
  name: text, type: text, match: textMap, group_by: labelList, repeat_interval: duration, repeat_interval_ms: positiveMs, send_resolved: bool,
};
/** Each type's own settings, and which of them are required. */
const TYPES: Record<NotifierConfig['type'], { fields: Record<string, Check>; required: string[] }> = {
  email: {
    fields: { host: text, port, secure: bool, requireTLS: bool, tls, auth, from: text, to: textList, subjectPrefix: optText },
    required: ['host', 'port', 'from', 'to'],
  },
  webhook: { fields: { url: httpUrl, secret: optText, headers: textMap }, required: ['url'] },
  slack: { fields: { url: httpUrl, channel: text }, required: ['url'] },
  alertmanager: { fields: { url: httpUrl, headers: textMap, generator_url: httpUrl }, required: ['url'] },
};

const SHOWN = new Set(['name', 'type', 'group_by', 'repeat_interval', 'repeat_interval_ms', 'send_resolved', 'port', 'secure', 'requireTLS']);

/**
 * Where a setting was written, by its path (`notifiers[0].url`): `config.yaml:12`, or undefined
 * when unknown.
 */
export type SettingLocator = (path: string) => string | undefined;

/**
 * Every problem of the notifiers' settings (none: they can be built). With `locate`, each
 * problem starts with where its setting was written, as other configuration problems do:
 * `config.yaml:12: notifiers[0] (hook): url: expected an http(s) URL`.
 */
export function notifierProblems(configs: readonly unknown[], locate?: SettingLocator): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  configs.forEach((c, i) => {
    const item = `notifiers[${i}]`;
    const add = (key: string | null, text: string): void => {
      const where = locate?.(key === null ? item : `${item}.${key}`);
      problems.push(where === undefined ? text : `${where}: ${text}`);
    };
    if (!isMap(c)) {
      add(null, `${item}: expected a mapping`);
      return;
    }
    const at = `${item}${typeof c['name'] === 'string' ? ` (${c['name']})` : ''}`;
    const type = c['type'];
    const spec = typeof type === 'string' && Object.hasOwn(TYPES, type) ? TYPES[type as NotifierConfig['type']] : undefined;
    if (spec === undefined) {
      add('type', `${at}: type: expected one of ${Object.keys(TYPES).join(', ')}, got ${JSON.stringify(type ?? null)}`);
      return;
    }
    for (const key of ['name', ...spec.required]) if (c[key] === undefined || c[key] === null) add(c[key] === null ? key : null, `${at}: ${key}: is required for type ${type}`);
    if (c['repeat_interval'] !== undefined && c['repeat_interval_ms'] !== undefined) add('repeat_interval', `${at}: repeat_interval: give it or repeat_interval_ms, not both`);
    // Alertmanager must hear of a resolution, or it keeps the alert firing until its endsAt;
    // whether a resolution is notified is its own route's send_resolved.
    if (type === 'alertmanager' && (c['send_resolved'] === false || c['send_resolved'] === 'false')) {
      add('send_resolved', `${at}: send_resolved: Alertmanager needs resolutions posted; set send_resolved in its own receiver instead`);
    }
    for (const [key, v] of Object.entries(c)) {
      const check = COMMON[key] ?? spec.fields[key];
      if (check === undefined) {
        add(key, `${at}: ${key}: unknown setting for type ${type} (known: ${[...Object.keys(COMMON), ...Object.keys(spec.fields)].join(', ')})`);
        continue;
      }
      if (v === undefined || v === null) continue;
      const problem = check(v);
      // Values are shown only for settings that never hold a secret (URLs, auth and headers may).
      if (problem !== null) add(key, `${at}: ${key}: ${problem}${SHOWN.has(key) ? `, got ${JSON.stringify(v)}` : ''}`);
    }
    if (typeof c['name'] === 'string') {
      if (names.has(c['name'])) add('name', `${at}: name: another notifier has the name ${c['name']}`);
      names.add(c['name']);
    }
  });
  return problems;
}

/**
 * Builds the notifiers. @throws NotifierConfigError naming every setting that cannot work
 * (where it was written too, with `opts.locate`).
 */
export async function createNotifiers(configs: NotifierConfig[], opts: { locate?: SettingLocator } = {}): Promise<Notifier[]> {
  const problems = notifierProblems(configs, opts.locate);
  if (problems.length > 0) throw new NotifierConfigError(problems);
  const out: Notifier[] = [];
  for (const c of configs) {
    const routing = routingOf(c);
    switch (c.type) {
      case 'email': {
        const { emailNotifier } = await import('./email.js');
        const { type: _t, match: _m, group_by: _g, repeat_interval: _ri, repeat_interval_ms: _r, send_resolved: _s, ...opts } = c;
        // As ${ENV} references expand them: "587", "false" (a string "false" would be truthy).
        const { port, secure, requireTLS } = opts as { port: unknown; secure?: unknown; requireTLS?: unknown };
        out.push(emailNotifier({
          ...opts, port: Number(port),
          ...(secure !== undefined ? { secure: asBool(secure) } : {}),
          ...(requireTLS !== undefined ? { requireTLS: asBool(requireTLS) } : {}),
          routing,
        }));
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
