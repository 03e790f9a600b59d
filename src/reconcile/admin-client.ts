/**
 * Reads Anthropic's usage and cost reports with an Admin API key:
 *
 * - `analytics` — the Usage and Cost Analytics API (`/v1/organizations/analytics/usage` and
 *   `/cost`, beta header `analytics-usage-cost-2026-08-24`), through the official SDK's
 *   `client.beta.organization.analytics.{usage,cost}.list()`, which adds the header, pages
 *   with `next_page` and retries 429s honouring `retry-after`.
 * - `legacy` — `/v1/organizations/usage_report/messages` and `/v1/organizations/cost_report`,
 *   which the SDK does not wrap: plain HTTP, paged by `next_page`, retried here with capped,
 *   jittered backoff that honours `retry-after` / `retry-after-ms`.
 *
 * Ranges past one request's limit (31 days) are split; progress is reported per request.
 * The key is sent only as `x-api-key` and never appears in an error message or a log line:
 * every message passes through {@link redactKey}.
 *
 * @example
 * const client = new AdminClient({ adminKey: process.env.ANTHROPIC_ADMIN_KEY!, api: 'legacy' });
 * const usage = await client.usage({ start, end }, '1d', ['model', 'service_tier']);
 */
import type { Middleware } from '@anthropic-ai/sdk';
import { centsToNanoUsd } from './money.js';
import { DAY_MS, HOUR_MS, MAX_SPAN_DAYS, iso, splitRange } from './range.js';
import { REPORT_TOKEN_TYPE, TOKEN_TYPES, zeroTokens, type BucketWidth, type ReportApi, type TokenCounts, type TokenType } from './types.js';

/** Dimensions the billed side is grouped by (report spelling). */
export type BilledGroupBy = 'model' | 'service_tier' | 'workspace_id' | 'api_key_id' | 'inference_geo' | 'speed' | 'context_window';
/** What sets a token's price besides the model and tier, without which the billed tokens cannot be priced at local rates. */
export const PRICE_CLASS_NEEDED: readonly BilledGroupBy[] = ['inference_geo', 'speed'];
/**
 * Asked of the usage report to price its tokens, in this order while the report has room: the
 * needed dimensions, then the context window (`0-200k`, `200k-1M`), which tells the tokens of
 * prompts over a long-context threshold, billed at its premium where one was in force.
 */
export const PRICE_CLASS_GROUP_BY: readonly BilledGroupBy[] = [...PRICE_CLASS_NEEDED, 'context_window'];
/** The analytics API takes at most 5 `group_by` dimensions (400 beyond). */
const ANALYTICS_MAX_GROUP_BY = 5;
/** The older usage report groups by `speed` only with this beta header. */
const FAST_MODE_BETA = 'fast-mode-2026-02-01';

export interface BilledUsageRow {
  start: number;
  end: number;
  model: string | null;
  serviceTier: string | null;
  workspaceId: string | null;
  apiKeyId: string | null;
  /** `us`, `global`…; null when not grouped by it (or the report has none). */
  inferenceGeo: string | null;
  /** `standard` or `fast`; null when not grouped by it (or the report has none). */
  speed: string | null;
  /** `0-200k`, `200k-1M`; null when not grouped by it (or the report has none). */
  contextWindow: string | null;
  tokens: TokenCounts;
  webSearchRequests: number;
  /** API requests (analytics API only). */
  requests: number | null;
}

export interface BilledCostRow {
  start: number;
  end: number;
  model: string | null;
  serviceTier: string | null;
  workspaceId: string | null;
  apiKeyId: string | null;
  /** `tokens`, `web_search`, `code_execution`, `session_usage`. */
  costType: string;
  tokenType: TokenType | null;
  /** Amount after discounts, before credits. */
  amountNanoUsd: number;
}

export interface ProgressEvent {
  /** Requests done and (an estimate of) all requests of this run. */
  done: number;
  total: number;
  what: string;
}

