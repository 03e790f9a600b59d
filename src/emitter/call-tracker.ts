/**
 * Where a call's record comes from and how the emitter learns that the call is over.
 *
 * Two sources, one middleware:
 *
 * - {@link CallTracker} (`instrument(client)`): the middleware alone. The SDK hands every attempt
 *   of one call the same request options object, so the tracker keys the call on it. The call
 *   ends on a signal the SDK itself gives: it parses a successful body (`json()`), reads the body
 *   of an error it will not retry (`text()`; it cancels the bodies of those it retries), the app
 *   finishes with a stream, an attempt throws with no retry left, or the app aborts while the SDK
 *   waits out a backoff. Knowing the client's `maxRetries` settles the last thrown attempt at
 *   once. Where no signal can come (a body the app reads raw after `asResponse()`, a thrown
 *   error that an app middleware raised), a coarse sweep ends the call once the SDK could no
 *   longer retry it. This avoids the SDK's call-span work, about 50 µs a call.
 * - {@link spanCalls} (`clientOptions()`, where no client is at hand to read `maxRetries` from):
 *   the SDK's call span opens the record and ends it; the middleware only feeds it.
 */
import type { Middleware } from '@anthropic-ai/sdk';
import { CallRecord } from './call-record.js';
import type { CallSink, ClientScope } from './call-tracer.js';
import { CallSpan, OpenCalls } from './call-tracer.js';
import { callTags } from './tags.js';
import { CALL_SPANS_SINCE_SDK, MIDDLEWARE_SINCE_SDK, WARNING_CODES, warnOnce } from './warnings.js';

type ApiRequest = Parameters<Middleware>[0];

/** The SDK's request options, as far as the emitter reads them. */
export interface SdkOptions {
  __span?: { span?: unknown };
  __binaryResponse?: boolean;
  stream?: boolean;
  body?: unknown;
  maxRetries?: number;
  signal?: AbortSignal | null;
}

/** Finds each attempt's call and hears the signals that may end it. */
export interface CallSource {
  /** The call `request` is an attempt of, or null to let the attempt pass unrecorded. */
  callOf(request: ApiRequest, options: SdkOptions | undefined): CallRecord | null;
  /** The call is over. `failureType`: the failure that ended it, as the SDK's span names it; null for none. */
  settle(call: CallRecord, failureType: string | null): void;
  /**
   * The attempt ended in a way the SDK may retry after up to `waitMs` (an error response whose
   * body it did not read yet, a successful body not yet parsed): the call ends as its
   * {@link CallRecord.pendingFailure} unless another attempt or an end signal comes first.
   */
  await(call: CallRecord, waitMs: number): void;
  /** The attempt threw (after it was recorded), as `failureType` (`aborted`: by the app). */
  threw(call: CallRecord, failureType: string, options: SdkOptions): void;
  /** The app let go of the call's stream without reading it to an end: no other signal will come. */
  abandoned(call: CallRecord): void;
}

/**
 * `clientOptions()`: the SDK's call span opens and ends each call (the span's end writes it),
 * except a stream the app lets go of unread, whose span the SDK never ends.
 */
export function spanCalls(calls: OpenCalls): CallSource {
  return {
    callOf(request, options) {
      const span = options?.__span?.span;
      if (span instanceof CallSpan) return span.record;
      // A message created with no call span: the client dropped the tracer provider (an SDK
      // without call spans, or the app's own openTelemetry settings spread over ours), and none
      // of its calls is recorded.
      if (options !== undefined && options.__span === undefined && operationOfRequest(request, options) === 'messages.create') {
        warnOnce(WARNING_CODES.sdkWithoutCallSpans, `a client made with clientOptions() opened no call span for a message: its @anthropic-ai/sdk has none (the openTelemetry option came with SDK ${CALL_SPANS_SINCE_SDK}), or openTelemetry options given after clientOptions() replaced the emitter's. None of its calls is recorded. Use instrument(client) (SDK ${MIDDLEWARE_SINCE_SDK} or later), or upgrade @anthropic-ai/sdk to ${CALL_SPANS_SINCE_SDK} or later`);
      }
      return null;
    },
    settle() {},
    await() {},
    threw() {},
    abandoned(call) {
      calls.end(call);
    },
  };
}

/** How often pending calls are checked against their deadline. */
const SWEEP_INTERVAL_MS = 1000;
/** How long a successful body may stay unparsed before the call is written without it. */
export const UNPARSED_BODY_WAIT_MS = 5000;
/** The SDK's largest `retry-after` (a timer's limit); past it, it uses its own backoff. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long the SDK may wait before its next attempt, with room for a busy event loop: the
 * attempt's `retry-after` when the SDK honours it, else the SDK's backoff after `retriesDone`
 * retries (0.5 s doubling up to 8 s, jitter only shortening it).
 */
export function retryWaitBound(retryAfterMs: number | null, retriesDone: number): number {
  const wait = retryAfterMs !== null && retryAfterMs > 0 && retryAfterMs <= MAX_TIMER_MS ? retryAfterMs : Math.min(500 * 2 ** retriesDone, 8000);
  return wait * 1.5 + 2000;
}

/** A base class whose constructor returns the object it is given: a subclass's private fields are set on that object. */
class OnObject {
  constructor(o: object) {
    return o;
  }
}

