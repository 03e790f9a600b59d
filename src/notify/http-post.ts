/** One JSON POST with the failure classified: 4xx other than 408/429 permanent, the rest transient. */
import { NotifyError, classifyHttpStatus, parseRetryAfter } from './types.js';
import { redactUrl } from './redact.js';

export async function postJson(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal, redirect: 'error' });
  } catch (err: unknown) {
    const reason = signal.aborted ? 'timed out' : err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new NotifyError(signal.aborted ? 'E_NOTIFY_TIMEOUT' : 'E_NOTIFY_NETWORK', `POST ${redactUrl(url)}: ${reason}`, false);
  }
  // Read (and bound) the body so the connection is reused; its text helps with a 4xx.
  const text = (await res.text().catch(() => '')).slice(0, 200);
  const kind = classifyHttpStatus(res.status);
  if (kind === 'ok') return;
  throw new NotifyError('E_NOTIFY_HTTP', `POST ${redactUrl(url)}: HTTP ${res.status}${text ? ` ${text}` : ''}`, kind === 'permanent',
    parseRetryAfter(res.headers.get('retry-after')));
}
