/**
 * The InfluxDB sink: priced calls become `claude_call` points, written in one request per
 * batch; the promise resolves only once InfluxDB acknowledged every point (or refused some
 * for good, which are then dead-lettered). The caller advances its checkpoints after that.
 *
 * Failures (classified once, in `classifyInfluxError`):
 * - 413: the batch is split in halves until it fits (a single point too large is dead-lettered);
 * - 400/422: the batch is bisected to find the refused points, which go to the dead-letter file
 *   (by file id, offset and length, as the tailer records lines); the others are written;
 * - 400/422 `partial write: points beyond retention policy dropped=N` alone: InfluxDB wrote the
 *   other points and will never keep these; the batch is done (counted in `beyondRetention`);
 * - 401/403: the sink stops (every batch fails fast, nothing advances), the `authFailed` flag
 *   is raised for the metric, and an error is logged once;
 * - 429, 5xx, 404, network, timeout: back off (capped exponential, full jitter, at least the
 *   server's Retry-After) and try the same points again, in place (a 404's warning names the
 *   missing database or bucket, or the missing v2 API: {@link notFoundHint}). Memory stays flat: the
 *   tailer has a fixed number of batches in flight and stops reading when none is free.
 *
 * @example
 * const sink = new InfluxSink({ connection, deadLetterPath: 'data/dead-letter.ndjson' });
 * await sink.writeCalls(calls);  // acknowledged (or dead-lettered) when it resolves
 * await sink.close();
 */
import { DeadLetterFile } from '../tail/dead-letter.js';
import type { CallEvent } from '../event/types.js';
import type { PriceResult } from '../pricing/types.js';
import { callLine, fnv1a, healthLine, type HealthPoint } from './influx-point-schema.js';
import { InfluxWriteError, classifyInfluxError, createWriter, type InfluxConnection, type InfluxWriter } from './influx-writer.js';

/** Where a call's line sits in its event file (for the dead-letter record). */
export interface CallSource {
  fileKey: string;
  path: string;
  offset: number;
  length: number;
}

export interface SinkCall {
  event: CallEvent;
  price: PriceResult | null;
  source?: CallSource | undefined;
}

export interface InfluxSinkOptions {
  connection: InfluxConnection;
  /** The daemon's dead-letter file, `<home>/data/dead-letter.ndjson`. */
  deadLetterPath: string;
  /** First retry delay. Default 500 ms. */
  minRetryDelayMs?: number;
  /** Longest retry delay. Default 30 000 ms. */
  maxRetryDelayMs?: number;
  /** Points per request (a batch larger than this is sent in several). Default 5000. */
  maxPointsPerRequest?: number;
  /**
   * While health points cannot be written, how often the failure is logged again (with the
   * number of failures since). Default 300 000 ms.
   */
  healthWarnIntervalMs?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** A writer to use instead of the configured one (fault injection in tests). */
  writer?: InfluxWriter;
}

/**
 * Thrown by a write while the sink is stopped (auth refused) or closing (`E_SINK_CLOSED`, the
 * tailer's SINK_CLOSED: the points were given up unwritten for a stop, their checkpoints kept).
 */
export class InfluxSinkError extends Error {
  constructor(readonly code: 'E_SINK_AUTH' | 'E_SINK_CLOSED', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfluxSinkError';
  }
}

/** Cumulative counters of the sink, a plain object for metrics and health. */
export interface InfluxSinkHealth {
  pointsWritten: number;
  requests: number;
  retries: number;
  /** Failed requests by class (`split`, `reject`, `auth`, `retry`). */
  errors: Record<'split' | 'reject' | 'auth' | 'retry', number>;
  /** Points refused for good and recorded in the dead-letter file. */
  deadLettered: number;
  /** Credentials refused: the sink has stopped. */
  authFailed: boolean;
  /** Time of the last acknowledged write, epoch ms, or null. */
  lastWriteMs: number | null;
  /** Points InfluxDB dropped as older than its retention policy (the rest of their batch was written). */
  beyondRetention: number;
}

