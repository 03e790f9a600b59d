/**
 * One API call in flight: what the middleware (and, with `clientOptions()`, the call span) learn
 * about it, attempt by attempt, until the call ends and the record becomes one `call` event.
 */
// The module's `performance`, not the global: Node's global is a getter, called at each use.
import { performance } from 'node:perf_hooks';
import type { Attempt, BatchInfo, CallEvent, CallStatus, Provider, RateLimits, Usage } from '../event/types.js';
import { usageFromApi } from '../event/usage.js';
import { readResponseFacts } from './response-headers.js';
import { asObject, str } from './json-shape.js';
import type { SseFacts } from './stream-observer.js';
import type { Tags } from './tags.js';

/** Where and by whom: the parts of an event fixed for a client. */
export interface CallOrigin {
  app: string;
  env: string | null;
  host: string;
  apiKeyAlias: string | null;
  /** The platform the client's calls go to; null: each call's request URL tells ({@link providerOfUrl}). */
  provider: Provider | null;
}

/** The body of an error response or `error` frame, as far as the event needs it. */
export interface ErrorInfo {
  type: string | null;
  errorCode: string | null;
}

export class CallRecord {
  readonly tsStart = Date.now();
  readonly t0 = performance.now();
  operation: string;
  /** The origin's, or the first attempt's request URL's when the origin names none. */
  provider: Provider;
  modelRequested: string | null = null;
  stream = false;
  maxTokens: number | null = null;
  toolCount: number | null = null;
  /** Set from the first attempt's request. */
  described = false;
  /** The request body, kept only until the call ends (for an opt-in redaction hook). */
  requestBody: unknown = null;

  readonly attempts: Attempt[] = [];
  /** Start of the attempt in flight, ms after t0. */
  attemptStart = 0;
  httpStatus: number | null = null;
  requestId: string | null = null;
  organizationId: string | null = null;
  workspaceId: string | null = null;
  rateLimits: RateLimits | null = null;

  /**
   * The type of the failure that ended the call (`error.type` as the SDK's call span names it:
   * the error body's type, `connection_error`, `client_timeout_error`…), null if none did. An
   * abort by the app is not a failure.
   */
  failureType: string | null = null;
  /** The last error body seen (error response or error frame). */
  error: ErrorInfo | null = null;

  /** Parsed JSON body of a successful non-streaming response, until the call ends ({@link keepOnlyEventFacts}). */
  data: Record<string, unknown> | null = null;
  /** What the event reads of {@link data}, taken from it when the call ended. */
  #body: BodyFacts | null = null;
  /** Facts of a streamed Messages body. */
  sse: SseFacts | null = null;
  /** Start of the attempt whose body streamed, ms after t0. */
  streamAttemptStart = 0;
  /** The streamed body was read to its end (what tells a whole batch results download without SSE facts). */
  bodyReadToEnd = false;
  batch: BatchInfo | undefined;
  ended = false;
  /** Its place among the calls in flight ({@link OpenAtExit}), -1 while in none. */
  openSlot = -1;
  /**
   * The failure the call ends as if no other signal comes (the process exits, or the SDK never
   * retries): its last attempt's when that failed in a way the SDK may retry (an error response,
   * a thrown fetch); null while an attempt is in flight, after a success, or after the app aborted.
   */
  pendingFailure: string | null = null;
  /** Undoes what was hooked for this call (an abort listener) once it ended. */
  release: (() => void) | null = null;
  /** A successful attempt's headers, read when the event is built. */
  #deferred: { attempt: Attempt; headers: Headers } | null = null;

  constructor(
    /** `messages.create`, `messages.batches.results`… (see {@link operationOfSpan}). */
    operation: string,
    readonly origin: CallOrigin,
    readonly tags: Tags,
  ) {
    this.operation = operation;
    this.provider = origin.provider ?? 'anthropic';
  }

