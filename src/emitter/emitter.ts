/**
 * The emitter: hooks a `@anthropic-ai/sdk` client and appends one NDJSON `call` event per API
 * call to a file of this process. Configuration comes from code or from the environment
 * alone; `CLAUDESCOPE_DISABLED=1` turns it into a pass-through.
 */
// The module's `performance`, not the global: Node's global is a getter, called at each use.
import { performance } from 'node:perf_hooks';
import { hostname } from 'node:os';
import { propagation } from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/api';
import type { Middleware } from '@anthropic-ai/sdk';
import type { CallEvent, EmitterStats, Provider } from '../event/types.js';
import { usageFromApi } from '../event/usage.js';
import { asObject, JsonText, str } from './json-shape.js';
import type { CallRecord } from './call-record.js';
import { createCallMiddleware, isEmitterMiddleware } from './call-middleware.js';
import { MIDDLEWARE_SINCE_SDK, WARNING_CODES, warnOnce } from './warnings.js';
import { CallTracerProvider, OpenCalls } from './call-tracer.js';
import { CallTracker, spanCalls } from './call-tracker.js';
import type { ClientScope } from './call-tracer.js';
import { mergeTags } from './tags.js';
import { newEventId } from './event-id.js';
import type { Tags } from './tags.js';
import { emitterOptionsFromEnv } from './emitter-env.js';
import { EventWriter, zeroStats } from './file-writer.js';
import { MAX_BUFFER_BYTES } from './writer-options.js';
import type { WriterOptions } from './writer-options.js';

/** What a redaction hook sees: the request body and the parsed response (null for streams). */
export interface CallContent {
  request: unknown;
  response: unknown;
}

/** Options of {@link createEmitter}. Every field is optional; see each default. */
export interface EmitterOptions extends WriterOptions {
  /**
   * Deployment environment written on every event (`prod`, `staging`…).
   * @default `CLAUDESCOPE_ENV`, else null
   */
  env?: string | null;
  /**
   * A name for the API key the client uses, so usage can be split by key. Never the key.
   * @default `CLAUDESCOPE_API_KEY_ALIAS`, else null
   */
  apiKeyAlias?: string | null;
  /** Tags added to every call. @default `CLAUDESCOPE_TAGS` (`k=v,k2=v2`), else none */
  tags?: Record<string, string>;
  /**
   * Opt-in content capture. Called with each call's request and response; what it returns
   * (after you removed what must not be kept) is written as the event's `content`, unless it
   * takes more than half `maxBufferBytes` (then the event says `content_too_large`). Without
   * it, no message content is ever written.
   * @default undefined (no content)
   */
  redact?: (content: CallContent) => unknown;
}

/** Options for one client, over the emitter's. */
export interface ClientScopeOptions {
  /** Tags for every call of this client. */
  tags?: Record<string, string>;
  /** Overrides the emitter's `apiKeyAlias` for this client. */
  apiKeyAlias?: string | null;
  /**
   * Which platform the client calls.
   * @default from the host of each call's URL: `bedrock-runtime.<region>.amazonaws.com` is
   * `bedrock`, `[<region>-]aiplatform[.<region>.rep].googleapis.com` `vertex`,
   * `<resource>.services.ai.azure.com` `foundry`, any other `anthropic`
   */
  provider?: Provider;
  /** A tracer provider the client should keep using (its spans still reach it). */
  tracerProvider?: TracerProvider;
  /** Middleware the client should keep, run after the emitter's. */
  middleware?: Middleware[];
}

/** The options to spread into `new Anthropic({...})`. */
export interface InstrumentedClientOptions {
  middleware?: Middleware[];
  openTelemetry?: { tracerProvider: TracerProvider; propagation: boolean };
}

/** A client we can copy with more options: `@anthropic-ai/sdk`'s `withOptions`. */
interface CopyableClient {
  withOptions(options: Record<string, unknown>): unknown;
  maxRetries?: unknown;
  openTelemetry?: unknown;
  middleware?: readonly Middleware[];
}