/** Health writes failing in a row: since when, when last logged, and how many (in all, and since that log). */
interface HealthFailing {
  sinceMs: number;
  loggedAtMs: number;
  total: number;
  unlogged: number;
}

interface Pending {
  line: string;
  source: CallSource | undefined;
  eventId: string;
}

export class InfluxSink {
  private readonly writer: InfluxWriter;
  private healthWriter: InfluxWriter | undefined;
  private readonly deadLetters: DeadLetterFile;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly perRequest: number;
  private readonly fileHashes = new Map<string, number>();
  private closing = false;
  private retentionLoggedAt = -Infinity;
  private healthFailing: HealthFailing | null = null;
  private wake: (() => void) | undefined;
  private readonly h: InfluxSinkHealth = {
    pointsWritten: 0, requests: 0, retries: 0, errors: { split: 0, reject: 0, auth: 0, retry: 0 }, deadLettered: 0, authFailed: false, lastWriteMs: null, beyondRetention: 0,
  };

  constructor(private readonly o: InfluxSinkOptions) {
    this.writer = o.writer ?? createWriter(o.connection);
    this.deadLetters = new DeadLetterFile(o.deadLetterPath);
    this.minDelay = o.minRetryDelayMs ?? 500;
    this.maxDelay = o.maxRetryDelayMs ?? 30_000;
    this.perRequest = o.maxPointsPerRequest ?? 5000;
    if (!(this.minDelay > 0) || !(this.maxDelay >= this.minDelay)) throw new RangeError('retry delays must satisfy 0 < min ≤ max');
    if (!(this.perRequest >= 1)) throw new RangeError('maxPointsPerRequest must be at least 1');
  }

  health(): InfluxSinkHealth {
    return { ...this.h, errors: { ...this.h.errors } };
  }

  /** The line of one call (exposed for tests and the benchmark). */
  lineOf(c: SinkCall): string {
    const key = c.source?.fileKey ?? `${c.event.host}/${c.event.pid}`;
    let hash = this.fileHashes.get(key);
    if (hash === undefined) {
      if (this.fileHashes.size > 100_000) this.fileHashes.clear(); // bounded memory
      hash = fnv1a(key);
      this.fileHashes.set(key, hash);
    }
    return callLine(c.event, c.price, hash);
  }

