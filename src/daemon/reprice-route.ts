/**
 * `POST /api/reprice` on the daemon: `{ "since": "2026-11-01", "until"?: "…", "dry_run"?: true }`
 * reprices the stored calls of the window with the daemon's pricer (its catalog and the
 * `pricing:` block it started with) and answers the {@link RepriceSummary}. The daemon owns the
 * store, so `claudescope reprice` comes here while it runs. One reprice at a time (409 otherwise).
 * With InfluxDB configured, the calls' points there are rewritten too; a failure to reach it
 * is answered in the summary's `influxdb.error` (the store is repriced all the same).
 * Behind the bearer token like every route when one is required.
 *
 * The daemon's stop ends a reprice between two chunks (each chunk is one transaction, so none
 * is half written) and the stop does not wait for the rest: the caller gets 503 `stopped`
 * with the summary of the chunks done (`repriced`); running the same reprice again finishes
 * the window. A reprice asked for once the stop began is refused (503 `unavailable`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pricer } from '../pricing/types.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { InfluxConnection } from '../store/influx-writer.js';
import type { InfluxRepricer } from '../store/influx-reprice.js';
import { sendJson, type RouteHandler } from './http-server.js';
import { RepriceStoppedError, repriceOptionsOf, repriceStore } from './reprice.js';
import { STOPPING_MESSAGE } from './api-routes.js';

const MAX_BODY_BYTES = 64 * 1024;

export interface RepriceRouteContext {
  /** The embedded store, undefined before start or when only InfluxDB is configured. */
  store: () => SqliteStore | undefined;
  pricer: Pricer;
  /** InfluxDB, when the daemon writes there: its points are repriced with the store. */
  influx?: InfluxConnection | undefined;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Aborted when the daemon's stop begins: ends a reprice in progress between two chunks, refuses new ones. */
  stopping?: AbortSignal;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly error = status === 409 ? 'conflict' : status === 503 ? 'unavailable' : 'bad_request') {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected a JSON body (content-type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

/** Registers `POST /api/reprice` through `route` (the daemon's `.route()`). */
export function registerRepriceRoute(route: (method: string, path: string, handler: RouteHandler) => unknown, ctx: RepriceRouteContext): void {
  let running = false;
  route('POST', '/api/reprice', async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (ctx.stopping?.aborted) throw new HttpError(503, STOPPING_MESSAGE);
      let opts;
      try {
        opts = repriceOptionsOf(await readJson(req));
      } catch (err: unknown) {
        throw err instanceof HttpError ? err : new HttpError(400, err instanceof Error ? err.message : String(err));
      }
      const store = ctx.store();
      if (!store) throw new HttpError(409, 'repricing works on the embedded store; this daemon has none (influxdb.embedded_store: false)');
      if (running) throw new HttpError(409, 'a reprice is already running');
      running = true;
      try {
        let influx: InfluxRepricer | undefined;
        if (ctx.influx) {
          const { InfluxRepricer } = await import('../store/influx-reprice.js');
          influx = new InfluxRepricer({ connection: ctx.influx, dryRun: opts.dryRun });
        }
        // The stop also ends the chunk's InfluxDB requests in progress, rather than their timeout_ms.
        const closeInflux = (): void => void influx?.close();
        ctx.stopping?.addEventListener('abort', closeInflux, { once: true });
        let summary;
        try {
          summary = await repriceStore(store, ctx.pricer, { ...opts, ...(ctx.stopping ? { signal: ctx.stopping } : {}) }, influx);
        } catch (err: unknown) {
          if (!(err instanceof RepriceStoppedError)) throw err;
          const s = err.summary;
          ctx.log?.('warn', `the stop ended a reprice: ${err.message}`, { since: s.since, until: s.until ?? 'now', calls: s.calls, rows_changed: s.rows_changed });
          sendJson(res, 503, { error: 'stopped', message: `the daemon stopped during the reprice: ${err.message}`, repriced: s });
          return;
        } finally {
          ctx.stopping?.removeEventListener('abort', closeInflux);
          await influx?.close();
        }
        if (summary.influxdb?.error) {
          ctx.log?.('warn', summary.dry_run ? 'reprice dry run could not check InfluxDB' : 'repriced the store, but InfluxDB was not updated: run the same reprice again once it answers', { since: summary.since, until: summary.until ?? 'now', err: summary.influxdb.error });
        }
        ctx.log?.('info', `${summary.dry_run ? 'reprice dry run' : 'repriced'} ${summary.calls} calls`, {
          since: summary.since, until: summary.until ?? 'now', price_changed: summary.price_changed, before_usd: summary.before_usd, after_usd: summary.after_usd,
        });
        sendJson(res, 200, summary);
      } finally {
        running = false;
      }
    } catch (err: unknown) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, { error: err.error, message: err.message });
    }
  });
}