  /**
   * Called when the call ends: lets the request body go, and takes what the event reads of the
   * parsed response and of a success's headers, letting both go. The event is built later, and
   * by then the app, which owns the response, may have changed it (its `usage`, its `model`);
   * and the writer builds events in batches, so what a record held until then would outlive
   * the young generation's collections, to be promoted and collected by a full one.
   */
  keepOnlyEventFacts(): void {
    this.requestBody = null;
    this.#readDeferredHeaders();
    const data = this.data;
    if (data === null) return;
    this.data = null;
    const usage = asObject(data['usage']);
    const counted = data['input_tokens'];
    this.#body = {
      model: str(data['model']),
      stopReason: str(data['stop_reason']),
      messageId: str(data['id']),
      // A new object of plain values: nothing of the app's response is kept.
      usage: usage ? usageFromApi(usage) : null,
      countedInputTokens: typeof counted === 'number' ? counted : null,
    };
  }

  /** Reads an attempt's response headers into it and into the call: ids, retry hint, rate limits. */
  recordHeaders(attempt: Attempt, headers: Headers): void {
    const facts = readResponseFacts(headers);
    attempt.request_id = facts.requestId;
    attempt.retry_after_ms = facts.retryAfterMs;
    this.requestId = facts.requestId;
    this.organizationId = facts.organizationId ?? this.organizationId;
    this.workspaceId = facts.workspaceId ?? this.workspaceId;
    this.rateLimits = facts.rateLimits ?? this.rateLimits;
  }

  /** {@link recordHeaders}, when the call ends (a success is the call's last attempt). */
  deferHeaders(attempt: Attempt, headers: Headers): void {
    this.#deferred = { attempt, headers };
  }

  #readDeferredHeaders(): void {
    const deferred = this.#deferred;
    if (deferred === null) return;
    this.#deferred = null;
    try {
      this.recordHeaders(deferred.attempt, deferred.headers);
    } catch {
      // Unreadable headers: the event goes without their ids and rate limits.
    }
  }

  /**
   * Builds the event. `now` is the end of the call (Date.now()), `end` the same instant on
   * `performance.now()`'s clock (the event may be built later).
   */
  toEvent(eventId: string, now: number, end = performance.now()): CallEvent {
    this.#readDeferredHeaders();
    const durationMs = round3(end - this.t0);
    const sse = this.sse;
    const body = this.#body;
    let status: CallStatus;
    let errorType: string | null = null;
    let errorCode: string | null = null;
    if (sse?.error) {
      // A mid-stream error arrives after HTTP 200: classify by its type, not by the status.
      status = 'error';
      errorType = sse.error.type ?? this.failureType ?? 'api_error';
      errorCode = sse.error.errorCode;
    } else if (this.failureType !== null) {
      status = 'error';
      errorType = this.error?.type ?? this.failureType;
      errorCode = this.error?.errorCode ?? null;
    } else if (sse) {
      status = sse.sawMessageStop ? 'ok' : 'aborted';
    } else if (body !== null || this.bodyReadToEnd || (this.httpStatus !== null && this.httpStatus < 300 && !this.stream)) {
      status = 'ok';
    } else {
      status = 'aborted';
    }

    const usage = sse ? (sse.usage ? usageFromApi(sse.usage) : null) : (body?.usage ?? null);
    // A stream may carry more than one message_delta: its usage is final only at message_stop.
    const complete = sse ? sse.sawMessageStop : body !== null || this.bodyReadToEnd;
    let ttftMs: number | null = null;
    let tokensPerSecond: number | null = null;
    if (sse?.firstDeltaAt != null) {
      const streamStartEpoch = this.tsStart + this.streamAttemptStart;
      ttftMs = Math.max(0, sse.firstDeltaAt - streamStartEpoch);
      const genMs = now - sse.firstDeltaAt;
      if (usage && complete && genMs > 0) tokensPerSecond = round3((usage.output_tokens * 1000) / genMs);
    }
    const event: CallEvent = {
      t: 'call',
      v: 1,
      event_id: eventId,
      seq: 0,
      ts: now,
      ts_start: this.tsStart,
      app: this.origin.app,
      env: this.origin.env,
      host: this.origin.host,
      pid: process.pid,
      tags: this.tags,
      provider: this.provider,
      operation: this.operation,
      model_requested: this.modelRequested,
      model: (sse ? sse.model : (body?.model ?? null)) ?? this.modelRequested,
      stream: this.stream,
      max_tokens: this.maxTokens,
      tool_count: this.toolCount,
      status,
      http_status: this.httpStatus,
      error_type: errorType,
      error_code: errorCode,
      stop_reason: sse ? sse.stopReason : (body?.stopReason ?? null),
      request_id: this.requestId,
      message_id: sse ? sse.messageId : this.operation.endsWith('messages.create') || this.operation.endsWith('messages.stream') ? (body?.messageId ?? null) : null,
      organization_id: this.organizationId,
      workspace_id: this.workspaceId,
      api_key_alias: this.origin.apiKeyAlias,
      attempts: this.attempts.length,
      attempt_log: this.attempts,
      duration_ms: durationMs,
      ttft_ms: ttftMs,
      output_tokens_per_second: tokensPerSecond,
      complete,
      usage,
      rate_limits: this.rateLimits,
    };
    if (this.batch) event.batch = this.batch;
    if (this.operation.endsWith('count_tokens') && body) {
      if (body.countedInputTokens !== null) event.counted_input_tokens = body.countedInputTokens;
      // Counting tokens is free: the count is not usage.
      event.usage = null;
    }
    return event;
  }
}

/** What the event reads of a parsed (non-streamed) response body. */
interface BodyFacts {
  model: string | null;
  stopReason: string | null;
  messageId: string | null;
  usage: Usage | null;
  /** `messages.count_tokens`' answer. */
  countedInputTokens: number | null;
}

/** `anthropic.messages.create` → `messages.create`. */
export function operationOfSpan(spanName: string): string {
  return spanName.startsWith('anthropic.') ? spanName.slice('anthropic.'.length) : spanName;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
