/**
 * Event ids: UUIDs of version 7 (RFC 9562), which begin with their creation time in ms.
 *
 * The store keeps a unique index on `event_id`. Random (version 4) ids land at random places in
 * it, so each commit rewrites index pages all over the index, more of them the larger it grows;
 * ids that grow with time land at its end, next to each other. Measured with the daemon at
 * 1,000 events/s (scripts/bench-pipeline.ts, part 2), what it wrote to storage fell from ~35 to
 * ~24 MB/s.
 *
 * Not the `uuid` package's `v7()`: it draws its random bytes on every call, ~2 µs each on Node
 * 20, where `crypto.randomUUID()` serves them from a pool in ~0.12 µs. A version 4 UUID has the
 * layout of a version 7 one (variant bits included) with 122 random bits; its first 48 bits
 * are replaced by the time and its version digit by 7, which keeps the 74 random bits version
 * 7 asks for.
 */
import { randomUUID } from 'node:crypto';

const MAX_MS = 2 ** 48 - 1;
let lastMs = Number.NaN;
/** `xxxxxxxx-xxxx-` of the time `lastMs`. */
let lastPrefix = '';

/** A new version 7 UUID for the time `ms` (epoch ms, default now). */
export function newEventId(ms = Date.now()): string {
  if (ms !== lastMs) {
    // 48 bits of whole ms; a time that is no number of ms (NaN, ±Infinity) is taken as now.
    const t = Number.isFinite(ms) ? Math.min(Math.max(0, Math.floor(ms)), MAX_MS) : Date.now();
    const hex = t.toString(16).padStart(12, '0');
    lastPrefix = `${hex.slice(0, 8)}-${hex.slice(8)}-`;
    lastMs = ms;
  }
  // randomUUID(): xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx; from index 15 on, the random rest.
  return `${lastPrefix}7${randomUUID().slice(15)}`;
}
