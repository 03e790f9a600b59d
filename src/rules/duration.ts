/** Durations as written in rule files (`30s`, `5m`, `1h30m`, `2d`), in milliseconds. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION_RE = /^(?:(\d+)(ms|s|m|h|d|w))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d|w)/g;

/** Milliseconds of a duration string, or null when it is not one. `0` alone is accepted. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '0') return 0;
  if (!DURATION_RE.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(PART_RE)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return total;
}

/** A compact human form: `1h30m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [u, s] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= s) {
      parts.push(`${Math.floor(rest / s)}${u}`);
      rest %= s;
    }
  }
  return parts.join('');
}