export interface AdminClientOptions {
  /** The Admin API key (`sk-ant-admin01-…`). Never printed. */
  adminKey: string;
  /** Which reports to read. */
  api: ReportApi;
  /** Default `https://api.anthropic.com`. */
  baseUrl?: string;
  /** Retries of one request on 429, 408, 5xx and network errors. Default 5. */
  maxRetries?: number;
  /** A `retry-after` longer than this fails the run instead of waiting. Default 300 000 ms. */
  maxRetryAfterMs?: number;
  /**
   * Rows per page asked of the analytics API (1–1000), and buckets per page of the older
   * usage report (capped at its maximum). Default: the maximum.
   */
  pageLimit?: number;
  onProgress?: (p: ProgressEvent) => void;
  /** Told about each wait before a retry (already redacted). */
  onRetry?: (info: { status: number | null; waitMs: number; attempt: number; what: string }) => void;
  /** Injected for tests of backoff; default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** A report request that failed for good. `message` never contains the key. */
export class AdminApiError extends Error {
  readonly code = 'E_ADMIN_API';
  constructor(message: string, readonly status: number | null, readonly type: string | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminApiError';
  }
}

/** Replaces the key (and anything shaped like an admin key) in a text. */
export function redactKey(text: string, key: string): string {
  let out = key.length >= 8 ? text.split(key).join('[redacted admin key]') : text;
  out = out.replace(/sk-ant-admin[0-9A-Za-z_-]{8,}/g, '[redacted admin key]');
  return out;
}

const ANTHROPIC_VERSION = '2023-06-01';
const LEGACY_USAGE_PATH = '/v1/organizations/usage_report/messages';
const LEGACY_COST_PATH = '/v1/organizations/cost_report';
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

const TOKEN_TYPE_OF = new Map<string, TokenType>(TOKEN_TYPES.map((t) => [REPORT_TOKEN_TYPE[t], t]));

export class AdminClient {
  readonly api: ReportApi;
  private readonly key: string;
  private readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly maxRetryAfterMs: number;
  private readonly pageLimit: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private requestsDone = 0;
  private requestsPlanned = 0;
  /** The newest `data_refreshed_at` the analytics API reported. */
  dataRefreshedAt: string | null = null;