export interface Emitter {
  /**
   * Options that hook a client: `new Anthropic({ ...emitter.clientOptions(), apiKey })`.
   */
  clientOptions(scope?: ClientScopeOptions): InstrumentedClientOptions;
  /** A copy of `client` that records its calls: `const client = emitter.instrument(new Anthropic())`. */
  instrument<C>(client: C, scope?: ClientScopeOptions): C;
  /**
   * Writes what is buffered; resolves once it is written (or dropped and counted), or after
   * `flushTimeoutMs` (10 s) with it still buffered when the disk does not answer. Never rejects.
   */
  flush(): Promise<void>;
  /** Flushes, seals the file with a footer and closes it; waits at most `flushTimeoutMs` too. Never rejects. */
  close(): Promise<void>;
  /** The emitter's own counters. */
  stats(): EmitterStats;
  readonly enabled: boolean;
}

/**
 * Copies of an instrumented client (`withOptions()`, which the SDK's helpers use too) are
 * instrumented in turn: they would share its middleware, whose tracker knows its `maxRetries`,
 * and a copy allowed more retries had each attempt of a failing connection written as a call of
 * its own (fewer, and its failure was written seconds late). A copy given middleware of its own
 * (which replaces the client's) is recorded too.
 */
function instrumentCopies(client: CopyableClient, instrument: (copy: unknown) => unknown): void {
  const withOptions = plainWithOptions(client);
  const instrumentedCopy: WithOptions & { [PLAIN_WITH_OPTIONS]?: WithOptions } = function (this: unknown, options) {
    return instrument(withOptions.call(this, options));
  };
  instrumentedCopy[PLAIN_WITH_OPTIONS] = withOptions;
  Object.defineProperty(client, 'withOptions', { value: instrumentedCopy, writable: true, configurable: true, enumerable: false });
}

type WithOptions = (this: unknown, options: Record<string, unknown>) => unknown;
// Shared by every copy of claudescope a process loads, as the middleware's mark is.
const PLAIN_WITH_OPTIONS = Symbol.for('claudescope.plainWithOptions');

/** The SDK's own `withOptions` of `client`, under what {@link instrumentCopies} set. */
function plainWithOptions(client: CopyableClient): WithOptions {
  const own = client.withOptions as WithOptions & { [PLAIN_WITH_OPTIONS]?: WithOptions };
  return own[PLAIN_WITH_OPTIONS] ?? own;
}

/** What a copy is instrumented with: the client's scope, but its middleware and tracing, which came with it. */
function copyScope(scope: ClientScopeOptions | undefined): ClientScopeOptions {
  const { middleware: _middleware, tracerProvider: _tracerProvider, ...kept } = scope ?? {};
  return kept;
}

/** The SDK's `maxRetries` when a client sets none. */
const SDK_DEFAULT_MAX_RETRIES = 2;


