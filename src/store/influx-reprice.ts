/**
 * A reprice carried over to InfluxDB: each repriced call is looked up there (by its event id,
 * in the millisecond its point sits in) and its `claude_call` point rewritten when it
 * disagrees with the call's new price, so InfluxDB's costs agree with the store's.
 *
 * A point's key is (measurement, tag set, time in ns), and InfluxDB overwrites the fields
 * given for an existing key and keeps the others. So, for each call:
 * - same tags, and every price field the point has is still there: the point is written
 *   again at its own time (the new price fields replace the old ones);
 * - another `model` tag (an alias now names another model) makes another series: the new
 *   point is written first, then the old one deleted (a failure in between leaves a point
 *   too many, which the next run deletes, never one too few);
 * - a price field the new price no longer has (the call is now unpriced, or a part is gone)
 *   would survive an overwrite: that point is deleted, then written again.
 * The time is read from InfluxDB rather than computed: its sub-millisecond digits come from
 * the id of the event file, which the store does not keep (see influx-point-schema.ts).
 *
 * Points and the store are compared, not the store before and after: a second run over the
 * same window finds the points right and writes nothing, and after a run that could not reach
 * InfluxDB, running the same reprice again rewrites what is still old.
 *
 * @example
 * const influx = new InfluxRepricer({ connection, dryRun: false });
 * await influx.sync(chunk.rows);    // each chunk of repriced calls
 * influx.summary();                 // { checked, rewritten, deleted, missing, error }
 * await influx.close();
 */
import { randomUUID } from 'node:crypto';
import type { CallEvent } from '../event/types.js';
import type { PriceResult } from '../pricing/types.js';
import { storedTagValue } from './influx-line-protocol.js';
import { CALL_MEASUREMENT, CALL_TAGS, PRICE_FIELDS, callLineAt, callTags, priceFields, type PointFields } from './influx-point-schema.js';
import { InfluxQueryApi, ident, literal } from './influx-query.js';
import { beyondRetention } from './influx-sink.js';
import { InfluxWriteError, classifyInfluxError, createWriter, type InfluxConnection, type InfluxWriter } from './influx-writer.js';

/** Calls further apart than this are looked up by separate queries (each reads its whole time range). */
const SPAN_GAP_MS = 60_000;
/** Statements per `/query` request. */
const STATEMENTS_PER_REQUEST = 200;
/** Lines per write request. */
const LINES_PER_WRITE = 5000;
/** A write InfluxDB did not take (429, 5xx, network) is tried this many times in all, then the reprice reports it. */
const WRITE_ATTEMPTS = 3;
/** Hosts named in a lookup's filter; more, and the lookup reads every host's points of the range. */
const MAX_HOST_FILTER = 20;

/** One repriced call: the stored event and its new price (null: unpriced, the pricer failed on it). */
export interface InfluxRepriceCall {
  event: CallEvent;
  price: PriceResult | null;
}

/** What the reprice did to InfluxDB (on a dry run: would do). */
export interface RepriceInfluxSummary {
  /** Calls looked up in InfluxDB. */
  checked: number;
  /** Points written with the new price. */
  rewritten: number;
  /** Old points deleted: under the call's previous model, or holding a price field the new price has not. */
  deleted: number;
  /** Calls without a point in InfluxDB: older than its retention policy, or never written there. */
  missing: number;
  /**
   * Why InfluxDB could not be brought up to date, from the first failure on (the calls after
   * it were not looked at); null when it was.
   */
  error: string | null;
}

export interface InfluxRepricerOptions {
  connection: InfluxConnection;
  /** Look up and count only; write and delete nothing. */
  dryRun: boolean;
  /** A writer to use instead of the configured one (tests). */
  writer?: InfluxWriter;
  /** First delay before trying a write again. Default 1000 ms (then doubled). */
  retryDelayMs?: number;
}

/** A point of `claude_call` as InfluxDB returned it. */
interface StoredPoint {
  /** Nanoseconds since the epoch, decimal text. */
  time: string;
  tags: Record<string, string>;
  fields: Record<string, unknown>;
}

/** The tags and price fields the schema gives a call, collected to compare with a stored point. */
class Expected implements PointFields {
  readonly tags = new Map<string, string>();
  readonly fields = new Map<string, number | string>();

