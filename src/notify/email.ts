/**
 * Email through nodemailer over SMTP. TLS: `secure: true` for implicit TLS (port 465),
 * otherwise STARTTLS when the server offers it (`requireTLS` to insist). The password never
 * appears in an error message.
 */
import nodemailer from 'nodemailer';
import { formatDuration } from '../rules/duration.js';
import { readableNumber } from '../rules/template.js';
import { DEFAULT_ROUTING, NotifyError, type Notification, type Notifier, type Routing } from './types.js';
import { untilAborted } from './retry.js';

export interface EmailOptions {
  name: string;
  host: string;
  port: number;
  /** Implicit TLS. Default `port === 465`. */
  secure?: boolean;
  /** Fail unless STARTTLS succeeds. Default false. */
  requireTLS?: boolean;
  /** Passed to `tls.connect` (e.g. `{ rejectUnauthorized: false }` for a test server, `ca`). */
  tls?: { rejectUnauthorized?: boolean; ca?: string | string[]; servername?: string };
  auth?: { user: string; pass: string };
  from: string;
  to: string[];
  /** Subject prefix. Default `[claudescope]`. */
  subjectPrefix?: string;
  routing?: Partial<Routing>;
}

export function emailSubject(n: Notification, prefix = '[claudescope]'): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const state = n.status === 'firing' ? `FIRING:${firing}` : 'RESOLVED';
  return `${prefix} [${state}] ${Object.values(n.groupLabels).filter(Boolean).join(' ')}`.trim();
}

export function emailText(n: Notification): string {
  const out: string[] = [];
  for (const a of n.alerts) {
    out.push(`${a.status.toUpperCase()}: ${a.labels['alertname'] ?? ''}`);
    for (const [k, v] of Object.entries(a.annotations)) out.push(`  ${k}: ${v}`);
    out.push(`  labels: ${Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    out.push(`  value: ${a.valueText ?? (a.value === null ? 'unknown' : readableNumber(a.value))}`);
    out.push(`  since: ${new Date(a.startsAt).toISOString()}${a.endsAt !== null ? `, resolved ${new Date(a.endsAt).toISOString()} (after ${formatDuration(a.endsAt - a.startsAt)})` : ''}`);
    out.push('');
  }
  return out.join('\n');
}

export function emailNotifier(o: EmailOptions): Notifier {
  const transport = nodemailer.createTransport({
    host: o.host, port: o.port, secure: o.secure ?? o.port === 465, requireTLS: o.requireTLS ?? false,
    ...(o.tls ? { tls: o.tls } : {}), ...(o.auth ? { auth: o.auth } : {}),
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000,
  });
  return {
    name: o.name, kind: 'email', routing: { ...DEFAULT_ROUTING, ...o.routing },
    async send(n, _signal, stop) {
      try {
        const sending = transport.sendMail({ from: o.from, to: o.to, subject: emailSubject(n, o.subjectPrefix), text: emailText(n) });
        // nodemailer cannot abort a send: the daemon stopping ends the wait. A per-attempt timeout
        // (`_signal`) does not: the send it would abandon may still be delivered, and the retry
        // would send the mail twice; nodemailer's own timeouts end a dead server.
        await untilAborted(sending, stop, () => {
          throw new NotifyError('E_NOTIFY_STOPPED', 'stopped', true);
        });
      } catch (err: unknown) {
        if (err instanceof NotifyError) throw err;
        const e = err as { responseCode?: number; code?: string; message?: string };
        // SMTP 5xx replies are permanent (bad recipient, auth refused), 4xx and network errors transient.
        const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500;
        let msg = `SMTP ${o.host}:${o.port}: ${e.code ?? ''} ${e.message ?? String(err)}`.replace(/\s+/g, ' ');
        if (o.auth?.pass) msg = msg.split(o.auth.pass).join('***');
        throw new NotifyError('E_NOTIFY_SMTP', msg, permanent);
      }
    },
    close() {
      transport.close();
    },
  };
}
