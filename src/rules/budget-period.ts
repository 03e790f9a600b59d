/** Start and end of the budget day or month containing an instant, in UTC or a configured IANA zone. */

/** Epoch ms of the local wall-clock time in `timeZone` (a zone offset is found by two probes). */
function zonedToEpoch(y: number, mo: number, d: number, timeZone: string): number {
  const guess = Date.UTC(y, mo, d);
  if (timeZone === 'UTC') return guess;
  const off1 = offsetAt(guess, timeZone);
  const t = guess - off1;
  const off2 = offsetAt(t, timeZone);
  return off1 === off2 ? t : guess - off2;
}

/** Offset (ms) of `timeZone` from UTC at instant `t`. */
function offsetAt(t: number, timeZone: string): number {
  const p = partsAt(t, timeZone);
  return Date.UTC(p.y, p.mo, p.d, p.h, p.mi, p.s) - Math.floor(t / 1000) * 1000;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function partsAt(t: number, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  if (timeZone === 'UTC') {
    const dt = new Date(t);
    return { y: dt.getUTCFullYear(), mo: dt.getUTCMonth(), d: dt.getUTCDate(), h: dt.getUTCHours(), mi: dt.getUTCMinutes(), s: dt.getUTCSeconds() };
  }
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  const o: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(t))) if (part.type !== 'literal') o[part.type] = Number(part.value);
  return { y: o['year'] ?? 1970, mo: (o['month'] ?? 1) - 1, d: o['day'] ?? 1, h: o['hour'] ?? 0, mi: o['minute'] ?? 0, s: o['second'] ?? 0 };
}

/** Throws when the zone is not one Intl knows. */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone });
}

/** The period (day or month) containing `now`: `[start, end)` epoch ms. */
export function periodAt(now: number, period: 'day' | 'month', timeZone = 'UTC'): { start: number; end: number } {
  const p = partsAt(now, timeZone);
  if (period === 'day') {
    const start = zonedToEpoch(p.y, p.mo, p.d, timeZone);
    const next = new Date(Date.UTC(p.y, p.mo, p.d + 1));
    return { start, end: zonedToEpoch(next.getUTCFullYear(), next.getUTCMonth(), next.getUTCDate(), timeZone) };
  }
  const start = zonedToEpoch(p.y, p.mo, 1, timeZone);
  const next = new Date(Date.UTC(p.y, p.mo + 1, 1));
  return { start, end: zonedToEpoch(next.getUTCFullYear(), next.getUTCMonth(), 1, timeZone) };
}