/** Creates an emitter. Opens no file until the first call is recorded. */
export function createEmitter(options: EmitterOptions = {}): Emitter {
  const fromEnv = emitterOptionsFromEnv(process.env);
  if (fromEnv.disabled) return disabledEmitter();
  const opts: EmitterOptions = { ...fromEnv.options, ...options };
  const writer = new EventWriter(opts);
  const host = opts.host ?? hostname();
  const baseTags = mergeTags({}, opts.tags);
  const redact = opts.redact;
  // Content that would take more than half the memory the writer may hold for the disk is left
  // out: the event, too large for the buffer or dropped whenever others wait, would take the
  // call's usage with it.
  const maxContentBytes = (opts.maxBufferBytes ?? MAX_BUFFER_BYTES) / 2;

  const sink = {
    finish(record: CallRecord): void {
      // The call ends now; its event is built with the next ones, when the writer writes. The
      // hook runs now: once the app has the response it may change the request it sent (a
      // conversation's `messages` grows) or the response, and the hook must see the call's own.
      const now = Date.now();
      const end = performance.now();
      const eventId = newEventId(now);
      const redacted = redact ? safeRedact(redact, record, eventId, maxContentBytes) : undefined;
      record.keepOnlyEventFacts();
      writer.defer(() => {
        const event = record.toEvent(eventId, now, end);
        if (redact) event.content = redacted?.content;
        return event;
      }, redacted?.bytes ?? 0);
    },
    batchResult(call: CallRecord, line: unknown): void {
      try {
        writer.write(batchResultEvent(call, line));
      } catch (err: unknown) {
        sink.fault(err);
      }
    },
    fault(_err: unknown): void {
      writer.countInternalError();
    },
  };
  // clientOptions(): the SDK's call span opens and ends each call, this middleware feeds it.
  const openSpanCalls = new OpenCalls(sink);
  const spanMiddleware = createCallMiddleware(sink, spanCalls(openSpanCalls));

  function scopeOf(scope: ClientScopeOptions | undefined): ClientScope {
    return {
      origin: {
        app: writer.app,
        env: opts.env ?? null,
        host,
        apiKeyAlias: scope?.apiKeyAlias !== undefined ? scope.apiKeyAlias : (opts.apiKeyAlias ?? null),
        provider: scope?.provider ?? null,
      },
      tags: mergeTags(baseTags, scope?.tags) as Tags,
    };
  }

  function clientOptions(scope?: ClientScopeOptions): InstrumentedClientOptions {
    return {
      middleware: [spanMiddleware, ...(scope?.middleware ?? [])],
      openTelemetry: {
        tracerProvider: new CallTracerProvider(scopeOf(scope), sink, openSpanCalls, scope?.tracerProvider),
        propagation: propagates(),
      },
    };
  }

  const emitter: Emitter = {
    enabled: true,
    clientOptions,
    instrument<C>(client: C, scope?: ClientScopeOptions): C {
      const copyable = client as unknown as CopyableClient;
      if (typeof copyable?.withOptions !== 'function') {
        warnOnce(WARNING_CODES.notAClient, 'instrument() was given something that is not an @anthropic-ai/sdk client (it has no withOptions()): it is returned as it is, and calls through it are not recorded');
        return client;
      }
      // The middleware alone finds and ends each call (no call-span work in the SDK), knowing
      // the client's retry budget.
      const maxRetries = typeof copyable.maxRetries === 'number' ? copyable.maxRetries : SDK_DEFAULT_MAX_RETRIES;
      const middleware = createCallMiddleware(sink, new CallTracker(scopeOf(scope), sink, maxRetries));
      // Keep the client's own middleware (inside ours, so we see what the app sees), but not
      // an emitter's from an earlier instrument() or clientOptions(): each call is recorded once.
      const theirs = (copyable.middleware ?? []).filter((m) => !isEmitterMiddleware(m));
      const options: Record<string, unknown> = { middleware: [middleware, ...theirs, ...(scope?.middleware ?? [])] };
      // The client's tracing stays as it is, except an emitter's provider from clientOptions(),
      // which would record each call a second time: the provider it wrapped takes its place.
      const existing = asObject(copyable.openTelemetry);
      const provider = existing?.['tracerProvider'];
      if (provider instanceof CallTracerProvider || scope?.tracerProvider !== undefined) {
        const keep = scope?.tracerProvider ?? (provider as CallTracerProvider).delegate;
        options['openTelemetry'] = { ...existing, tracerProvider: keep };
      }
      const instrumented = plainWithOptions(copyable).call(copyable, options) as CopyableClient | undefined;
      // SDKs before 0.101.0 take no middleware: they drop the option, and every call would go unrecorded.
      if (!Array.isArray(instrumented?.middleware) || !instrumented.middleware.includes(middleware)) {
        warnOnce(WARNING_CODES.sdkWithoutMiddleware, `this @anthropic-ai/sdk client takes no middleware (the option came with SDK ${MIDDLEWARE_SINCE_SDK}): its calls are not recorded. Upgrade @anthropic-ai/sdk to ${MIDDLEWARE_SINCE_SDK} or later`);
        return instrumented as C;
      }
      // Its copies carry its middleware already (and the scope's, which is not added again).
      instrumentCopies(instrumented, (copy) => emitter.instrument(copy, copyScope(scope)));
      return instrumented as C;
    },
    flush: () => writer.flush(),
    close: () => writer.close(),
    stats: () => writer.stats(),
  };
  return emitter;
}

