/**
 * The dashboard: its static files at `/` and its JSON API under `/api/`, registered on the
 * daemon's HTTP server. Every API request's query parameters are validated (unknown ones,
 * bad times and ranges answer 400 with a message saying what is wrong); no answer carries
 * configuration secrets (token, SMTP passwords, webhook URLs or secrets). Documented in
 * docs/dashboard.md.
 *
 * The static files hold no data and are served without the token, so the page can load and
 * ask for it; every `/api/` route needs the token whenever the daemon requires one.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpServer } from './http-server.js';
import { sendJson } from './http-server.js';
import { reconcileView, type ReconcileViewContext } from './reconcile-view.js';
import { budgetsInFileForm, type DaemonConfig } from './config.js';
import type { CallFilter, QueryApi, TimeWindow } from '../store/types.js';
import type { RuleEngine } from '../rules/index.js';
import { isoTimeOf } from './iso-time.js';
import { activeSilenceIdFor } from '../rules/silences.js';
import { ClosedSpendCache, MINUTE_MS, alertsView, callDetail, rateLimits, recentCalls, summary, timeseries } from './dashboard-data.js';

export interface DashboardContext {
  query: () => QueryApi;
  rules: () => RuleEngine | null;
  config: DaemonConfig;
  /** Default `Date.now`. */
  now?: () => number;
  /** The month's closed-day spend, shared with the daemon, which drops it when late calls commit. */
  closedSpend?: ClosedSpendCache;
  /** Where the latest reconciliation is read from; omitted: no run is ever shown. */
  reconciliation?: ReconcileViewContext;
  /**
   * Aborted when the daemon's stop begins: every API request answers 503 from then on. The
   * alert engine stops first and closes its state, then the store closes: served meanwhile,
   * a request would fail on either (a 500), or read a store about to close.
   */
  stopping?: AbortSignal;
}

/** What a request to a daemon that is stopping is answered (503). */
export const STOPPING_MESSAGE = 'the daemon is stopping: it answers no more requests; ask again once it runs';

/** A request the API refuses, with the message the client gets. */
export class BadRequest extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'BadRequest';
  }
}

/** A path segment, percent-decoded; a malformed escape (`%E0`) is the client's error, not a 500. */
function decodedPath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest(`malformed percent-encoding in ${JSON.stringify(segment)}`);
  }
}

const DAY_MS = 86_400_000;
/** Longest window a request may ask for. */
export const MAX_WINDOW_MS = 400 * DAY_MS;
/** Most buckets a series may have (charts hold a few hundred points per pixel row at most). */
export const MAX_BUCKETS = 2000;
/** Buckets aimed at when no step is given. */
const TARGET_BUCKETS = 120;
const NICE_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE_MS);
const MAX_BODY_BYTES = 64 * 1024;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: MINUTE_MS, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS };

