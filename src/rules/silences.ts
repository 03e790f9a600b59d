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

/**
 * The full id of the active silence `id` names: its own id, or a prefix naming no other active
 * one, as `StateDb.silenceIdFor` reads the state file; null when none or several match.
 */
export function activeSilenceIdFor(silences: readonly Pick<Silence, 'id' | 'endsAt'>[], id: string, now: number): string | null {
  if (id === '') return null;
  const active = silences.filter((s) => s.endsAt > now);
  if (active.some((s) => s.id === id)) return id;
  const matches = active.filter((s) => s.id.startsWith(id));
  return matches.length === 1 ? matches[0]!.id : null;
}

export function formatMatcher(m: Matcher): string {
  return m.op === '=~' || m.op === '!~' ? `${m.name}${m.op}"${m.value}"` : `${m.name}${m.op}${m.value}`;
}