/**
 * Whether the app registered a trace-context propagator. Without one the SDK's injection
 * writes nothing, yet still copies every request's headers to try: switching it off then
 * changes no request and saves that copy on every attempt.
 */
function propagates(): boolean {
  return propagation.fields().length > 0;
}

function disabledEmitter(): Emitter {
  const stats = zeroStats();
  return {
    enabled: false,
    clientOptions: () => ({}),
    instrument: (client) => client,
    flush: async () => {},
    close: async () => {},
    stats: () => ({ ...stats }),
  };
}

/**
 * The hook's content, serialised now: what it returns may share objects with the request or
 * response (`({ request }) => request`), which the app may change before the event is built.
 * `content` is undefined when it has no JSON (the event then has no `content`); `bytes` is what
 * it takes in UTF-8, the measure of the writer's cap, counted once for both the bound here and
 * what the writer holds until the event is built.
 */
function safeRedact(redact: (c: CallContent) => unknown, record: CallRecord, eventId: string, maxBytes: number): { content: JsonText | FailedRedaction | undefined; bytes: number } {
  try {
    const json = JSON.stringify(redact({ request: record.requestBody, response: record.data }));
    if (json === undefined) return { content: undefined, bytes: 0 };
    // Each character takes a byte at least: longer than the bound, it is too large uncounted.
    const bytes = json.length > maxBytes ? Infinity : Buffer.byteLength(json, 'utf8');
    if (bytes > maxBytes) return { content: { redaction_failed: true, event_id: eventId, content_too_large: true }, bytes: 0 };
    return { content: new JsonText(json), bytes };
  } catch {
    // A failing hook (or content JSON cannot hold) must not write unredacted content, nor fail the call.
    return { content: { redaction_failed: true, event_id: eventId }, bytes: 0 };
  }
}

type FailedRedaction = { redaction_failed: true; event_id: string; content_too_large?: true };

/** One event per result of `batches.results()`: its usage (batch tier) and outcome. */
function batchResultEvent(call: CallRecord, line: unknown): CallEvent {
  const now = Date.now();
  const item = asObject(line);
  const result = asObject(item?.['result']);
  const type = str(result?.['type']) ?? 'unknown';
  const message = asObject(result?.['message']);
  const usageRaw = asObject(message?.['usage']);
  const errorBody = asObject(asObject(result?.['error'])?.['error']);
  const errorType = type === 'succeeded' ? null : type === 'errored' ? (str(errorBody?.['type']) ?? 'api_error') : `batch_${type}`;
  const event = call.toEvent(newEventId(now), now);
  return {
    ...event,
    operation: call.operation.replace(/results$/, 'result'),
    ts_start: now,
    duration_ms: 0,
    attempts: 0,
    attempt_log: [],
    model: str(message?.['model']),
    model_requested: null,
    stream: false,
    status: type === 'succeeded' ? 'ok' : 'error',
    http_status: null,
    error_type: errorType,
    error_code: null,
    stop_reason: str(message?.['stop_reason']),
    message_id: str(message?.['id']),
    ttft_ms: null,
    output_tokens_per_second: null,
    complete: type === 'succeeded',
    usage: usageRaw ? usageFromApi(usageRaw) : null,
    rate_limits: null,
    batch: {
      batch_id: call.batch?.batch_id ?? null,
      custom_id: str(item?.['custom_id']) ?? '',
      result_type: type,
    },
  };
}
