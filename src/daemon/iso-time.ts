/**
 * ISO 8601 times as the dashboard API, the CLI's `--since`/`--until` and reprice take them: a
 * date (midnight UTC), or a date and time (`T` or a space between them) with its zone. A time of day without a zone is refused:
 * read as the machine's local time it would disagree with everything else here, which is UTC.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Epoch ms of `s`; `no-zone` for a time of day without its zone; null for no ISO time (or a date that does not exist, 2026-02-31). */
export function parseIsoTime(s: string): number | 'no-zone' | null {
  const iso = ISO_TIME.exec(s);
  if (!iso) return null;
  if (iso[4] !== undefined && iso[7] === undefined) return 'no-zone';
  const t = Date.parse(s);
  // Date.parse rolls a day that does not exist into the next month.
  const [y, m, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const day = new Date(0);
  day.setUTCFullYear(y, m - 1, d);
  return !Number.isNaN(t) && day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d ? t : null;
}

/**
 * {@link parseIsoTime} for a setting `what` (`--since`, `until`…): its epoch ms, else an error
 * of `make` (Error, or an HTTP 400's class): the time lacks its zone, or is not one of
 * `expected` (what else the setting takes, as the message says it).
 */
export function isoTimeOf(what: string, raw: string, expected: string, make: new (message: string) => Error = Error): number {
  const t = parseIsoTime(raw.trim());
  if (t === 'no-zone') throw new make(`${what}: ${JSON.stringify(raw)} has no time zone: add Z (UTC) or an offset such as +02:00`);
  if (t === null) throw new make(`${what}: expected ${expected}, got ${JSON.stringify(raw)}`);
  return t;
}
