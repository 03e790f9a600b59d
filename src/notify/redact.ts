/**
 * Secrets never reach a log line: URLs are printed without their user info, query values and
 * the token paths of Slack and similar incoming webhooks.
 */

const SECRET_PATH_HOSTS = ['hooks.slack.com', 'discord.com', 'discordapp.com', 'outlook.office.com', 'webhook.office.com'];

/** A URL safe to print: `https://hooks.slack.com/services/***`, `http://***@host/path?token=***`. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<invalid url>';
  }
  const userInfo = u.username !== '' || u.password !== '' ? '***@' : '';
  let path = u.pathname;
  if (SECRET_PATH_HOSTS.some((h) => u.hostname === h || u.hostname.endsWith(`.${h}`))) {
    const first = path.split('/').filter(Boolean)[0];
    path = first ? `/${first}/***` : '/***';
  }
  const query = [...u.searchParams.keys()].map((k) => `${k}=***`).join('&');
  return `${u.protocol}//${userInfo}${u.host}${path}${query ? `?${query}` : ''}`;
}

/** Replaces every URL in a message by its redacted form. */
export function redactText(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/g, (m) => redactUrl(m));
}
