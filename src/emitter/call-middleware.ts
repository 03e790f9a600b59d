/**
 * The SDK middleware: runs once per HTTP attempt, inside the SDK's retry loop, and records the
 * attempt on its call, which a {@link CallSource} finds (and learns the end of). It never reads
 * the body the app will read: a JSON body is seen when the SDK itself parses it, a streamed body
 * through a pass-through that reads only what the app reads. Everything it does runs inside a
 * guard; the attempt's own result or error always reaches the SDK unchanged.
 */
// The module's `performance`, not the global: Node's global is a getter, called at each use.
import { performance } from 'node:perf_hooks';
import type { Middleware } from '@anthropic-ai/sdk';
import type { Attempt } from '../event/types.js';
import { asObject, copyJson, str } from './json-shape.js';
import type { CallRecord, ErrorInfo } from './call-record.js';
import type { CallSink } from './call-tracer.js';
import { retryWaitBound, UNPARSED_BODY_WAIT_MS } from './call-tracker.js';
import { providerOfUrl } from './provider.js';
import type { CallSource, SdkOptions } from './call-tracker.js';
import { JsonlScanner, keepWhileRead, newSseFacts, observeBody, observeIteration, SseScanner } from './stream-observer.js';
import type { ChunkScanner } from './stream-observer.js';

/** Emits one event per batch result line read through `batches.results()`. */
export interface BatchResultSink {
  batchResult(call: CallRecord, line: unknown): void;
}

