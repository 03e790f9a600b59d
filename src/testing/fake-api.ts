/**
 * The fake Claude API: a real HTTP server (node:http, 127.0.0.1, port 0 by default) that
 * answers like api.anthropic.com, so the real `@anthropic-ai/sdk` can be driven through
 * successes, every error status, broken streams and retries without a key or a network.
 *
 * What each response looks like comes from a {@link FakeScript}: the request's
 * `x-fake-script` header if present, else the first matching entry of the queue
 * (`enqueue`), else the default script.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { BatchStore } from './batch-store.js';
import { batchRoutes } from './batch-routes.js';
import { adminRoutes } from './admin-routes.js';
import { BillingLedger, apiKeyIdOf } from './billing-ledger.js';
import { errorBody, sendsRetryAfterByDefault } from './errors.js';
import { requestId as newRequestId } from './ids.js';
import { messagesRoutes } from './messages-routes.js';
import { RateLimiter, type RateLimitOptions } from './rate-limits.js';
import type { RecordedRequest } from './recorded-request.js';
import { Router, type RouteContext } from './router.js';
import type { FakeScript, ScriptError } from './script-types.js';
import { InvalidScriptError, validateScript } from './script-validate.js';
import { headerScript, ScriptQueue } from './script-queue.js';
import { sleep, writeSse, type SseFrame, type SseOutcome } from './sse.js';

/** Options of {@link startFakeApi}. */
export interface FakeApiOptions {
  /** Port to listen on. Default 0 (a free port chosen by the system). */
  port?: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Scripts queued at start, as if passed to `enqueue`. Default none. */
  queue?: FakeScript[];
  /** The script used when neither a header nor the queue gives one. Default `{}`. */
  defaultScript?: FakeScript;
  /** Requests kept in `requests` (the oldest are dropped). Default 1000. */
  maxRecordedRequests?: number;
  /** The advertised rate limits and their window. */
  rateLimits?: RateLimitOptions;
  /** Answer 401 to requests without `x-api-key` or `authorization`. Default true. */
  requireApiKey?: boolean;
  /** `anthropic-organization-id`. Default: a random UUID per server. */
  organizationId?: string;
  /** `anthropic-workspace-id` (a request's own `anthropic-workspace-id` is echoed instead). Default: `wrkspc_01fake…`. */
  workspaceId?: string;
  /** Larger bodies get 413 `request_too_large`. Default 32 MiB, the Messages API's limit. */
  maxBodyBytes?: number;
  /** Name of the per-request script header. Default `x-fake-script`. */
  scriptHeader?: string;
  /** Batches kept in memory. Default 1000. */
  maxBatches?: number;
  /**
   * Called when a request has ended (its record is final). Exceptions are swallowed: an
   * observer must not break the server. Default none.
   */
  onRequestEnd?: (record: RecordedRequest) => void;
}