  tag(key: string, value: string | null | undefined): this {
    if (value !== null && value !== undefined && value !== '') this.tags.set(key, storedTagValue(value));
    return this;
  }
  intField(key: string, v: number | null | undefined): this {
    if (v !== null && v !== undefined && Number.isFinite(v)) this.fields.set(key, Number.isInteger(v) ? v : Math.round(v));
    return this;
  }
  floatField(key: string, v: number | null | undefined): this {
    if (v !== null && v !== undefined && Number.isFinite(v)) this.fields.set(key, v);
    return this;
  }
  stringField(key: string, v: string | null | undefined): this {
    if (v !== null && v !== undefined) this.fields.set(key, v.replace(/\n/g, ' '));
    return this;
  }
}

/** An RFC 3339 time with up to nine decimals (InfluxDB's JSON) as nanoseconds, decimal text. */
export function nanosOfRfc3339(t: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(t);
  const secMs = m ? Date.parse(`${m[1]!}Z`) : Number.NaN;
  if (!m || Number.isNaN(secMs)) throw new Error(`unexpected time from InfluxDB: ${t}`);
  return (BigInt(secMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))).toString();
}

export class InfluxRepricer {
  private readonly query: InfluxQueryApi;
  private writer: InfluxWriter | undefined;
  private readonly s: RepriceInfluxSummary = { checked: 0, rewritten: 0, deleted: 0, missing: 0, error: null };
  /** {@link probeDelete}, once a chunk first needs a delete. */
  private deleteProbe: Promise<void> | undefined;

  constructor(private readonly o: InfluxRepricerOptions) {
    this.query = new InfluxQueryApi({ connection: o.connection });
  }

  summary(): RepriceInfluxSummary {
    return { ...this.s };
  }

  /**
   * Brings the points of these calls in line with their new prices. Never throws: the first
   * failure is kept in the summary's `error`, and later calls are then left alone (the store's
   * reprice goes on; a reprice of the same window later finishes InfluxDB's part).
   */
  async sync(calls: readonly InfluxRepriceCall[]): Promise<void> {
    if (this.s.error !== null || calls.length === 0) return;
    try {
      await this.syncChunk(calls);
    } catch (err: unknown) {
      this.s.error = err instanceof Error ? err.message : String(err);
    }
  }

  /** Ends the lookups and writes in progress (a sync then reports the failure) and refuses later ones. */
  async close(): Promise<void> {
    this.query.close();
    await this.writer?.close();
  }

  private async syncChunk(calls: readonly InfluxRepriceCall[]): Promise<void> {
    const found = await this.lookup(calls);
    // Written before the deletes (a new series), deleted, written after the deletes (same key).
    const first: string[] = [];
    const deletes: string[] = [];
    const after: string[] = [];
    let rewritten = 0;
    let missing = 0;
    for (const c of calls) {
      const points = found.get(c.event.event_id);
      if (points === undefined) {
        missing++;
        continue;
      }
      const want = priceFields(callTags(new Expected(), c.event, c.price), c.price);
      const same = points.find((p) => CALL_TAGS.every((k) => (p.tags[k] ?? '') === (want.tags.get(k) ?? '')));
      // Copies of the call under other tags: its previous model, or left by an interrupted run.
      for (const p of points) if (p !== same) deletes.push(deleteStatement(p));
      if (same === undefined) {
        first.push(callLineAt(c.event, c.price, points[0]!.time));
        rewritten++;
        continue;
      }
      const stale = PRICE_FIELDS.some((f) => same.fields[f] !== null && same.fields[f] !== undefined && !want.fields.has(f));
      if (stale) {
        deletes.push(deleteStatement(same));
        after.push(callLineAt(c.event, c.price, same.time));
        rewritten++;
      } else if (PRICE_FIELDS.some((f) => (same.fields[f] ?? null) !== (want.fields.get(f) ?? null))) {
        first.push(callLineAt(c.event, c.price, same.time));
        rewritten++;
      }
    }
    if (!this.o.dryRun) {
      // Before anything of a chunk that needs deletes is written: where InfluxDB refuses DELETE
      // (Cloud Serverless, 3.x), a relabelled call's new point written first would leave the
      // call under both models for good, summed twice by every dashboard.
      if (deletes.length > 0) await (this.deleteProbe ??= this.probeDelete());
      await this.write(first);
      for (let i = 0; i < deletes.length; i += STATEMENTS_PER_REQUEST) await this.query.influxql(deletes.slice(i, i + STATEMENTS_PER_REQUEST));
      await this.write(after);
    }
    this.s.checked += calls.length;
    this.s.rewritten += rewritten;
    this.s.deleted += deletes.length;
    this.s.missing += missing;
  }

