/**
 * Time ranges of report requests: snapped to UTC buckets and split into chunks no longer
 * than what one request may span (the analytics API refuses more than 31 days with a 400;
 * the older usage report returns at most 31 daily or 168 hourly buckets a page).
 */
import type { BucketWidth } from './types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** The longest span one request may cover. */
export const MAX_SPAN_DAYS = 31;

export const bucketMs = (w: BucketWidth): number => (w === '1d' ? DAY_MS : HOUR_MS);

/** Snaps [start, end) outwards to whole UTC buckets. */
export function snapRange(start: number, end: number, width: BucketWidth): { start: number; end: number } {
  const b = bucketMs(width);
  return { start: Math.floor(start / b) * b, end: Math.ceil(end / b) * b };
}

/** Splits [start, end) into consecutive chunks of at most `maxSpanMs`, each on bucket edges. */
export function splitRange(start: number, end: number, maxSpanMs: number): { start: number; end: number }[] {
  if (!(end > start)) return [];
  const out: { start: number; end: number }[] = [];
  for (let s = start; s < end; s += maxSpanMs) out.push({ start: s, end: Math.min(end, s + maxSpanMs) });
  return out;
}

export const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