  constructor(private readonly o: AdminClientOptions) {
    if (typeof o.adminKey !== 'string' || o.adminKey.trim() === '') throw new AdminApiError('no Admin API key: set ANTHROPIC_ADMIN_KEY or reconcile.admin_key', null, null);
    this.api = o.api;
    this.key = o.adminKey.trim();
    this.baseUrl = (o.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '');
    this.maxRetries = o.maxRetries ?? 5;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 300_000;
    this.pageLimit = o.pageLimit ?? 1000;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Declares how many requests the run will make at least (for progress). */
  plan(requests: number): void {
    this.requestsPlanned += requests;
  }

  /** Chunks of one request each for this API and width. */
  chunks(range: { start: number; end: number }, width: BucketWidth, kind: 'usage' | 'cost'): { start: number; end: number }[] {
    // The older usage report pages 168 hourly buckets at most; everything else spans ≤ 31 days.
    const span = this.api === 'legacy' && kind === 'usage' && width === '1h' ? 168 * HOUR_MS : MAX_SPAN_DAYS * DAY_MS;
    return splitRange(range.start, range.end, span);
  }

  /**
   * The price-class dimensions ({@link PRICE_CLASS_GROUP_BY}) the usage report can add to
   * `groupBy`: all on the older report; on the analytics API those within its 5 dimensions.
   */
  priceClassGroupBy(groupBy: readonly BilledGroupBy[]): BilledGroupBy[] {
    const room = this.api === 'analytics' ? Math.max(0, ANALYTICS_MAX_GROUP_BY - groupBy.length) : PRICE_CLASS_GROUP_BY.length;
    return PRICE_CLASS_GROUP_BY.slice(0, room);
  }

  /** Billed token usage over the range, grouped by `groupBy`, one row per bucket and group. */
  async usage(range: { start: number; end: number }, width: BucketWidth, groupBy: BilledGroupBy[]): Promise<BilledUsageRow[]> {
    const out: BilledUsageRow[] = [];
    for (const c of this.chunks(range, width, 'usage')) {
      if (this.api === 'analytics') await this.analyticsUsage(c, width, groupBy, out);
      else await this.legacyUsage(c, width, groupBy, out);
    }
    return out;
  }

  /**
   * Whether the cost report can split cost as asked. The older one is daily only and has no
   * API key dimension: its amounts would all land in the cell of usage with no key, and each
   * key's cell would show $0 billed against its recorded cost.
   */
  costAvailable(width: BucketWidth, groupBy: readonly BilledGroupBy[]): boolean {
    return this.api === 'analytics' || (width === '1d' && !groupBy.includes('api_key_id'));
  }

  /**
   * Billed cost over the range by model, service tier, token type and cost type (plus the
   * workspace and API key when asked). Null when the report cannot split it so
   * ({@link costAvailable}): only tokens are compared then.
   */
  async cost(range: { start: number; end: number }, width: BucketWidth, groupBy: BilledGroupBy[]): Promise<BilledCostRow[] | null> {
    if (!this.costAvailable(width, groupBy)) return null;
    const out: BilledCostRow[] = [];
    for (const c of this.chunks(range, width, 'cost')) {
      if (this.api === 'analytics') await this.analyticsCost(c, width, groupBy, out);
      else await this.legacyCost(c, groupBy, out);
    }
    return out;
  }

  // ---- the older reports, plain HTTP ----

  private async legacyUsage(c: { start: number; end: number }, width: BucketWidth, groupBy: BilledGroupBy[], out: BilledUsageRow[]): Promise<void> {
    const limit = Math.min(this.pageLimit, width === '1d' ? 31 : 168);
    const q = new URLSearchParams({ starting_at: iso(c.start), ending_at: iso(c.end), bucket_width: width, limit: String(limit) });
    for (const g of groupBy) q.append('group_by[]', g);
    const beta = groupBy.includes('speed') ? { 'anthropic-beta': FAST_MODE_BETA } : {};
    await this.legacyPages<LegacyUsageBucket>(LEGACY_USAGE_PATH, q, `usage report ${iso(c.start)}..${iso(c.end)}`, (b, start, end) => {
      for (const r of b.results ?? []) {
        out.push({
          start, end,
          model: r.model ?? null, serviceTier: r.service_tier ?? null, workspaceId: r.workspace_id ?? null, apiKeyId: r.api_key_id ?? null,
          inferenceGeo: r.inference_geo ?? null, speed: r.speed ?? null, contextWindow: r.context_window ?? null,
          tokens: tokensOf(r), webSearchRequests: r.server_tool_use?.web_search_requests ?? 0, requests: null,
        });
      }
    }, beta);
  }

  private async legacyCost(c: { start: number; end: number }, groupBy: BilledGroupBy[], out: BilledCostRow[]): Promise<void> {
    const q = new URLSearchParams({ starting_at: iso(c.start), ending_at: iso(c.end), limit: String(Math.min(this.pageLimit, 31)) });
    // `description` is what breaks cost out by model, token type and tier in this report.
    q.append('group_by[]', 'description');
    if (groupBy.includes('workspace_id')) q.append('group_by[]', 'workspace_id');
    await this.legacyPages<LegacyCostBucket>(LEGACY_COST_PATH, q, `cost report ${iso(c.start)}..${iso(c.end)}`, (b, start, end) => {
      for (const r of b.results ?? []) {
        out.push({
          start, end, model: r.model ?? null, serviceTier: r.service_tier ?? null, workspaceId: r.workspace_id ?? null, apiKeyId: null,
          costType: r.cost_type ?? 'tokens', tokenType: r.token_type ? TOKEN_TYPE_OF.get(r.token_type) ?? null : null,
          amountNanoUsd: centsToNanoUsd(String(r.amount)),
        });
      }
    });
  }

  /** Follows a legacy report's pages (`has_more`/`next_page`), handing each bucket to `each`. */
  private async legacyPages<B extends { starting_at: string; ending_at: string }>(
    path: string,
    query: URLSearchParams,
    what: string,
    each: (bucket: B, start: number, end: number) => void,
    headers: Record<string, string> = {},
  ): Promise<void> {
    let page: string | null = null;
    do {
      const q = new URLSearchParams(query);
      if (page !== null) q.set('page', page);
      const body = (await this.getJson(path, q, what, headers)) as LegacyPage<B>;
      for (const b of body.data ?? []) each(b, Date.parse(b.starting_at), Date.parse(b.ending_at));
      page = body.has_more ? body.next_page ?? null : null;
      if (page !== null) this.plan(1);
    } while (page !== null);
  }

  /** One GET with retries; returns the parsed body of a 2xx. */
  private async getJson(path: string, q: URLSearchParams, what: string, headers: Record<string, string>): Promise<unknown> {
    const url = `${this.baseUrl}${path}?${q.toString()}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response | null = null;
      let netErr: unknown = null;
      try {
        res = await fetch(url, { headers: { ...headers, 'x-api-key': this.key, 'anthropic-version': ANTHROPIC_VERSION, accept: 'application/json' } });
      } catch (err: unknown) {
        netErr = err;
      }
      if (res && res.ok) {
        const body = (await res.json()) as unknown;
        this.progress(what);
        return body;
      }
      const status = res?.status ?? null;
      const text = res ? await res.text().catch(() => '') : '';
      const retryable = res === null || status === 408 || status === 409 || status === 429 || (status !== null && status >= 500);
      if (!retryable || attempt >= this.maxRetries) {
        throw this.failure(what, status, text, netErr, attempt + 1);
      }
      const wait = res ? retryAfterMs(res.headers) : null;
      if (wait !== null && wait > this.maxRetryAfterMs) throw this.waitTooLong(what, wait, status);
      const waitMs = wait ?? Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt) * (0.75 + Math.random() * 0.25);
      this.o.onRetry?.({ status, waitMs, attempt: attempt + 1, what });
      await this.sleep(waitMs);
    }
  }

  private waitTooLong(what: string, waitMs: number, status: number | null): AdminApiError {
    return new AdminApiError(this.redact(`${what}: the API asked to wait ${Math.ceil(waitMs / 1000)} s (retry-after), longer than the ${Math.ceil(this.maxRetryAfterMs / 1000)} s allowed`), status, 'rate_limit_error');
  }

  private failure(what: string, status: number | null, body: string, netErr: unknown, attempts: number): AdminApiError {
    let type: string | null = null;
    let msg = '';
    try {
      const b = JSON.parse(body) as { error?: { type?: string; message?: string } };
      type = b.error?.type ?? null;
      msg = b.error?.message ?? '';
    } catch {
      msg = body.slice(0, 200);
    }
    const tried = attempts > 1 ? ` after ${attempts} attempts` : '';
    const hint = status === 401 || status === 403 ? ' (is it an Admin API key, sk-ant-admin…, of this organization?)' : '';
    const said = status === null ? this.unreachable(netErr, tried) : `HTTP ${status}${type ? ` ${type}` : ''}${msg ? `: ${msg}` : ''}${hint}${tried}`;
    return new AdminApiError(this.redact(`${what}: ${said}`), status, type, { cause: netErr ?? undefined });
  }

  // ---- the analytics API, through the SDK ----

  private sdk: Promise<AnalyticsSdk> | undefined;

  private client(): Promise<AnalyticsSdk> {
    this.sdk ??= (async () => {
      const { default: Anthropic } = await import('@anthropic-ai/sdk');
      const c = new Anthropic({ apiKey: this.key, baseURL: this.baseUrl, maxRetries: this.maxRetries, logLevel: 'off', middleware: [this.capRetryAfter] });
      return c.beta.organization.analytics as unknown as AnalyticsSdk;
    })();
    return this.sdk;
  }

  /**
   * The SDK honours any `retry-after`, an hour as well as a second: a run would hang that long.
   * A retryable answer asking for more than `maxRetryAfterMs` fails the run instead, as on the
   * older reports (an error thrown here reaches the caller and is not retried).
   */
  private readonly capRetryAfter: Middleware = async (request, next) => {
    const res = await next(request);
    const retryable = res.status === 408 || res.status === 409 || res.status === 429 || res.status >= 500;
    const wait = retryable && res.headers.get('x-should-retry') !== 'false' ? retryAfterMs(res.headers) : null;
    if (wait === null || wait <= this.maxRetryAfterMs) return res;
    await res.body?.cancel();
    throw this.waitTooLong(`analytics ${new URL(request.url).pathname.split('/').pop() ?? 'report'}`, wait, res.status);
  };

  private async analyticsUsage(c: { start: number; end: number }, width: BucketWidth, groupBy: BilledGroupBy[], out: BilledUsageRow[]): Promise<void> {
    const api = await this.client();
    const what = `analytics usage ${iso(c.start)}..${iso(c.end)}`;
    const params = { starting_at: iso(c.start), ending_at: iso(c.end), time_bucket_width: width, group_by: groupBy, limit: this.pageLimit, order_by: 'time', order: 'asc' };
    await this.pages(api.usage.list(params), what, (r: AnalyticsUsageRow) => {
      const u = r.usage;
      out.push({
        start: Date.parse(r.starting_at), end: Date.parse(r.ending_at),
        model: r.group.model ?? null, serviceTier: r.group.service_tier ?? null, workspaceId: r.group.workspace_id ?? null, apiKeyId: r.group.api_key_id ?? null,
        inferenceGeo: r.group.inference_geo ?? null, speed: r.group.speed ?? null, contextWindow: r.group.context_window ?? null,
        tokens: tokensOf(u), webSearchRequests: u.server_tool_use?.web_search_requests ?? 0, requests: u.requests ?? null,
      });
    });
  }

  private async analyticsCost(c: { start: number; end: number }, width: BucketWidth, groupBy: BilledGroupBy[], out: BilledCostRow[]): Promise<void> {
    const api = await this.client();
    const what = `analytics cost ${iso(c.start)}..${iso(c.end)}`;
    const params = { starting_at: iso(c.start), ending_at: iso(c.end), time_bucket_width: width, group_by: [...groupBy, 'cost_type', 'token_type'], limit: this.pageLimit, order_by: 'time', order: 'asc' };
    await this.pages(api.cost.list(params), what, (r: AnalyticsCostRow) => {
      out.push({
        start: Date.parse(r.starting_at), end: Date.parse(r.ending_at),
        model: r.group.model ?? null, serviceTier: r.group.service_tier ?? null, workspaceId: r.group.workspace_id ?? null, apiKeyId: r.group.api_key_id ?? null,
        costType: r.group.cost_type ?? 'tokens', tokenType: r.group.token_type ? TOKEN_TYPE_OF.get(r.group.token_type) ?? null : null,
        amountNanoUsd: centsToNanoUsd(String(r.cost.amount)),
      });
    });
  }

  private async pages<T>(first: PromiseLike<SdkPage<T>>, what: string, each: (row: T) => void): Promise<void> {
    try {
      let page = await first;
      for (;;) {
        this.progress(what);
        for (const r of page.data) each(r);
        if (page.data_refreshed_at && (this.dataRefreshedAt === null || page.data_refreshed_at > this.dataRefreshedAt)) this.dataRefreshedAt = page.data_refreshed_at;
        if (!page.hasNextPage()) break;
        this.plan(1);
        page = await page.getNextPage();
      }
    } catch (err: unknown) {
      if (err instanceof AdminApiError) throw err;
      const e = err as { status?: number; type?: string; message?: string; error?: { error?: { message?: string; type?: string } } };
      const status = typeof e.status === 'number' ? e.status : null;
      const type = e.error?.error?.type ?? e.type ?? null;
      const hint = status === 401 || status === 403 ? ' (is it an Admin API key, sk-ant-admin…, of this organization?)' : '';
      // No answer at all (its timeout included): the SDK says only "Connection error."
      const { APIConnectionError } = await import('@anthropic-ai/sdk');
      const head = err instanceof APIConnectionError ? this.unreachable(err) : `${status !== null ? `HTTP ${status} ` : ''}${e.error?.error?.message ?? e.message ?? String(err)}`;
      throw new AdminApiError(this.redact(`${what}: ${head}${hint}`), status, type);
    }
  }

  /**
   * A request that got no HTTP answer, said with the address and the system's reason: fetch
   * says only "fetch failed", the SDK "Connection error.".
   */
  private unreachable(err: unknown, tried = ''): string {
    const reason = rootCause(err);
    return `network error${tried}: cannot reach ${this.baseUrl}${reason ? ` (${reason})` : ''}: check --base-url (or ANTHROPIC_ADMIN_BASE_URL, reconcile.base_url) and the network`;
  }

  private progress(what: string): void {
    this.requestsDone++;
    this.o.onProgress?.({ done: this.requestsDone, total: Math.max(this.requestsPlanned, this.requestsDone), what });
  }

  private redact(s: string): string {
    return redactKey(s, this.key);
  }
}

/** `retry-after-ms`, else `retry-after` (seconds or an HTTP date), in ms; null without one. */
export function retryAfterMs(h: Headers): number | null {
  const ms = Number(h.get('retry-after-ms'));
  if (h.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = h.get('retry-after');
  if (ra === null) return null;
  const s = Number(ra);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(ra);
  return Number.isNaN(t) ? null : Math.max(0, t - Date.now());
}

interface ReportUsage {
  uncached_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
  output_tokens?: number;
  server_tool_use?: { web_search_requests?: number } | null;
}

function tokensOf(u: ReportUsage): TokenCounts {
  const t = zeroTokens();
  t.uncached_input = u.uncached_input_tokens ?? 0;
  t.cache_read = u.cache_read_input_tokens ?? 0;
  t.cache_write_5m = u.cache_creation?.ephemeral_5m_input_tokens ?? 0;
  t.cache_write_1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  t.output = u.output_tokens ?? 0;
  return t;
}

interface LegacyPage<B> { data?: B[]; has_more?: boolean; next_page?: string | null }
interface LegacyUsageBucket {
  starting_at: string;
  ending_at: string;
  results?: (ReportUsage & { model?: string | null; service_tier?: string | null; workspace_id?: string | null; api_key_id?: string | null; inference_geo?: string | null; speed?: string | null; context_window?: string | null })[];
}
interface LegacyCostBucket {
  starting_at: string;
  ending_at: string;
  results?: { amount: string | number; currency?: string; cost_type?: string | null; token_type?: string | null; model?: string | null; service_tier?: string | null; workspace_id?: string | null }[];
}

interface AnalyticsGroup {
  model?: string | null; service_tier?: string | null; workspace_id?: string | null; api_key_id?: string | null;
  inference_geo?: string | null; speed?: string | null; context_window?: string | null; cost_type?: string | null; token_type?: string | null;
}
interface AnalyticsUsageRow { starting_at: string; ending_at: string; group: AnalyticsGroup; usage: ReportUsage & { requests?: number | null } }
interface AnalyticsCostRow { starting_at: string; ending_at: string; group: AnalyticsGroup; cost: { amount: string; list_amount?: string; currency?: string; requests?: number | null } }
interface SdkPage<T> { data: T[]; data_refreshed_at?: string | null; hasNextPage(): boolean; getNextPage(): Promise<SdkPage<T>> }
/** The slice of `client.beta.organization.analytics` used here. */
interface AnalyticsSdk {
  usage: { list(params: Record<string, unknown>): PromiseLike<SdkPage<AnalyticsUsageRow>> };
  cost: { list(params: Record<string, unknown>): PromiseLike<SdkPage<AnalyticsCostRow>> };
}

/** The innermost cause's code and message (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1), or its message alone. */
function rootCause(err: unknown): string {
  let e = err as { cause?: unknown; code?: unknown; message?: unknown } | null;
  for (let depth = 0; depth < 8 && e?.cause !== undefined && e.cause !== null; depth++) e = e.cause as typeof e;
  if (e === null || e === undefined) return '';
  const message = typeof e.message === 'string' ? e.message : String(e);
  return typeof e.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