/** `error.type` the API sends with each status, for attempts whose body the SDK skipped. */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const BATCH_RESULTS = /\/messages\/batches\/([^/?#]+)\/results/;

const EMITTER_MIDDLEWARE = Symbol.for('claudescope.middleware');

/** Whether `m` is an emitter's middleware (so instrumenting twice does not record twice). */
export function isEmitterMiddleware(m: Middleware): boolean {
  return (m as unknown as Record<symbol, unknown>)[EMITTER_MIDDLEWARE] === true;
}

/**
 * Ends the call of a stream the app let go of without reading it to an end (nor breaking out,
 * nor aborting): no other signal would ever come. The response is what the app's stream holds
 * (the SDK's `Stream`, or the iterator it reads the body through: {@link keepWhileRead}); once
 * the app drops it, the call is written as aborted, with what was read of it.
 */
const unreadStreams = new FinalizationRegistry<{ call: CallRecord; source: CallSource }>(({ call, source }) => {
  try {
    source.abandoned(call);
  } catch {
    // A fault here has no app call to protect and nowhere to be counted but the writer's.
  }
});

export function createCallMiddleware(sink: CallSink & BatchResultSink, source: CallSource): Middleware {
  const middleware: Middleware = async function claudescopeMiddleware(request, next, ctx) {
    const options = ctx.options as SdkOptions | undefined;
    let call: CallRecord | null;
    try {
      call = source.callOf(request, options);
    } catch (err: unknown) {
      sink.fault(err);
      call = null;
    }
    if (call === null || options === undefined) return next(request);
    let attempt: Attempt | null = null;
    try {
      if (!call.described) describe(call, request, options);
      call.attemptStart = performance.now() - call.t0;
      call.pendingFailure = null;
    } catch (err: unknown) {
      sink.fault(err);
    }
    let response: Response;
    try {
      response = await next(request);
    } catch (err: unknown) {
      try {
        const type = fetchFailureType(err, options.signal?.aborted === true);
        call.attempts.push({
          status: null,
          error_type: type,
          request_id: null,
          start_offset_ms: round3(call.attemptStart),
          duration_ms: round3(performance.now() - call.t0 - call.attemptStart),
          retry_after_ms: null,
        });
        // Aborted by the app: the SDK throws its user-abort error, which is no failure.
        call.pendingFailure = type === 'aborted' ? null : type;
        source.threw(call, type, options);
      } catch (fault: unknown) {
        sink.fault(fault);
      }
      throw err;
    }
    try {
      const status = response.status;
      attempt = {
        status,
        error_type: status >= 400 ? (TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : null)) : null,
        request_id: null,
        start_offset_ms: round3(call.attemptStart),
        duration_ms: round3(performance.now() - call.t0 - call.attemptStart),
        retry_after_ms: null,
      };
      call.attempts.push(attempt);
      call.httpStatus = status;
      if (status >= 400) {
        // Its headers now: their retry hint decides how long the SDK may wait.
        call.recordHeaders(attempt, response.headers);
        // The SDK reads the body of an error it gives up on, and cancels those it retries.
        captureErrorBody(response, call, attempt, sink, source);
      } else {
        // A success's headers when the call ends, after the SDK listed them (see readResponseFacts).
        call.deferHeaders(attempt, response.headers);
        call.error = null;
        if (options.stream && response.body) return observeStream(response, response.body, request.url, call, sink, source, options);
        captureJsonBody(response, call, sink, source, options);
      }
    } catch (err: unknown) {
      sink.fault(err);
    }
    // Until a signal ends it (and whatever failed above, so that it still ends): an error response
    // as the SDK may retry it; a success once its body could have been read, for a body the app
    // reads raw (`asResponse()`) gives no parse to end the call on.
    try {
      if (attempt !== null && attempt.status !== null && attempt.status >= 400) {
        call.pendingFailure = attempt.error_type ?? String(attempt.status);
        source.await(call, retryWaitBound(attempt.retry_after_ms, call.attempts.length - 1));
      } else {
        source.await(call, UNPARSED_BODY_WAIT_MS);
      }
    } catch (err: unknown) {
      sink.fault(err);
    }
    return response;
  };
  Object.defineProperty(middleware, EMITTER_MIDDLEWARE, { value: true });
  return middleware;
}

/**
 * Hands the bytes the app reads of a streamed body to the call's scanner, and ends the call
 * when the app is done with the stream; returns the response the SDK gets.
 */
function observeStream(response: Response, body: ReadableStream<Uint8Array>, url: string, call: CallRecord, sink: CallSink & BatchResultSink, source: CallSource, options: SdkOptions): Response {
  call.streamAttemptStart = call.attemptStart;
  let scanner: ChunkScanner;
  if (options.__binaryResponse) {
    call.batch = { batch_id: BATCH_RESULTS.exec(url)?.[1] ?? null };
    scanner = new JsonlScanner((line) => sink.batchResult(call, line));
  } else {
    call.sse = newSseFacts();
    scanner = new SseScanner(call.sse);
  }
  const hooks = {
    onFault: (e: unknown) => sink.fault(e),
    // The app finished with the stream: read to its end, broke out, aborted, or it failed.
    onEnd: (err: unknown, readToEnd: boolean) => {
      call.bodyReadToEnd = readToEnd;
      unreadStreams.unregister(call);
      source.settle(call, err === undefined ? null : readFailureType(err, options));
    },
  };
  // What the app reads the body through keeps the response alive: an app may read the body
  // alone (`asResponse()`), and only a response let go of unread ends the call.
  let observed = response;
  if (!observeIteration(body, scanner, hooks, response)) {
    const wrapped = observeBody(body, scanner, hooks);
    observed = new Response(wrapped, response);
    keepWhileRead(wrapped, observed);
  }
  unreadStreams.register(observed, { call, source }, call);
  return observed;
}

/** Reads what the event needs from the first attempt's request. */
function describe(call: CallRecord, request: { url: string; headers: Headers }, options: SdkOptions): void {
  call.described = true;
  if (call.origin.provider === null) call.provider = providerOfUrl(request.url);
  call.stream = options.stream === true;
  call.requestBody = options.body;
  const body = asObject(options.body);
  if (body) {
    call.modelRequested = str(body['model']);
    const maxTokens = body['max_tokens'];
    call.maxTokens = typeof maxTokens === 'number' ? maxTokens : null;
    const tools = body['tools'];
    call.toolCount = Array.isArray(tools) ? tools.length : null;
  }
  // The SDK's stream helper marks its requests, which always stream: a call that does not
  // stream needs no look-up (each `Headers` look-up validates and lower-cases the name,
  // ~3,000 instructions).
  if (call.stream && call.operation === 'messages.create' && request.headers.get('x-stainless-helper-method') === 'stream') {
    call.operation = 'messages.stream';
  }
  // SDK 1.x sends beta calls to the same paths; only the `anthropic-beta` header tells them
  // apart (older SDKs added `?beta=true`).
  if (request.headers.has('anthropic-beta') || request.url.includes('beta=true')) call.operation = `beta.${call.operation}`;
}

/**
 * Sees the parsed JSON when the SDK parses it: the instance's `json()` is wrapped to pass the
 * same value through. No second read or parse of the body. An app that reads the body itself
 * after `asResponse()` through `text()`, `arrayBuffer()` or `bytes()` gets the same bytes, and
 * the call its usage from a parse of them (only then: the SDK reads a JSON body through
 * `json()`). The wrappers are shared functions and the call's facts one object on the response,
 * under a symbol that is not enumerable (a spread or a log of the response carries neither the
 * facts nor the request they hold): a closure per method and call cost ~3 µs a call more.
 *
 * On a response of the platform's own `fetch` the wrappers are set by plain assignment, in one
 * order, so wrapped responses share one hidden class: defining them (`Object.defineProperties`)
 * takes V8's slow path, ~2 µs a call. They are own enumerable properties then (`Object.keys()`
 * lists them; `util.inspect` does not, undici's `Response` prints itself). A response of another
 * `fetch` (a subclass, node-fetch, a look-alike) has them defined, and only those it has, since
 * assigning could run its setters or fail on a read-only method (an own method keeps its
 * enumerability; one that cannot be redefined is left as it is); so does one whose prototype
 * was frozen.
 */
function captureJsonBody(response: Response, call: CallRecord, sink: CallSink, source: CallSource, options: SdkOptions): void {
  const r = response as unknown as WrappedResponse;
  const reads: BodyReads = { call, sink, source, options, json: r.json, text: r.text, arrayBuffer: r.arrayBuffer, bytes: r.bytes };
  Object.defineProperty(r, BODY_READS, { value: reads, configurable: true });
  if (Object.getPrototypeOf(r) === Response.prototype) {
    try {
      r.json = WRAPPED.json;
      r.text = WRAPPED.text;
      r.arrayBuffer = WRAPPED.arrayBuffer;
      if (typeof reads.bytes === 'function') r.bytes = WRAPPED.bytes;
      return;
    } catch {
      // A frozen prototype: its methods cannot be shadowed by assignment.
    }
  }
  for (const name of BODY_METHOD_NAMES) {
    if (typeof reads[name] !== 'function') continue;
    // An own method (a look-alike's) keeps its enumerability; one it cannot redefine stays unwrapped.
    const own = Object.getOwnPropertyDescriptor(r, name);
    if (own?.configurable === false) continue;
    Object.defineProperty(r, name, { value: WRAPPED[name], writable: true, configurable: true, enumerable: own?.enumerable ?? false });
  }
}

/** The body methods wrapped, and how each one's result is parsed for the call's facts. */
const BODY_METHODS = {
  json: (data: unknown) => data,
  text: (body: string) => JSON.parse(body) as unknown,
  arrayBuffer: (body: ArrayBuffer) => JSON.parse(utf8.decode(body)) as unknown,
  bytes: (body: Uint8Array) => JSON.parse(utf8.decode(body)) as unknown,
};
type BodyMethod = keyof typeof BODY_METHODS;

/** What a successful JSON response's wrapped body methods need: its call, and the methods they wrap. */
interface BodyReads extends Record<BodyMethod, (() => Promise<unknown>) | undefined> {
  call: CallRecord;
  sink: CallSink;
  source: CallSource;
  options: SdkOptions;
}

const BODY_READS = Symbol('claudescope.bodyReads');
const utf8 = new TextDecoder();

/** A response as {@link captureJsonBody} writes to it. */
type WrappedResponse = Record<BodyMethod, (() => Promise<unknown>) | undefined> & { [BODY_READS]?: BodyReads };

/**
 * One wrapped body method, shared by every response: its call's facts are on the response
 * ({@link BODY_READS}). One async function reads the body and ends the call: a read that fails
 * ends it as a connection error, unless aborted; a body that was read whole but is not JSON
 * (`json()` throws a SyntaxError) ends it without a failure, as a read through `text()` does.
 * (A second async function for the read cost a promise and a turn of the microtask queue more.)
 */
function wrappedBodyMethod(name: BodyMethod, parse: (body: never) => unknown): (this: Response) => Promise<unknown> {
  return async function (this: Response): Promise<unknown> {
    const r = (this as unknown as WrappedResponse)[BODY_READS];
    const original = r?.[name];
    // Called on another response (`res.text.call(other)`): read it plainly.
    if (r === undefined || original === undefined) return (Response.prototype as unknown as Record<BodyMethod, () => Promise<unknown>>)[name].call(this);
    let body: unknown;
    try {
      body = await original.call(this);
    } catch (err: unknown) {
      r.source.settle(r.call, err instanceof SyntaxError ? null : readFailureType(err, r.options));
      throw err;
    }
    return settleFromBody(r, body, parse as (body: unknown) => unknown);
  };
}

const BODY_METHOD_NAMES = Object.keys(BODY_METHODS) as BodyMethod[];

const WRAPPED: Record<BodyMethod, (this: Response) => Promise<unknown>> = {
  json: wrappedBodyMethod('json', BODY_METHODS.json),
  text: wrappedBodyMethod('text', BODY_METHODS.text),
  arrayBuffer: wrappedBodyMethod('arrayBuffer', BODY_METHODS.arrayBuffer),
  bytes: wrappedBodyMethod('bytes', BODY_METHODS.bytes),
};

/** Ends the call with the facts of the body read (`parse`d, unless the call already ended); returns the body as read. */
function settleFromBody<T>(r: BodyReads, value: T, parse: (value: T) => unknown): T {
  const call = r.call;
  if (call.ended) return value;
  let data: unknown = null;
  try {
    data = parse(value);
  } catch {
    // Not JSON: the call ends without the facts of a body.
  }
  try {
    call.data = asObject(data);
    if (call.operation.endsWith('batches.create') || call.operation.endsWith('batches.retrieve')) {
      const counts = asObject(call.data?.['request_counts']);
      call.batch = {
        batch_id: str(call.data?.['id']),
        ...(counts ? { request_counts: copyJson(counts) as Record<string, number> } : {}),
      };
    }
  } catch (err: unknown) {
    r.sink.fault(err);
  }
  r.source.settle(call, null);
  return value;
}


/** Sees an error body when the SDK reads it (it skips the bodies of attempts it retries). */
function captureErrorBody(response: Response, call: CallRecord, attempt: Attempt, sink: CallSink, source: CallSource): void {
  const text = response.text;
  replaceMethod(response, 'text', async function (this: Response) {
    let body: string;
    try {
      body = await text.call(this);
    } catch (err: unknown) {
      source.settle(call, attempt.error_type ?? String(attempt.status));
      throw err;
    }
    try {
      const info = parseErrorBody(body);
      call.error = info;
      if (info.type) attempt.error_type = info.type;
    } catch (err: unknown) {
      sink.fault(err);
    }
    // As the SDK's span names the error it raises: the body's type, else the status.
    source.settle(call, call.error?.type ?? String(attempt.status));
    return body;
  });
}

/** Shadows a body method on this one Response instance (the prototype is untouched). */
function replaceMethod(response: Response, name: 'text', fn: (this: Response) => Promise<unknown>): void {
  Object.defineProperty(response, name, { value: fn, writable: true, configurable: true, enumerable: false });
}

export function parseErrorBody(body: string): ErrorInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { type: null, errorCode: null };
  }
  const error = asObject(asObject(parsed)?.['error']);
  const details = asObject(error?.['details']);
  return { type: str(error?.['type']), errorCode: str(details?.['error_code']) };
}