/** A running fake API. */
export interface FakeApi {
  /** Base URL for the SDK's `baseURL`, e.g. `http://127.0.0.1:53211`. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /**
   * Queues scripts, answered in order by the requests they match (each once, or `times`
   * times). Throws an `InvalidScriptError` at once for a malformed script.
   */
  enqueue(...scripts: FakeScript[]): void;
  /** Replaces the default script (used when nothing else applies). */
  setDefaultScript(script: FakeScript): void;
  /** Uses left in the queue (an entry with `times: 3` counts 3). */
  readonly pendingScripts: number;
  /** The recorded requests, oldest first (at most `maxRecordedRequests`). Records are live. */
  readonly requests: readonly RecordedRequest[];
  /** Requests seen since the last `reset()`, including those no longer recorded. */
  readonly totalRequests: number;
  /** Resolves when no response is in progress (so every record is final). Rejects after `timeoutMs` (default 5000). */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /**
   * What the fake bills, as its Admin usage and cost reports show it: every successful
   * Messages call and every succeeded batch item it served (at its own prices, settable per
   * model), plus what a test adds. See {@link BillingLedger}.
   */
  readonly billing: BillingLedger;
  /** Forgets the queue, the records, the batches, the bill and rate-limit consumption. */
  reset(): void;
  /** Stops the server, ending every connection at once. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

class FakeApiServer implements FakeApi {
  readonly #server: Server;
  readonly #router = new Router().add(...messagesRoutes, ...batchRoutes, ...adminRoutes);
  readonly billing = new BillingLedger();
  readonly #limits: RateLimiter;
  readonly #batches: BatchStore;
  readonly #shutdown = new AbortController();
  readonly #opts: Required<Pick<FakeApiOptions, 'maxRecordedRequests' | 'requireApiKey' | 'organizationId' | 'workspaceId' | 'maxBodyBytes' | 'scriptHeader'>>;
  readonly #onRequestEnd: FakeApiOptions['onRequestEnd'];
  readonly #queue = new ScriptQueue();
  #default: FakeScript;
  #records: RecordedRequest[] = [];
  #seq = 0;
  #total = 0;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  #closing: Promise<void> | null = null;
  url = '';
  port = 0;
  host: string;

  constructor(options: FakeApiOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.#opts = {
      maxRecordedRequests: options.maxRecordedRequests ?? 1000,
      requireApiKey: options.requireApiKey ?? true,
      organizationId: options.organizationId ?? randomUUID(),
      workspaceId: options.workspaceId ?? `wrkspc_01fake${randomUUID().replaceAll('-', '').slice(0, 16)}`,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      scriptHeader: (options.scriptHeader ?? 'x-fake-script').toLowerCase(),
    };
    if (!Number.isInteger(this.#opts.maxRecordedRequests) || this.#opts.maxRecordedRequests < 0) {
      throw new RangeError(`maxRecordedRequests must be an integer ≥ 0, got ${this.#opts.maxRecordedRequests}`);
    }
    this.#onRequestEnd = options.onRequestEnd;
    this.#limits = new RateLimiter(options.rateLimits);
    this.#batches = new BatchStore(options.maxBatches);
    this.#default = validateScript(options.defaultScript ?? {}, ['defaultScript']);
    if (options.queue) this.#queue.push(options.queue, 'queue');
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, this.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const addr = this.#server.address() as AddressInfo;
    this.port = addr.port;
    this.url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  // ---- public API ----

  enqueue(...scripts: FakeScript[]): void {
    this.#queue.push(scripts, 'enqueue');
  }

  setDefaultScript(script: FakeScript): void {
    this.#default = validateScript(script, ['defaultScript']);
  }

  get pendingScripts(): number {
    return this.#queue.pending;
  }

  get requests(): readonly RecordedRequest[] {
    return [...this.#records];
  }

  get totalRequests(): number {
    return this.#total;
  }

  waitForIdle(timeoutMs = 5000): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== done);
        reject(new Error(`fake API: ${this.#inFlight} response(s) still in progress after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#idleWaiters.push(done);
    });
  }

  reset(): void {
    this.#queue.clear();
    this.#records = [];
    this.#total = 0;
    this.#batches.clear();
    this.billing.clear();
    this.#limits.reset();
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#shutdown.abort();
      this.#server.close(() => resolve());
      // Keep-alive and streaming sockets would hold close() open: end them now.
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  // ---- request handling ----

  #record(r: RecordedRequest): void {
    this.#total++;
    if (this.#opts.maxRecordedRequests === 0) return;
    this.#records.push(r);
    if (this.#records.length > this.#opts.maxRecordedRequests) this.#records.splice(0, this.#records.length - this.#opts.maxRecordedRequests);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const retry = Number.parseInt(headers['x-stainless-retry-count'] ?? '', 10);
    const record: RecordedRequest = {
      seq: ++this.#seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      route: null,
      beta: url.searchParams.get('beta') === 'true' || headers['anthropic-beta'] !== undefined,
      headers,
      body: undefined,
      stream: false,
      retryCount: Number.isNaN(retry) ? null : retry,
      script: null,
      scriptSource: 'default',
      startedAt: Date.now(),
      endedAt: null,
      status: 0,
      requestId: newRequestId(),
      responseHeaders: {},
      outcome: 'pending',
      eventsSent: 0,
      textDeltasSent: 0,
      clientClosed: false,
    };
    this.#record(record);
    this.#inFlight++;
    res.once('close', () => {
      // A close before the body was complete that the fake did not cause itself.
      if (!res.writableFinished && record.outcome !== 'cut' && !this.#shutdown.signal.aborted) record.clientClosed = true;
    });
    try {
      await this.#respond(req, res, url, record);
    } catch (err: unknown) {
      // A bug in the fake: answer 500 if still possible, never crash the test process.
      if (!res.headersSent) this.#sendError(res, record, 500, { type: 'api_error', message: `fake API internal error: ${err instanceof Error ? err.message : String(err)}` }, {});
      else res.destroy();
    } finally {
      record.endedAt = Date.now();
      if (record.outcome === 'pending') record.outcome = record.clientClosed || res.destroyed ? 'client_closed' : 'completed';
      else if (record.clientClosed && record.outcome === 'completed') record.outcome = 'client_closed';
      this.#inFlight--;
      if (this.#inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w();
      if (this.#onRequestEnd) {
        try {
          this.#onRequestEnd(record);
        } catch {
          // An observer's fault must not break the server.
        }
      }
    }
  }

  async #respond(req: IncomingMessage, res: ServerResponse, url: URL, record: RecordedRequest): Promise<void> {
    const raw = await readBody(req, this.#opts.maxBodyBytes);
    if (raw === 'too_large') return this.#sendError(res, record, 413, undefined, {});
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return this.#sendError(res, record, 400, { message: 'The request body is not valid JSON.' }, {});
      }
    }
    record.body = body;

    const match = this.#router.match(record.method, url.pathname);
    if (match.kind === 'not_found') return this.#sendError(res, record, 404, { message: `Not Found: ${record.method} ${url.pathname}` }, {});
    if (match.kind === 'method_not_allowed') {
      return this.#sendError(res, record, 405, { type: 'invalid_request_error', message: 'Method Not Allowed' }, { allow: match.allowed.join(', ') });
    }
    const { route, params } = match;
    record.route = route.name;
    record.stream = route.name === 'messages.create' && isRecord(body) && body['stream'] === true;

    if (this.#opts.requireApiKey && !record.headers['x-api-key'] && !record.headers['authorization']) {
      return this.#sendError(res, record, 401, { message: 'x-api-key header is required' }, {});
    }

    let script: FakeScript;
    try {
      script = this.#pickScript(record, route.name);
    } catch (err: unknown) {
      const message = err instanceof InvalidScriptError ? err.message : `${this.#opts.scriptHeader}: not valid JSON`;
      return this.#sendError(res, record, 400, { message }, {});
    }

    if (script.delayMs) await sleep(script.delayMs, this.#closedSignal(res));
    if (res.destroyed || this.#shutdown.signal.aborted) {
      record.outcome = 'client_closed';
      return;
    }
    if (script.status !== undefined && script.status >= 400) return this.#sendError(res, record, script.status, script.error, {}, script);

    const host = req.headers.host ?? `${this.host}:${this.port}`;
    await route.handler(this.#context(req, res, record, script, params, url, body, `http://${host}`));
  }

  /** The header script (by attempt for an array), else the queue, else the default. */
  #pickScript(record: RecordedRequest, route: string): FakeScript {
    const header = record.headers[this.#opts.scriptHeader];
    if (header !== undefined) {
      record.scriptSource = 'header';
      record.script = headerScript(header, record.retryCount, this.#opts.scriptHeader);
      return record.script;
    }
    const queued = this.#queue.take(route, record.stream);
    record.scriptSource = queued ? 'queue' : 'default';
    record.script = queued ?? null;
    return queued ?? this.#default;
  }

  /** A signal that aborts when the response's connection closes or the fake stops. */
  #closedSignal(res: ServerResponse): AbortSignal {
    const ac = new AbortController();
    if (res.destroyed) ac.abort();
    else res.once('close', () => ac.abort());
    return AbortSignal.any([ac.signal, this.#shutdown.signal]);
  }

  /** Headers every response after authentication carries. */
  #identityHeaders(record: RecordedRequest): Record<string, string> {
    return {
      'request-id': record.requestId,
      'anthropic-organization-id': this.#opts.organizationId,
      'anthropic-workspace-id': record.headers['anthropic-workspace-id'] ?? this.#opts.workspaceId,
    };
  }

  #writeHead(res: ServerResponse, record: RecordedRequest, status: number, headers: Record<string, string>, script?: FakeScript): void {
    const final = { ...headers };
    for (const [name, value] of Object.entries(script?.headers ?? {})) {
      const lower = name.toLowerCase();
      for (const k of Object.keys(final)) if (k.toLowerCase() === lower) delete final[k];
      if (value !== null) final[lower] = value;
    }
    record.status = status;
    record.responseHeaders = final;
    res.writeHead(status, final);
  }