  /**
   * Whether InfluxDB deletes points: a DELETE that matches none (a host tag no daemon has).
   * @throws Error naming what cannot be rewritten, when it refuses.
   */
  private async probeDelete(): Promise<void> {
    try {
      await this.query.influxql([`DELETE FROM ${ident(CALL_MEASUREMENT)} WHERE ${ident('host')} = ${literal(`claudescope-delete-probe-${randomUUID()}`)}`]);
    } catch (err: unknown) {
      throw new Error(`InfluxDB refuses DELETE (${err instanceof Error ? err.message : String(err)}): calls whose model tag changed or that lost a cost cannot be rewritten there without leaving their old points, so nothing was written from the first chunk holding such calls on`, { cause: err });
    }
  }

  /** The stored points of these calls by event id, read by time ranges around them. */
  private async lookup(calls: readonly InfluxRepriceCall[]): Promise<Map<string, StoredPoint[]>> {
    const wanted = new Set(calls.map((c) => c.event.event_id));
    const sorted = [...calls].sort((a, b) => a.event.ts - b.event.ts);
    const statements: string[] = [];
    const columns = ['event_id', ...PRICE_FIELDS].map(ident).join(', ');
    for (let i = 0; i < sorted.length;) {
      const from = Math.floor(sorted[i]!.event.ts);
      let to = from;
      const hosts = new Set<string>();
      for (; i < sorted.length && Math.floor(sorted[i]!.event.ts) - to <= SPAN_GAP_MS; i++) {
        to = Math.floor(sorted[i]!.event.ts);
        hosts.add(sorted[i]!.event.host);
      }
      // A point sits in its event's millisecond: [from ms, to ms + 1 ms).
      const conds = [`time >= ${from}ms`, `time < ${to + 1}ms`];
      if (hosts.size <= MAX_HOST_FILTER) conds.push(`(${[...hosts].map((h) => `${ident('host')} = ${literal(storedTagValue(h))}`).join(' OR ')})`);
      statements.push(`SELECT ${columns} FROM ${ident(CALL_MEASUREMENT)} WHERE ${conds.join(' AND ')} GROUP BY *`);
    }
    const found = new Map<string, StoredPoint[]>();
    for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
      for (const result of await this.query.influxql(statements.slice(i, i + STATEMENTS_PER_REQUEST))) {
        for (const series of result.series ?? []) {
          const idAt = series.columns.indexOf('event_id');
          const timeAt = series.columns.indexOf('time');
          for (const row of series.values ?? []) {
            const id = row[idAt];
            if (typeof id !== 'string' || !wanted.has(id)) continue;
            const fields: Record<string, unknown> = {};
            series.columns.forEach((col, k) => { if (col !== 'time') fields[col] = row[k]; });
            const point: StoredPoint = { time: nanosOfRfc3339(String(row[timeAt])), tags: series.tags ?? {}, fields };
            const list = found.get(id);
            if (list) list.push(point);
            else found.set(id, [point]);
          }
        }
      }
    }
    return found;
  }

  /** Writes lines, trying again a few times when InfluxDB does not take them for now. */
  private async write(lines: readonly string[]): Promise<void> {
    for (let i = 0; i < lines.length; i += LINES_PER_WRITE) {
      const part = lines.slice(i, i + LINES_PER_WRITE);
      for (let attempt = 1; ; attempt++) {
        // Its own writer: the daemon's sink keeps writing meanwhile, and the v2 client's write API must not interleave two flushes.
        this.writer ??= this.o.writer ?? createWriter(this.o.connection);
        try {
          await this.writer.write(part);
          break;
        } catch (raw: unknown) {
          const err = raw instanceof InfluxWriteError ? raw : new InfluxWriteError(null, null, String(raw), { cause: raw });
          // Older than the retention policy since it was looked up: InfluxDB wrote the rest and will never keep these.
          if (beyondRetention(err) !== null) break;
          if (classifyInfluxError(err) !== 'retry' || attempt >= WRITE_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, (this.o.retryDelayMs ?? 1000) * 2 ** (attempt - 1)));
        }
      }
    }
  }
}

/** Deletes exactly one stored point: its whole tag set (an absent tag is `''`) at its nanosecond. */
function deleteStatement(p: StoredPoint): string {
  const conds = CALL_TAGS.map((k) => `${ident(k)} = ${literal(p.tags[k] ?? '')}`);
  return `DELETE FROM ${ident(CALL_MEASUREMENT)} WHERE ${conds.join(' AND ')} AND time = ${p.time}`;
}
