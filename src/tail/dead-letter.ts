/**
 * The dead-letter file (`<data>/dead-letter.ndjson`): lines the daemon could not use, each
 * recorded by file id, offset and length so it can be found again, and reading goes on.
 *
 * Written synchronously before the batch that skips those lines is committed: a crash may
 * record a dead letter twice, never lose one.
 */
import { appendFileSync } from 'node:fs';
import type { DecodeFailure } from '../event/validate.js';

/** `sink_rejected` / `sink_too_large`: a sink (InfluxDB: 400/422, or 413 for a single point) refused the event for good. */
export type DeadLetterReason = DecodeFailure | 'oversize' | 'unterminated_line' | 'sink_rejected' | 'sink_too_large';

export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['malformed_json', 'invalid_schema', 'unknown_version', 'oversize', 'unterminated_line', 'sink_rejected', 'sink_too_large'];

export interface DeadLetter {
  reason: DeadLetterReason;
  /** The file's identity (header `file_id`, or the inode fallback key). */
  file_id: string;
  path: string;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Length in bytes, without `\n`. */
  length: number;
  detail?: string;
  /** The line itself, cut to an excerpt; never present for oversize lines. */
  excerpt?: string;
}

/** Longest excerpt of a rejected line kept in the file. */
export const MAX_EXCERPT_CHARS = 4096;

export class DeadLetterFile {
  constructor(readonly path: string) {}

  /** Appends records; throws on a write failure (the batch then fails and is retried). */
  write(records: readonly DeadLetter[]): void {
    if (records.length === 0) return;
    const now = Date.now();
    let out = '';
    for (const r of records) out += `${JSON.stringify({ ts: now, ...r })}\n`;
    appendFileSync(this.path, out, { mode: 0o600 });
  }
}