  #sendError(res: ServerResponse, record: RecordedRequest, status: number, error: ScriptError | undefined, extra: Record<string, string>, script?: FakeScript): void {
    const body = JSON.stringify(errorBody(status, error, record.requestId));
    // 401 is answered before the organization is known; 413 comes from the edge (Cloudflare).
    const headers: Record<string, string> =
      status === 401 || status === 413 ? { 'request-id': record.requestId } : this.#identityHeaders(record);
    if (status === 429) Object.assign(headers, this.#limits.headers(error?.code === undefined));
    const retryAfter = script?.retryAfter !== undefined ? script.retryAfter : sendsRetryAfterByDefault(status, error) ? 1 : null;
    if (retryAfter !== null) headers['retry-after'] = String(retryAfter);
    if (script?.retryAfterMs !== undefined) headers['retry-after-ms'] = String(script.retryAfterMs);
    Object.assign(headers, extra, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    this.#writeHead(res, record, status, headers, script);
    res.end(body);
    record.outcome = 'error';
  }

  #context(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, script: FakeScript, params: Record<string, string>, url: URL, body: unknown, baseUrl: string): RouteContext {
    const successStatus = (s: number): number => (script.status !== undefined && script.status < 400 ? script.status : s);
    const successHeaders = (contentType: string): Record<string, string> => ({
      ...this.#identityHeaders(record),
      ...this.#limits.headers(),
      'content-type': contentType,
    });
    // The bill: a successful Messages reply or a created batch's succeeded items, when sent.
    const ids = (): { workspaceId: string | null; apiKeyId: string | null } => {
      const auth = record.headers['authorization'];
      const key = record.headers['x-api-key'] ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
      return { workspaceId: record.headers['anthropic-workspace-id'] ?? this.#opts.workspaceId, apiKeyId: key ? apiKeyIdOf(key) : null };
    };
    const bill = (status: number, payload: unknown): void => {
      if (status >= 300 || !isRecord(payload)) return;
      if (record.route === 'messages.create' && isRecord(payload['usage'])) {
        this.billing.recordMessage(Date.now(), String(payload['model']), payload['usage'], ids());
      } else if (record.route === 'messages.batches.create' && typeof payload['id'] === 'string') {
        const batch = this.#batches.get(payload['id']);
        for (const item of batch?.items ?? []) {
          if (item.outcome === 'succeeded' && item.message) this.billing.recordMessage(batch!.endsAt, item.message.model, item.message.usage, ids());
        }
      }
    };
    const send = (status: number, contentType: string, payload: string): void => {
      this.#writeHead(res, record, successStatus(status), { ...successHeaders(contentType), 'content-length': String(Buffer.byteLength(payload)) }, script);
      res.end(payload);
      record.outcome = 'completed';
    };
    return {
      req,
      res,
      params,
      query: url.searchParams,
      body,
      beta: record.beta,
      script,
      record,
      signal: this.#shutdown.signal,
      baseUrl,
      batches: this.#batches,
      billing: this.billing,
      consume: (c) => this.#limits.consume(c),
      json: (status, payload) => {
        send(status, 'application/json', JSON.stringify(payload));
        bill(successStatus(status), payload);
      },
      jsonl: (lines) => send(200, 'application/binary', lines.map((l) => `${JSON.stringify(l)}\n`).join('')),
      error: (status, error) => this.#sendError(res, record, status, error, {}, script),
      sse: (frames) => {
        bill(successStatus(200), streamedMessage(frames));
        return this.#stream(res, record, script, frames, successHeaders('text/event-stream; charset=utf-8'), successStatus(200));
      },
    };
  }

  async #stream(res: ServerResponse, record: RecordedRequest, script: FakeScript, frames: readonly SseFrame[], headers: Record<string, string>, status: number): Promise<SseOutcome> {
    this.#writeHead(res, record, status, { ...headers, 'cache-control': 'no-cache' }, script);
    res.flushHeaders();
    const s = script.stream;
    const errorFrame: SseFrame | undefined =
      s?.errorAfterEvents !== undefined
        ? { event: 'error', data: errorBody(529, { type: 'overloaded_error', message: 'Overloaded', ...s.error }, record.requestId) }
        : undefined;
    const outcome = await writeSse(res, frames, {
      eventDelayMs: s?.eventDelayMs ?? 0,
      cutAfterEvents: s?.cutAfterEvents,
      errorAfterEvents: s?.errorAfterEvents,
      errorFrame,
      signal: this.#shutdown.signal,
      onEvent: (count, frame) => {
        record.eventsSent = count;
        if (frame.event === 'content_block_delta' && (frame.data as { delta?: { type?: string } }).delta?.type === 'text_delta') record.textDeltasSent++;
      },
      onCut: () => {
        record.outcome = 'cut';
      },
    });
    record.outcome = outcome;
    if (outcome === 'client_closed' && !this.#shutdown.signal.aborted) record.clientClosed = true;
    return outcome;
  }
}

/** The model and final usage a stream reports: `message_start`'s usage overlaid by the last `message_delta`'s. */
function streamedMessage(frames: readonly SseFrame[]): Record<string, unknown> | null {
  let model: unknown;
  let usage: Record<string, unknown> | null = null;
  for (const f of frames) {
    const d = f.data as Record<string, unknown> | undefined;
    if (f.event === 'message_start' && isRecord(d?.['message'])) {
      const m = d['message'];
      model = m['model'];
      usage = isRecord(m['usage']) ? { ...m['usage'] } : {};
    } else if (f.event === 'message_delta' && isRecord(d?.['usage']) && usage) {
      for (const [k, v] of Object.entries(d['usage'])) if (v !== null && v !== undefined) usage[k] = v;
    }
  }
  return usage ? { model, usage } : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The request body, or `'too_large'` past `max` bytes (the rest is drained, not kept). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  const declared = Number(req.headers['content-length']);
  let tooLarge = Number.isFinite(declared) && declared > max;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) tooLarge = true;
    if (!tooLarge) parts.push(chunk);
  }
  return tooLarge ? 'too_large' : Buffer.concat(parts);
}

/**
 * Starts a fake Claude API and resolves once it listens.
 *
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { startFakeApi } from 'claudescope/testing';
 *
 * const api = await startFakeApi();
 * const client = new Anthropic({ apiKey: 'test', baseURL: api.url });
 * api.enqueue({ status: 529, retryAfterMs: 10 }, { usage: { cache_read_input_tokens: 900 } });
 * const msg = await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
 * // api.requests.length === 2
 * await api.close();
 * ```
 */
export async function startFakeApi(options: FakeApiOptions = {}): Promise<FakeApi> {
  const server = new FakeApiServer(options);
  await server.listen(options.port ?? 0);
  return server;
}
