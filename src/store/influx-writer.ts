/**
 * The two write paths to InfluxDB, behind one small interface: a body of line protocol
 * either acknowledged (resolve) or refused with an {@link InfluxWriteError} that carries
 * the HTTP status and Retry-After. Retries are never left to a library (see influx-sink.ts).
 *
 * - `v2`: `@influxdata/influxdb-client` (`/api/v2/write`, accepted by InfluxDB 1.8+, 2.x,
 *   3.x and Cloud), with its retry buffer off (`maxRetries: 0`, and a `writeFailed` hook that
 *   hands every failure straight back), one flush per batch.
 * - `v1`: `POST /write?db=&rp=&precision=ns` for older 1.x servers.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { InfluxDB, HttpError, type WriteApi } from '@influxdata/influxdb-client';
import { InfluxRequests } from './influx-requests.js';

/** Where and how to write; see the `influxdb:` block of the daemon's configuration. */
export interface InfluxConnection {
  /** e.g. `http://influxdb:8086`. */
  url: string;
  /** `v2` (default) or `v1`. */
  api: 'v1' | 'v2';
  /** v2 organisation (InfluxDB 1.8 ignores it). Default `''`. */
  org: string;
  /** v2 bucket (`database/retention_policy` names a retention policy on InfluxDB 1.8). */
  bucket: string;
  /**
   * The database of v1 writes and of InfluxQL queries (default: the bucket, or its part before
   * the slash), and their retention policy (null: the database's default). With `api: v2` the
   * retention policy is the bucket's part after the slash, the one v2 writes reach.
   */
  database: string;
  retentionPolicy: string | null;
  /** API token (`Authorization: Token …`); for v2 required by 2.x/3.x/Cloud. Never logged. */
  token: string | null;
  /** v1 credentials (also InfluxDB 2's v1-compatible auth for InfluxQL). Never logged. */
  username: string | null;
  password: string | null;
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs: number;
}

export type InfluxErrorClass = 'split' | 'reject' | 'auth' | 'retry';

/** A write InfluxDB refused or that did not reach it. `status` null: network or timeout. */
export class InfluxWriteError extends Error {
  readonly code = 'E_SINK_WRITE';
  constructor(readonly status: number | null, readonly retryAfterMs: number | null, readonly body: string, options?: { cause?: unknown }) {
    super(status === null ? `InfluxDB unreachable: ${body}` : `InfluxDB answered ${status}: ${body.slice(0, 300)}`, options);
    this.name = 'InfluxWriteError';
  }
}

/**
 * The one place sink failures are classified (the tailer rules, 10): 413 → split the batch;
 * 400/422 → the data is refused, dead-letter it; 401/403 → stop and alert; everything else
 * (429, 5xx, network, timeout) → back off and retry.
 */
export function classifyInfluxError(err: InfluxWriteError): InfluxErrorClass {
  const s = err.status;
  if (s === 413) return 'split';
  if (s === 400 || s === 422) return 'reject';
  if (s === 401 || s === 403) return 'auth';
  return 'retry';
}

/** Parses Retry-After (seconds or an HTTP date) into ms; null when absent or unreadable. */
export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | null {
  if (v === null || v === undefined || v.trim() === '') return null;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export interface InfluxWriter {
  /** Posts lines joined by `\n`; resolves once InfluxDB acknowledged (2xx). */
  write(lines: readonly string[]): Promise<void>;
  /** Aborts a write in progress (it rejects) and refuses later ones. */
  close(): Promise<void>;
}

/** Headers for the v1 paths (`/write`, `/query`): token or basic credentials. */
export function authHeaders(c: InfluxConnection): Record<string, string> {
  if (c.token) return { authorization: `Token ${c.token}` };
  if (c.username !== null) return { authorization: `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}` };
  return {};
}

export function createWriter(c: InfluxConnection): InfluxWriter {
  return c.api === 'v1' ? new V1Writer(c) : new V2Writer(c);
}

class V1Writer implements InfluxWriter {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  /** The write in progress, ended by its timeout or by {@link close}. */
  private readonly requests: InfluxRequests;

  constructor(private readonly c: InfluxConnection) {
    this.requests = new InfluxRequests(c.timeoutMs);
    const q = new URLSearchParams({ db: c.database, precision: 'ns' });
    if (c.retentionPolicy) q.set('rp', c.retentionPolicy);
    this.url = `${c.url.replace(/\/+$/, '')}/write?${q.toString()}`;
    this.headers = { 'content-type': 'text/plain; charset=utf-8', ...authHeaders(c) };
  }

  async write(lines: readonly string[]): Promise<void> {
    await this.requests.run((signal) => this.post(lines, signal));
  }

  private async post(lines: readonly string[], signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers: this.headers, body: lines.join('\n'), signal });
    } catch (err: unknown) {
      throw new InfluxWriteError(null, null, String((err as Error).message ?? err), { cause: err });
    }
    if (res.status >= 200 && res.status < 300) {
      await res.arrayBuffer().catch(() => undefined);
      return;
    }
    const body = await res.text().catch(() => '');
    throw new InfluxWriteError(res.status, parseRetryAfter(res.headers.get('retry-after')), body);
  }

  close(): Promise<void> {
    this.requests.close();
    return Promise.resolve();
  }
}

/** Larger than any batch the sink sends, so one flush is one request. */
const V2_MAX_BATCH_LINES = 1_000_000;

class V2Writer implements InfluxWriter {
  private readonly api: WriteApi;
  private readonly agent: HttpAgent;

  constructor(c: InfluxConnection) {
    // The writer's own agent (as Node's global one: keep-alive, idle sockets closed after 5 s),
    // so that close() can end a request in progress by destroying its socket: the write API's
    // close leaves it running, and a signal in the transport options would gain a listener
    // with every request, never removed.
    const options = { keepAlive: true, scheduling: 'lifo', timeout: 5000 } as const;
    this.agent = new URL(c.url).protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    const client = new InfluxDB({ url: c.url, token: c.token ?? '', timeout: c.timeoutMs, transportOptions: { agent: this.agent } });
    this.api = client.getWriteApi(c.org, c.bucket, 'ns', {
      batchSize: V2_MAX_BATCH_LINES,
      maxBatchBytes: Number.MAX_SAFE_INTEGER,
      flushInterval: 0,
      // The client's own retry buffer drops the oldest lines when full and lives in memory:
      // never rely on it. Every failure comes back to the sink, which retries from the files.
      maxRetries: 0,
      maxBufferLines: 1,
      writeFailed: (err: Error) => Promise.reject(err),
    });
  }

  async write(lines: readonly string[]): Promise<void> {
    this.api.writeRecords(lines as string[]);
    try {
      await this.api.flush();
    } catch (err: unknown) {
      if (err instanceof HttpError) {
        const ra = err.headers?.['retry-after'];
        throw new InfluxWriteError(err.statusCode, parseRetryAfter(Array.isArray(ra) ? ra[0] : ra), err.body ?? err.message, { cause: err });
      }
      throw new InfluxWriteError(null, null, String((err as Error).message ?? err), { cause: err });
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.api.close().catch(() => undefined);
  }
}
