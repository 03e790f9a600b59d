/**
 * Secrets never reach a log line: URLs are printed without their user info, query values and
 * the token paths of Slack and similar incoming webhooks, and elsewhere without any path
 * segment that looks like a token, nor what follows it.
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
  } else {
    // Other services put tokens in the path too (Zapier, Mattermost, IFTTT, Telegram's
    // bot<id>:<token>): from the first segment that looks like one, the rest is hidden.
    const segments = path.split('/');
    const at = segments.findIndex(looksSecret);
    if (at !== -1) path = `${segments.slice(0, at).join('/')}/***`;
  }
  const query = [...u.searchParams.keys()].map((k) => `${k}=***`).join('&');
  return `${u.protocol}//${userInfo}${u.host}${path}${query ? `?${query}` : ''}`;
}

/** A path segment that may be a token: long, or with many digits, or with a `:`. */
function looksSecret(segment: string): boolean {
  let digits = 0;
  for (const c of segment) if (c >= '0' && c <= '9') digits++;
  return segment.length > 16 || digits >= 4 || segment.includes(':');
}

/** Replaces every URL in a message by its redacted form. */
export function redactText(text: string): string {
  // Punctuation right after a URL is the message's (`POST <url>: HTTP 503`), not the URL's.
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/g, (m) => {
    const tail = /[:,.;)\]]+$/.exec(m)?.[0] ?? '';
    return redactUrl(m.slice(0, m.length - tail.length)) + tail;
  });
}