/**
 * The call an SDK request options object belongs to, kept on the object itself (which the SDK
 * hands to every attempt of one call) as a private field: like a property, but one no spread,
 * `Object.keys()` or log of the options shows, and which V8 adds on its fast path. A `WeakMap`
 * keyed on the options cost about 4 µs a call more (its young entries are walked at every
 * scavenge), and a symbol property defined not enumerable (`Object.defineProperty`) about 3 µs.
 * V8 adds a private field even to a frozen object (the SDK's options are not); a runtime that
 * refused one would throw into the middleware's guard, which counts it as a fault.
 */
class CallOfOptions extends OnObject {
  #call: CallRecord;

  private constructor(options: object, call: CallRecord) {
    super(options);
    this.#call = call;
  }

  static get(options: object): CallRecord | undefined {
    return #call in options ? (options as CallOfOptions).#call : undefined;
  }

  static set(options: object, call: CallRecord): void {
    if (#call in options) (options as CallOfOptions).#call = call;
    else new CallOfOptions(options, call);
  }
}

/**
 * `instrument(client)`: the middleware alone finds and ends each call. A call still in flight
 * when the process exits (a request unanswered, a stream held or being read, a retry's
 * backoff) is ended then, as it stands: its event is written with the others at exit.
 */
export class CallTracker implements CallSource {
  /** Calls waiting for a signal, by the time past which they end as their pending failure. */
  readonly #pending = new Map<CallRecord, number>();
  /** Calls begun and not ended (an unread success ends as ok at exit, a stream as aborted with what the app read of it). */
  readonly #live: OpenCalls;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly scope: ClientScope,
    private readonly sink: CallSink,
    /** The client's `maxRetries` (a request may override it). */
    private readonly maxRetries: number,
  ) {
    this.#live = new OpenCalls(sink);
  }

  callOf(request: ApiRequest, options: SdkOptions | undefined): CallRecord | null {
    if (!options) return null;
    const open = CallOfOptions.get(options);
    if (open !== undefined && !open.ended) {
      // A retry of a call in flight.
      this.#pending.delete(open);
      return open;
    }
    const operation = operationOfRequest(request, options);
    if (operation === null) return null;
    const call = new CallRecord(operation, this.scope.origin, callTags(this.scope.tags));
    CallOfOptions.set(options, call);
    this.#live.opened(call);
    const signal = options.signal;
    if (signal) {
      // An abort while the SDK waits out a backoff reaches no attempt: hear it here.
      const listener = (): void => {
        if (this.#pending.has(call)) this.settle(call, null);
      };
      signal.addEventListener('abort', listener, { once: true });
      // Held by the call itself, and undone when it ends.
      call.release = () => signal.removeEventListener('abort', listener);
    }
    return call;
  }

  settle(call: CallRecord, failureType: string | null): void {
    this.#pending.delete(call);
    this.#live.end(call, failureType);
  }

  await(call: CallRecord, waitMs: number): void {
    if (call.ended) return;
    this.#pending.set(call, Date.now() + waitMs);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
      this.#sweeper.unref();
    }
  }

  abandoned(call: CallRecord): void {
    this.settle(call, null);
  }

  threw(call: CallRecord, failureType: string, options: SdkOptions): void {
    // Aborted by the app: the SDK throws its user-abort error, which is no failure.
    if (failureType === 'aborted') return this.settle(call, null);
    if (this.#retriesLeft(call, options) <= 0) return this.settle(call, failureType);
    this.await(call, retryWaitBound(null, call.attempts.length - 1));
  }

  #retriesLeft(call: CallRecord, options: SdkOptions): number {
    // As the SDK: the request's own setting, else the client's; a streamed upload is never retried.
    const max = isStreamBody(options.body) ? 0 : typeof options.maxRetries === 'number' ? options.maxRetries : this.maxRetries;
    return max - (call.attempts.length - 1);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [call, deadline] of this.#pending) if (deadline <= now) this.settle(call, call.pendingFailure);
    if (this.#pending.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

function isStreamBody(body: unknown): boolean {
  return (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) || (typeof body === 'object' && body !== null && Symbol.asyncIterator in body);
}

const MESSAGES_PATH = '/v1/messages';

/**
 * The operation a request is the first attempt of, named as the SDK names its call spans
 * (`messages.create`, `messages.batches.retrieve`…), or null for an endpoint the emitter does
 * not record. `beta.` and `messages.stream` are decided from the headers later, as for spans.
 */
export function operationOfRequest(request: ApiRequest, options: SdkOptions): string | null {
  // A batch's results are read from its `results_url`, whatever that URL is.
  if (options.__binaryResponse === true && options.stream === true) return 'messages.batches.results';
  const url = request.url;
  const at = url.indexOf(MESSAGES_PATH);
  if (at === -1) return null;
  let end = url.indexOf('?', at);
  if (end === -1) end = url.length;
  const rest = url.slice(at + MESSAGES_PATH.length, end);
  const method = (request.method ?? 'GET').toUpperCase();
  if (rest === '' || rest === '/') return method === 'POST' ? 'messages.create' : null;
  if (rest === '/count_tokens') return 'messages.count_tokens';
  if (!rest.startsWith('/batches')) return null;
  const parts = rest.slice('/batches'.length).split('/').filter((p) => p !== '');
  if (parts.length === 0) return method === 'POST' ? 'messages.batches.create' : 'messages.batches.list';
  if (parts.length === 1) return method === 'DELETE' ? 'messages.batches.delete' : 'messages.batches.retrieve';
  if (parts[1] === 'cancel') return 'messages.batches.cancel';
  if (parts[1] === 'results') return 'messages.batches.results';
  return null;
}