/**
 * `error.type` of an attempt whose fetch threw, as the SDK names the error it then raises:
 * `aborted` when the app aborted; an abort the app did not make is the SDK's own timeout.
 */
export function fetchFailureType(err: unknown, appAborted: boolean): string {
  const e = err as { name?: unknown; cause?: unknown } | null;
  const name = e?.name;
  if (appAborted || name === 'APIUserAbortError') return 'aborted';
  if (name === 'AbortError' || name === 'TimeoutError' || name === 'APIConnectionTimeoutError' || /timed? ?out/i.test(`${text(err)}${text(e?.cause ?? '')}`)) {
    return 'client_timeout_error';
  }
  return 'connection_error';
}

/**
 * What an app middleware threw, as text: `String()` throws for an object without a prototype
 * or with a throwing `toString`, and the attempt would go unrecorded, its call written at exit.
 */
function text(thrown: unknown): string {
  try {
    return String(thrown);
  } catch {
    return '';
  }
}

/**
 * The failure a body read that threw ends its call with: none when it was aborted (by the app,
 * or by the SDK for it, as `stream.abort()` does), else a connection error.
 */
function readFailureType(err: unknown, options: SdkOptions): string | null {
  const name = (err as { name?: unknown } | null)?.name;
  return options.signal?.aborted || name === 'AbortError' || name === 'APIUserAbortError' ? null : 'connection_error';
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