  /**
   * Writes the calls; resolves once every point was acknowledged or dead-lettered. Rejects
   * only when the sink is stopped (auth) or closing: the caller must then not advance.
   */
  async writeCalls(calls: readonly SinkCall[]): Promise<void> {
    if (calls.length === 0) return;
    this.assertOpen();
    const points: Pending[] = new Array(calls.length);
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      points[i] = { line: this.lineOf(c), source: c.source, eventId: c.event.event_id };
    }
    for (let i = 0; i < points.length; i += this.perRequest) await this.writePoints(points.slice(i, i + this.perRequest));
  }

  /** Writes one health sample (best effort: a failure is logged, never retried). */
  async writeHealth(p: HealthPoint): Promise<boolean> {
    if (this.closing || this.h.authFailed) return false;
    // Its own writer: the v2 client's write API must not interleave two flushes.
    this.healthWriter ??= this.o.writer ?? createWriter(this.o.connection);
    try {
      await this.healthWriter.write([healthLine(p)]);
      this.healthWritten();
      return true;
    } catch (err: unknown) {
      // A stop ends a health write in progress: nothing to warn about.
      if (!this.closing) this.healthFailed(String((err as Error).message ?? err));
      return false;
    }
  }

  /**
   * Logs a failed health write when the failures start, then at most once per
   * healthWarnIntervalMs with the count since: a health point is due every few seconds, and an
   * InfluxDB refusing writes for hours would otherwise fill the log with the same line.
   */
  private healthFailed(reason: string): void {
    const now = Date.now();
    const f = this.healthFailing;
    const every = this.o.healthWarnIntervalMs ?? 300_000;
    if (f === null) {
      this.healthFailing = { sinceMs: now, loggedAtMs: now, total: 1, unlogged: 0 };
      this.o.log?.('warn', `could not write the pipeline health point to InfluxDB (logged again at most every ${Math.round(every / 1000)} s while it fails)`, { err: reason });
      return;
    }
    f.total++;
    f.unlogged++;
    if (now - f.loggedAtMs < every) return;
    this.o.log?.('warn', 'still cannot write the pipeline health point to InfluxDB', { err: reason, failures: f.unlogged, failingSince: new Date(f.sinceMs).toISOString() });
    f.loggedAtMs = now;
    f.unlogged = 0;
  }

  /** Ends a run of failed health writes with one line saying they pass again. */
  private healthWritten(): void {
    const f = this.healthFailing;
    if (f === null) return;
    this.healthFailing = null;
    this.o.log?.('info', 'the pipeline health point is written to InfluxDB again', { failures: f.total, failingSince: new Date(f.sinceMs).toISOString() });
  }

  /**
   * Stops retrying and closes the writers, which ends a request in progress: an InfluxDB that
   * took the connection but does not answer would otherwise hold the stop for the request's
   * whole timeout. In-flight writes reject with E_SINK_CLOSED, unacknowledged.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.writer.close();
    if (this.healthWriter && this.healthWriter !== this.writer) await this.healthWriter.close();
  }

  private assertOpen(): void {
    if (this.closing) throw new InfluxSinkError('E_SINK_CLOSED', 'the InfluxDB sink is closing');
    if (this.h.authFailed) throw new InfluxSinkError('E_SINK_AUTH', 'InfluxDB refused the credentials (401/403): the InfluxDB sink has stopped; fix influxdb.token or the v1 credentials and restart');
  }

  /** Writes a chunk, splitting and dead-lettering as the failure classes say. */
  private async writePoints(points: Pending[]): Promise<void> {
    const work: Pending[][] = [points];
    while (work.length > 0) {
      const chunk = work.shift()!;
      const err = await this.postWithRetry(chunk);
      if (err === null) continue;
      const cls = classifyInfluxError(err);
      if (cls === 'auth') {
        this.h.authFailed = true;
        this.o.log?.('error', 'InfluxDB refused the credentials: the InfluxDB sink stops (nothing is lost: the files keep the events)', { status: err.status });
        throw new InfluxSinkError('E_SINK_AUTH', err.message, { cause: err });
      }
      // split (413) or reject (400/422): halve until the offending points stand alone.
      if (chunk.length > 1) {
        const mid = chunk.length >> 1;
        work.unshift(chunk.slice(0, mid), chunk.slice(mid));
        continue;
      }
      this.deadLetter(chunk[0]!, cls === 'split' ? 'sink_too_large' : 'sink_rejected', err);
    }
  }

  /** Posts until acknowledged (null) or refused for a non-retryable reason (the error). */
  private async postWithRetry(chunk: Pending[]): Promise<InfluxWriteError | null> {
    let attempt = 0;
    for (;;) {
      this.assertOpen();
      this.h.requests++;
      try {
        await this.writer.write(chunk.map((p) => p.line));
        this.h.pointsWritten += chunk.length;
        this.h.lastWriteMs = Date.now();
        return null;
      } catch (raw: unknown) {
        const err = raw instanceof InfluxWriteError ? raw : new InfluxWriteError(null, null, String(raw), { cause: raw });
        const dropped = beyondRetention(err);
        if (dropped !== null) {
          // InfluxDB wrote every other point of the request and will never keep these: the
          // batch is done. (Bisecting it would resend it about twice per old point and
          // dead-letter each one: a storm when a backlog older than the retention replays.)
          this.acceptBeyondRetention(chunk.length, dropped, err);
          return null;
        }
        // Closed while the request was out (aborted, or failed meanwhile): given up for the stop,
        // its checkpoints kept, rather than retried after a back-off the stop would wait for.
        if (this.closing) throw new InfluxSinkError('E_SINK_CLOSED', 'the InfluxDB sink is closing: the write was given up before InfluxDB acknowledged it', { cause: err });
        const cls = classifyInfluxError(err);
        this.h.errors[cls]++;
        if (cls !== 'retry') return err;
        attempt++;
        this.h.retries++;
        const cap = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(attempt - 1, 30));
        // Full jitter, but never sooner than the server asked for.
        const delay = Math.min(this.maxDelay * 4, Math.max(err.retryAfterMs ?? 0, cap * (0.5 + Math.random() / 2)));
        if (attempt === 1 || attempt % 10 === 0) {
          const hint = notFoundHint(err, this.o.connection);
          this.o.log?.('warn', 'InfluxDB write failed; backing off and retrying (reading stopped meanwhile)', { status: err.status ?? 'network', attempt, retryInMs: Math.round(delay), err: err.body.slice(0, 200), ...(hint !== null ? { hint } : {}) });
        }
        await this.sleep(delay);
      }
    }
  }

  private acceptBeyondRetention(points: number, dropped: number, err: InfluxWriteError): void {
    const n = Math.min(points, dropped);
    this.h.pointsWritten += points - n;
    this.h.beyondRetention += n;
    this.h.lastWriteMs = Date.now();
    const now = Date.now();
    if (now - this.retentionLoggedAt >= 60_000) {
      this.retentionLoggedAt = now;
      this.o.log?.('warn', 'InfluxDB dropped points older than its retention policy (the rest of the batch was written); counted in claudescope_influx_points_beyond_retention_total', { status: err.status, dropped: n, total: this.h.beyondRetention });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined = undefined;
      const done = (): void => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      t = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private deadLetter(p: Pending, reason: 'sink_rejected' | 'sink_too_large', err: InfluxWriteError): void {
    const s = p.source;
    this.deadLetters.write([{
      reason, file_id: s?.fileKey ?? '', path: s?.path ?? '', offset: s?.offset ?? -1, length: s?.length ?? p.line.length,
      detail: `InfluxDB ${err.status}: ${err.body.slice(0, 500)} (event_id ${p.eventId})`,
    }]);
    this.h.deadLettered++;
    this.o.log?.('warn', 'InfluxDB refused a point for good; recorded in the dead-letter file', { reason, status: err.status, event_id: p.eventId });
  }
}

/**
 * The number of points InfluxDB dropped as older than the retention policy when that is the
 * only reason it refused the request (1.x: 400, 2.x: 422 `partial write: points beyond
 * retention policy dropped=N`; the other points were written), else null.
 */
export function beyondRetention(err: InfluxWriteError): number | null {
  if (err.status !== 400 && err.status !== 422) return null;
  const m = /partial write: points beyond retention policy dropped=(\d+)/.exec(err.body);
  return m ? Number(m[1]) : null;
}

/**
 * What to do about a write answered 404, which is retried as an outage is (a database or bucket
 * created later is then written to) but never passes by itself: null for any other failure.
 * InfluxDB before 1.8 has no `/api/v2/write` (a bare `404 page not found`), which `api: v2`, the
 * default, posts to; otherwise the database (1.x) or bucket (2.x) does not exist.
 */
export function notFoundHint(err: InfluxWriteError, c: Pick<InfluxConnection, 'api' | 'bucket' | 'database'>): string | null {
  if (err.status !== 404) return null;
  if (c.api === 'v2' && /page not found/i.test(err.body)) {
    return 'this InfluxDB has no /api/v2/write (a server before 1.8): set influxdb.api: v1 (and influxdb.database)';
  }
  return c.api === 'v1'
    ? `no database ${JSON.stringify(c.database)} on this InfluxDB: create it (CREATE DATABASE) or set influxdb.database`
    : `no bucket ${JSON.stringify(c.bucket)} on this InfluxDB: create it or set influxdb.bucket`;
}
