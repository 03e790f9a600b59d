/** Silence matchers in Alertmanager's syntax: `alertname=X`, `model!=Y`, `severity=~"warn.*"`. */
import type { Matcher, Silence } from './state-db.js';

const MATCHER_RE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/;

/** Parses one matcher; throws with the offending text. */
export function parseMatcher(text: string): Matcher {
  const m = MATCHER_RE.exec(text);
  if (!m) throw new Error(`invalid matcher ${JSON.stringify(text)}: use name=value, name!=value, name=~regex or name!~regex`);
  const matcher: Matcher = { name: m[1] ?? '', op: (m[2] ?? '=') as Matcher['op'], value: m[3] ?? '' };
  if (matcher.op === '=~' || matcher.op === '!~') new RegExp(`^(?:${matcher.value})$`);
  return matcher;
}

export function matcherMatches(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~': return !new RegExp(`^(?:${m.value})$`).test(v);
    default: {
      const never: never = m.op;
      throw new Error(`unknown matcher op ${String(never)}`);
    }
  }
}

/** The id of the first active silence matching these labels, or null. */
export function silencedBy(silences: Silence[], labels: Record<string, string>, now: number): string | null {
  for (const s of silences) {
    if (s.startsAt <= now && now < s.endsAt && s.matchers.length > 0 && s.matchers.every((m) => matcherMatches(m, labels))) return s.id;
  }
  return null;
}

export function formatMatcher(m: Matcher): string {
  return m.op === '=~' || m.op === '!~' ? `${m.name}${m.op}"${m.value}"` : `${m.name}${m.op}${m.value}`;
}