/** `90s`, `15m`, `2h`, `7d`, `1w` → ms; null when not a duration. */
export function parseDurationMs(s: string): number | null {
  const m = DURATION_RE.exec(s.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** A time parameter: epoch ms, an ISO 8601 time, `now` or `now-<duration>`. */
export function parseTime(name: string, raw: string, now: number): number {
  const s = raw.trim();
  if (/^\d{1,15}$/.test(s)) return Number(s);
  if (s === 'now') return now;
  const rel = /^now-(.+)$/.exec(s);
  if (rel) {
    const d = parseDurationMs(rel[1]!);
    if (d === null) throw new BadRequest(`${name}: "${raw}" is not now-<duration> (e.g. now-24h, now-15m, now-7d)`);
    return now - d;
  }
  return isoTimeOf(name, s, 'epoch milliseconds, an ISO 8601 time with its zone, now or now-24h', BadRequest);
}

/** The request's parameters, refusing unknown or repeated ones. */
function params(url: URL, known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of url.searchParams) {
    if (!known.includes(k)) {
      throw new BadRequest(known.length === 0 ? `unknown query parameter "${k}": this endpoint takes none` : `unknown query parameter "${k}" (known: ${known.join(', ')})`);
    }
    if (out.has(k)) throw new BadRequest(`query parameter "${k}" given twice`);
    out.set(k, v);
  }
  return out;
}

/** `from`/`to` (default the last 24 h), checked: from before to, at most {@link MAX_WINDOW_MS}. */
export function windowOf(p: Map<string, string>, now: number): TimeWindow {
  const end = p.has('to') ? parseTime('to', p.get('to')!, now) : now;
  const start = p.has('from') ? parseTime('from', p.get('from')!, now) : end - DAY_MS;
  if (!(start < end)) throw new BadRequest(`bad range: from (${new Date(start).toISOString()}) must be before to (${new Date(end).toISOString()})`);
  if (end - start > MAX_WINDOW_MS) throw new BadRequest(`bad range: ${Math.round((end - start) / DAY_MS)} days is longer than the ${MAX_WINDOW_MS / DAY_MS} days allowed`);
  return { start, end };
}

/** `step` (a duration or ms, a multiple of 1m), else a round step giving about {@link TARGET_BUCKETS} buckets. */
export function stepOf(p: Map<string, string>, w: TimeWindow): number {
  const span = w.end - w.start;
  const raw = p.get('step');
  if (raw === undefined) return NICE_STEPS_MS.find((s) => span / s <= TARGET_BUCKETS) ?? Math.ceil(span / TARGET_BUCKETS / DAY_MS) * DAY_MS;
  const ms = /^\d+$/.test(raw) ? Number(raw) : parseDurationMs(raw);
  if (ms === null || ms <= 0 || ms % MINUTE_MS !== 0) throw new BadRequest(`step: "${raw}" must be a whole number of minutes (e.g. 1m, 5m, 1h, or 60000)`);
  if (Math.ceil(span / ms) > MAX_BUCKETS) throw new BadRequest(`step: ${raw} gives ${Math.ceil(span / ms)} buckets over this range; at most ${MAX_BUCKETS} (choose a larger step)`);
  return ms;
}

const FILTER_PARAMS = ['model', 'feature', 'status', 'error_type', 'app'] as const;
const STATUSES = ['ok', 'error', 'aborted'];

function filterOf(p: Map<string, string>): CallFilter {
  const f: CallFilter = {};
  for (const k of FILTER_PARAMS) {
    const v = p.get(k);
    if (v === undefined) continue;
    if (v === '' || v.length > 200) throw new BadRequest(`${k}: expected a value of 1-200 characters`);
    if (k === 'status' && !STATUSES.includes(v)) throw new BadRequest(`status: "${v}" is not one of ${STATUSES.join(', ')}`);
    f[k] = v;
  }
  return f;
}

function intOf(p: Map<string, string>, name: string, dflt: number, min: number, max: number): number {
  const raw = p.get(name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new BadRequest(`${name}: expected an integer ${min}-${max}, got "${raw}"`);
  return Number(raw);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new BadRequest('expected a JSON body (content-type: application/json)', 415);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`body larger than ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BadRequest('the body is not valid JSON');
  }
}

type ApiHandler = (ctx: { req: IncomingMessage; url: URL; now: number }) => Promise<{ status?: number; body: unknown }>;

/** Static files of the page: path → file, content type. */
function staticFiles(): Record<string, { file: string; type: string }> {
  const web = (name: string) => new URL(`./web/${name}`, import.meta.url).pathname;
  const require = createRequire(import.meta.url);
  return {
    '/': { file: web('index.html'), type: 'text/html; charset=utf-8' },
    '/index.html': { file: web('index.html'), type: 'text/html; charset=utf-8' },
    '/app.js': { file: web('app.js'), type: 'text/javascript; charset=utf-8' },
    '/format.js': { file: web('format.js'), type: 'text/javascript; charset=utf-8' },
    '/styles.css': { file: web('styles.css'), type: 'text/css; charset=utf-8' },
    '/vendor/uPlot.iife.min.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    '/vendor/uPlot.min.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
}

/** The page may load only its own scripts and styles and talk only to this daemon. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Registers the page and the API on the daemon's server. */
export function registerDashboardRoutes(server: HttpServer, ctx: DashboardContext): void {
  const now = ctx.now ?? (() => Date.now());
  const cache = new Map<string, Buffer>();
  for (const [path, { file, type }] of Object.entries(staticFiles())) {
    server.route('GET', path, (_req: IncomingMessage, res: ServerResponse) => {
      let body = cache.get(file);
      if (!body) {
        body = readFileSync(file);
        cache.set(file, body);
      }
      res.writeHead(200, {
        'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'content-security-policy': CSP,
      });
      res.end(body);
    }, { public: true });
  }

  const api = (method: string, path: string, handler: ApiHandler, prefix = false): void => {
    server.route(method, path, async (req, res, url) => {
      try {
        if (ctx.stopping?.aborted) throw new BadRequest(STOPPING_MESSAGE, 503);
        const { status, body } = await handler({ req, url, now: now() });
        sendJson(res, status ?? 200, body);
      } catch (err: unknown) {
        const code = err instanceof Error ? (err as { code?: string }).code : undefined;
        if (err instanceof BadRequest) sendJson(res, err.status, { error: err.status === 404 ? 'not_found' : err.status === 503 ? 'unavailable' : 'bad_request', message: err.message });
        else if (code === 'E_QUERY_INVALID') sendJson(res, 400, { error: 'bad_request', message: (err as Error).message });
        // A request under way when the stop closed the store, or cancelled its InfluxDB query.
        else if (code === 'E_STORE_CLOSED' || (code === 'E_QUERY_INFLUX' && ctx.stopping?.aborted === true)) sendJson(res, 503, { error: 'unavailable', message: STOPPING_MESSAGE });
        // A row whose stored line is gone (the store was changed outside claudescope): said, not a bare 500.
        else if (code === 'E_STORE_LINE_MISSING') sendJson(res, 500, { error: 'store_damaged', message: (err as Error).message });
        // InfluxDB (the store of an InfluxDB-only daemon or of a fleet's rules) unreachable or refusing a query.
        else if (code === 'E_QUERY_INFLUX') sendJson(res, 503, { error: 'unavailable', message: (err as Error).message });
        else throw err;
      }
    }, { prefix });
  };

  const budgets = { dailyUsd: ctx.config.budgets.dailyUsd, monthlyUsd: ctx.config.budgets.monthlyUsd };

  api('GET', '/api/config', async ({ url }) => {
    params(url, []);
    // Only what the page needs; never the token, notifiers or pricing overrides.
    return {
      body: {
        budgets: { ...budgetsInFileForm(ctx.config.budgets), time_zone: 'UTC' },
        auth_required: ctx.config.auth.requireToken,
        limits: { max_window_days: MAX_WINDOW_MS / DAY_MS, max_buckets: MAX_BUCKETS },
      },
    };
  });

  api('GET', '/api/summary', async ({ url, now: t }) => {
    const p = params(url, ['from', 'to']);
    return { body: await summary({ query: ctx.query(), window: windowOf(p, t), now: t, budgets, engine: ctx.rules(), ...(ctx.closedSpend ? { closedSpend: ctx.closedSpend } : {}) }) };
  });

  api('GET', '/api/timeseries', async ({ url, now: t }) => {
    const p = params(url, ['from', 'to', 'step', 'stack_by']);
    const w = windowOf(p, t);
    const stackBy = p.get('stack_by') ?? 'model';
    if (stackBy !== 'model' && stackBy !== 'feature') throw new BadRequest(`stack_by: "${stackBy}" is not one of model, feature`);
    return { body: await timeseries({ query: ctx.query(), window: w, stepMs: stepOf(p, w), stackBy }) };
  });

  api('GET', '/api/ratelimits', async ({ url }) => {
    params(url, []);
    return { body: await rateLimits(ctx.query()) };
  });

  api('GET', '/api/calls/', async ({ url }) => {
    params(url, []);
    const id = decodedPath(url.pathname.slice('/api/calls/'.length));
    if (id === '' || id.includes('/') || id.length > 200) throw new BadRequest('expected /api/calls/<event_id>');
    const d = await callDetail(ctx.query(), id);
    if (!d) throw new BadRequest(`no call ${id}`, 404);
    return { body: d };
  }, true);

  api('GET', '/api/calls', async ({ url, now: t }) => {
    const p = params(url, ['from', 'to', 'limit', 'cursor', ...FILTER_PARAMS]);
    const cursor = p.get('cursor');
    if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new BadRequest('cursor: not a cursor from a previous page');
    return {
      body: await recentCalls(ctx.query(), { window: windowOf(p, t), filter: filterOf(p), limit: intOf(p, 'limit', 50, 1, 500), ...(cursor !== undefined ? { cursor } : {}) }),
    };
  });

  api('GET', '/api/alerts', async ({ url, now: t }) => {
    params(url, []);
    return { body: alertsView(ctx.rules(), t) };
  });

  api('GET', '/api/silences', async ({ url, now: t }) => {
    const p = params(url, ['all']);
    const engine = requireEngine(ctx);
    const raw = p.get('all');
    if (raw !== undefined && raw !== 'true' && raw !== 'false') throw new BadRequest(`all: "${raw}" is not true or false`);
    const all = raw === 'true';
    return { body: { silences: engine.silences().filter((s) => all || s.endsAt > t) } };
  });

  api('POST', '/api/silences', async ({ req, url }) => {
    params(url, []);
    const engine = requireEngine(ctx);
    const body = await readJsonBody(req);
    const { parseMatcher } = await import('../rules/silences.js');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('expected a JSON object {matchers, duration, comment?, created_by?}');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!['matchers', 'duration', 'comment', 'created_by'].includes(k)) throw new BadRequest(`unknown field "${k}" (known: matchers, duration, comment, created_by)`);
    if (!Array.isArray(b['matchers']) || b['matchers'].length === 0 || !b['matchers'].every((m) => typeof m === 'string')) {
      throw new BadRequest('matchers: expected a non-empty list of strings such as "alertname=ClaudeHighErrorRate"');
    }
    let matchers;
    try {
      matchers = (b['matchers'] as string[]).map(parseMatcher);
    } catch (err: unknown) {
      throw new BadRequest(`matchers: ${err instanceof Error ? err.message : String(err)}`);
    }
    const durationMs = typeof b['duration'] === 'string' ? parseDurationMs(b['duration']) : null;
    if (durationMs === null || durationMs <= 0) throw new BadRequest('duration: expected a duration such as "30m", "2h" or "1d"');
    for (const k of ['comment', 'created_by'] as const) {
      if (b[k] !== undefined && (typeof b[k] !== 'string' || b[k].length > 1000)) throw new BadRequest(`${k}: expected a string of at most 1000 characters`);
    }
    const silence = engine.addSilence(matchers, {
      durationMs,
      ...(typeof b['comment'] === 'string' ? { comment: b['comment'] } : {}),
      ...(typeof b['created_by'] === 'string' ? { createdBy: b['created_by'] } : {}),
    });
    return { status: 201, body: { silence } };
  });

  api('DELETE', '/api/silences/', async ({ url, now: t }) => {
    params(url, []);
    const id = decodedPath(url.pathname.slice('/api/silences/'.length));
    const engine = requireEngine(ctx);
    // An id or a prefix naming one active silence (as `silence list` shows ids).
    const full = activeSilenceIdFor(engine.silences(), id, t);
    if (full === null || !engine.expireSilence(full)) throw new BadRequest(`no silence ${id} (or several start with it: give more of the id)`, 404);
    return { body: { expired: full } };
  }, true);

  api('GET', '/api/reconcile/latest', async ({ url }) => {
    const p = params(url, ['limit']);
    const limit = intOf(p, 'limit', 100, 1, 1000);
    const r = ctx.reconciliation;
    return { body: r ? reconcileView(r, limit) : { schedule: null, embedded_store: false, run: null } };
  });
}

function requireEngine(ctx: DashboardContext): RuleEngine {
  const e = ctx.rules();
  if (!e) throw new BadRequest('the alert engine is not running', 503);
  return e;
}
