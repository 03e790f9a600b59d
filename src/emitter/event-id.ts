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
 * 20. Nor a `crypto.randomUUID()` with its first 48 bits replaced by the time (what this did
 * before): its text is built by some 20 concatenations, then cut and joined again, and the
 * result is a tree of strings the encoder must flatten before it reads it (~3,900 instructions
 * an id, where this takes ~1,000). Here the random bytes come from a pool filled by
 * `crypto.randomFillSync()` (the source `randomUUID()` draws from), 256 ids at a time, and the
 * id's 36 characters are written into a buffer and read out as one flat string.
 */
import { randomFillSync } from 'node:crypto';

const MAX_MS = 2 ** 48 - 1;
/** Random bytes an id takes from the pool: 10, of which it uses 74 bits (19 hex digits, one of them 2 bits). */
const RANDOM_BYTES = 10;
/** Ids the pool serves before it is filled again. */
const POOL_IDS = 256;
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const DASH = 0x2d;
/** The version digit, `7`. */
const VERSION = 0x37;

const pool = Buffer.allocUnsafeSlow(RANDOM_BYTES * POOL_IDS);
/** Where the next id's random bytes begin in {@link pool}; past its end, the pool is filled first. */
let next = pool.length;
/**
 * The id being written: `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`, its first 15 characters (the
 * time `lastMs`, and the version) kept from the last id.
 */
const text = Buffer.alloc(36);
let lastMs = Number.NaN;

/** A new version 7 UUID for the time `ms` (epoch ms, default now). */
export function newEventId(ms = Date.now()): string {
  if (ms !== lastMs) {
    // 48 bits of whole ms; a time that is no number of ms (NaN, ±Infinity) is taken as now.
    const t = Number.isFinite(ms) ? Math.min(Math.max(0, Math.floor(ms)), MAX_MS) : Date.now();
    // Digit by digit from two 24-bit halves: `toString(16)` takes a floating-point remainder
    // (fmod) per digit, ~3,000 instructions an id where this takes a few hundred.
    const high = Math.floor(t / 2 ** 24);
    const low = t - high * 2 ** 24;
    writeHex(high, 0, 6);
    // The low half's 6 digits: `xx` ending the first group, then the 4 of the second.
    writeHex(low >>> 16, 6, 2);
    writeHex(low & 0xffff, 9, 4);
    text[8] = DASH;
    text[13] = DASH;
    text[14] = VERSION;
    text[18] = DASH;
    text[23] = DASH;
    lastMs = ms;
  }
  if (next + RANDOM_BYTES > pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next;
  next += RANDOM_BYTES;
  // rand_a: 12 bits, after the version digit.
  text[15] = HEX[pool[r]! >> 4]!;
  text[16] = HEX[pool[r]! & 15]!;
  text[17] = HEX[pool[r + 1]! >> 4]!;
  // The variant (binary 10) and 2 random bits, then 3 digits.
  text[19] = HEX[8 | (pool[r + 1]! & 3)]!;
  text[20] = HEX[pool[r + 2]! >> 4]!;
  text[21] = HEX[pool[r + 2]! & 15]!;
  text[22] = HEX[pool[r + 3]! >> 4]!;
  // 12 digits: the last 48 bits.
  for (let i = 0; i < 6; i++) {
    const b = pool[r + 4 + i]!;
    text[24 + 2 * i] = HEX[b >> 4]!;
    text[25 + 2 * i] = HEX[b & 15]!;
  }
  return text.toString('latin1', 0, 36);
}

/** `n` (below 16^digits) as `digits` lowercase hex digits at `at` in {@link text}. */
function writeHex(n: number, at: number, digits: number): void {
  for (let i = at + digits - 1; i >= at; i--) {
    text[i] = HEX[n & 15]!;
    n >>>= 4;
  }
}
