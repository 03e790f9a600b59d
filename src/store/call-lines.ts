/**
 * The lines of stored calls, as read from the event files, compressed a batch at a time.
 *
 * Each stored call keeps its line whole (the detail view shows it, and a reprice prices it
 * again from it). Stored in its row, a line (~1.3 KB) was most of the store's size and of what
 * each commit wrote: 328 MB for 200,000 calls. A batch's lines, joined with `\n` and deflated
 * (zlib's raw deflate, level 1) into one `call_lines` row, took 82 MB for the same calls, and
 * ingestion got a few per cent faster: the deflate costs ~4 µs a line, less than the writes it
 * saves. Compressing each line alone shrinks it less than half, and costs ~25 µs a line (a zlib
 * stream set up for each). A row refers to its line by `line_batch` (the `call_lines` id) and
 * `line_index` (its place in the batch); its `event_json` is then empty. Rows stored before
 * (schema version 4 and older) keep their line in `event_json`.
 *
 * A batch's `max_ts` is the latest time of its calls: once retention deleted every call older
 * than a cutoff, a batch whose `max_ts` is older holds no stored call's line. A committed batch
 * never changes and its id is never reused (AUTOINCREMENT); but a batch staged and rolled back
 * gives its id to the next batch stored (the AUTOINCREMENT step is rolled back with it), so a
 * reader keeps what it inflated for one read transaction only.
 */
import type Database from 'better-sqlite3';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { StoreError } from './migrations.js';

const NEWLINE = 0x0a;
/** zlib's fastest level: the size is within ~10 % of level 6 on event lines, at half the time. */
const DEFLATE_LEVEL = 1;

/** Writes batches of lines (on the store's writing connection). */
export class CallLinesWriter {
  private readonly insert: Database.Statement;
  private readonly remove: Database.Statement;

  constructor(db: Database.Database) {
    this.insert = db.prepare('INSERT INTO call_lines (max_ts, lines) VALUES (?, ?)');
    this.remove = db.prepare('DELETE FROM call_lines WHERE id = ?');
  }

  /** Stores `lines` (in their order; none holds a `\n`) as one batch; returns its id. */
  add(lines: readonly string[], maxTs: number): number {
    return Number(this.insert.run(maxTs, deflateRawSync(lines.join('\n'), { level: DEFLATE_LEVEL })).lastInsertRowid);
  }

  /** Deletes a batch no row refers to (each of its calls was stored already). */
  drop(id: number): void {
    this.remove.run(id);
  }
}

/**
 * Reads stored lines. Keeps the last batch it inflated, with where each of its lines starts:
 * a reprice reads rows in id order, and rows stored together share a batch.
 */
export class CallLinesReader {
  /** Prepared at the first batch read: a database older than schema 5 has no `call_lines`. */
  private select: Database.Statement | undefined;
  private cached: { id: number; text: Buffer; starts: number[] } | undefined;

  constructor(private readonly db: Database.Database) {}

  /**
   * The line of a stored row: its `event_json`, or its place in a batch.
   * @throws StoreError `E_STORE_LINE_MISSING` when the row's batch or its place in it is gone.
   */
  lineOf(row: { event_id?: unknown; event_json?: unknown; line_batch?: unknown; line_index?: unknown }): string {
    const batch = row.line_batch;
    if (typeof batch !== 'number') return row.event_json as string;
    const b = this.batch(batch, row.event_id);
    const index = row.line_index as number;
    const start = b.starts[index];
    if (start === undefined) throw missing(row.event_id, `line ${index} of batch ${batch}, which holds ${b.starts.length}`);
    const end = index + 1 < b.starts.length ? b.starts[index + 1]! - 1 : b.text.length;
    return b.text.toString('utf8', start, end);
  }

  private batch(id: number, eventId: unknown): { text: Buffer; starts: number[] } {
    if (this.cached?.id === id) return this.cached;
    this.select ??= this.db.prepare('SELECT lines FROM call_lines WHERE id = ?').pluck();
    const blob = this.select.get(id) as Buffer | undefined;
    if (blob === undefined) throw missing(eventId, `batch ${id}`);
    const text = inflateRawSync(blob);
    const starts = [0];
    for (let nl = text.indexOf(NEWLINE); nl >= 0; nl = text.indexOf(NEWLINE, nl + 1)) starts.push(nl + 1);
    this.cached = { id, text, starts };
    return this.cached;
  }
}

/**
 * The columns a query selects (with `event_id`) for {@link CallLinesReader.lineOf}: a read-only open of a
 * database older than schema 5 has none (every line is in `event_json` there).
 */
export function lineColumns(db: Database.Database): string {
  const has = db.prepare("SELECT 1 FROM pragma_table_info('calls') WHERE name = 'line_batch'").get() !== undefined;
  return has ? 'event_json, line_batch, line_index' : 'event_json, NULL AS line_batch, NULL AS line_index';
}

function missing(eventId: unknown, what: string): StoreError {
  return new StoreError('E_STORE_LINE_MISSING', `the stored line of call ${String(eventId)} is missing (${what}): the store was changed outside claudescope`);
}

/** Deletes the batches whose every call is older than `cutoff` (after retention deleted those calls). */
export function deleteLinesBefore(db: Database.Database, cutoff: number, chunk: number): number {
  const st = db.prepare('DELETE FROM call_lines WHERE id IN (SELECT id FROM call_lines WHERE max_ts < ? LIMIT ?)');
  let deleted = 0;
  for (;;) {
    const n = st.run(cutoff, chunk).changes;
    deleted += n;
    if (n < chunk) return deleted;
  }
}
