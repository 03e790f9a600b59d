/**
 * A tracer provider handed to the SDK's `openTelemetry.tracerProvider` option. The SDK opens
 * one call span per API call — covering every retry, the backoff between them and the read of a
 * stream — and ends it exactly once, when the call is over. That end is the exact call boundary
 * the emitter needs: a call that fails is written after its last attempt, a call aborted during
 * a retry's backoff is written once, and a stream is written when the app finished with it.
 *
 * Each span wraps one from the provider the app would otherwise have used (its own, or the
 * globally registered one), forwarding every call, so the app's own tracing is unchanged.
 */
import { trace } from '@opentelemetry/api';
import type {
  Attributes,
  AttributeValue,
  Context,
  Exception,
  Link,
  Span,
  SpanContext,
  SpanOptions,
  SpanStatus,
  TimeInput,
  Tracer,
  TracerOptions,
  TracerProvider,
} from '@opentelemetry/api';
import { CallRecord, operationOfSpan } from './call-record.js';
import type { CallOrigin } from './call-record.js';
import { callTags } from './tags.js';
import type { Tags } from './tags.js';
import { OpenAtExit } from './exit-hook.js';
import { WARNING_CODES, warnOnce } from './warnings.js';

/** What the tracer needs from the emitter. */
export interface CallSink {
  /** Called once per call, when its span ends. Must not throw. */
  finish(record: CallRecord): void;
  /** Counts a fault of the emitter itself. */
  fault(err: unknown): void;
}

/** Per-client settings. */
export interface ClientScope {
  origin: CallOrigin;
  tags: Tags;
}

const ERROR_TYPE = 'error.type';
/** Set by the SDK on a call span once a response arrived. */
const RESPONSE_STATUS = 'http.response.status_code';

/**
 * Calls begun and not ended, each ended (and written) once: by the signal its source hears (a
 * span's end, the tracker's settle), by an abandoned stream, or when the process exits while it
 * is in flight (a stream held or being read, a request unanswered, a retry's backoff), as it
 * stands then: with its failure if it has one, else the one it waits on ({@link CallRecord.pendingFailure}).
 */
export class OpenCalls {
  readonly #open = new OpenAtExit<CallRecord>((record) => this.end(record, record.failureType ?? record.pendingFailure));

  constructor(private readonly sink: CallSink) {}

  opened(record: CallRecord): void {
    this.#open.add(record);
  }

  /** Ends the call as `failureType` (default: the failure it has) and writes it, once. */
  end(record: CallRecord, failureType: string | null = record.failureType): void {
    this.#open.delete(record);
    if (record.ended) return;
    record.ended = true;
    record.failureType = failureType;
    try {
      record.release?.();
      record.release = null;
      this.sink.finish(record);
    } catch (err: unknown) {
      this.sink.fault(err);
    }
  }
}

/** Span names the emitter records: the Messages API and its batches. Others pass through. */
function isRecorded(name: string): boolean {
  return name.startsWith('anthropic.messages.');
}

export class CallSpan implements Span {
  constructor(
    readonly inner: Span,
    readonly record: CallRecord,
    private readonly calls: OpenCalls,
  ) {}

  spanContext(): SpanContext {
    return this.inner.spanContext();
  }
  setAttribute(key: string, value: AttributeValue): this {
    if (key === ERROR_TYPE && typeof value === 'string') this.record.failureType = value;
    else if (key === RESPONSE_STATUS) this.#responded();
    this.inner.setAttribute(key, value);
    return this;
  }
  setAttributes(attributes: Attributes): this {
    const errorType = attributes[ERROR_TYPE];
    if (typeof errorType === 'string') this.record.failureType = errorType;
    if (attributes[RESPONSE_STATUS] !== undefined) this.#responded();
    this.inner.setAttributes(attributes);
    return this;
  }
  /**
   * A response arrived: the emitter's middleware saw its request, unless a `middleware` option
   * spread after `clientOptions()` replaced it, and then every call of the client is written
   * without status, attempts or usage. Nothing else would tell.
   */
  #responded(): void {
    if (this.record.described) return;
    warnOnce(WARNING_CODES.middlewareReplaced, 'a client made with clientOptions() got a response its middleware never saw: a middleware option given after clientOptions() replaced the emitter\'s, and its calls are recorded without their status, attempts or usage. Give the app\'s middleware to clientOptions({ middleware: [...] }), or use instrument(client)');
  }
  addEvent(name: string, attributesOrStartTime?: Attributes | TimeInput, startTime?: TimeInput): this {
    this.inner.addEvent(name, attributesOrStartTime, startTime);
    return this;
  }
  addLink(link: Link): this {
    this.inner.addLink(link);
    return this;
  }
  addLinks(links: Link[]): this {
    this.inner.addLinks(links);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.inner.setStatus(status);
    return this;
  }
  updateName(name: string): this {
    this.inner.updateName(name);
    return this;
  }
  end(endTime?: TimeInput): void {
    this.calls.end(this.record);
    this.inner.end(endTime);
  }
  isRecording(): boolean {
    // The SDK only feeds spans that record; ours always do, whatever the inner span does.
    return true;
  }
  recordException(exception: Exception, time?: TimeInput): void {
    this.inner.recordException(exception, time);
  }
}

class CallTracer implements Tracer {
  constructor(
    private readonly inner: Tracer,
    private readonly scope: ClientScope,
    private readonly sink: CallSink,
    private readonly calls: OpenCalls,
  ) {}

  startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    const inner = this.inner.startSpan(name, options, context);
    if (!isRecorded(name)) return inner;
    try {
      const record = new CallRecord(operationOfSpan(name), this.scope.origin, callTags(this.scope.tags));
      const span = new CallSpan(inner, record, this.calls);
      this.calls.opened(record);
      return span;
    } catch (err: unknown) {
      this.sink.fault(err);
      return inner;
    }
  }

  // The SDK does not use active spans; forward them untouched.
  startActiveSpan: Tracer['startActiveSpan'] = ((...args: unknown[]) =>
    (this.inner.startActiveSpan as (...a: unknown[]) => unknown).apply(this.inner, args)) as Tracer['startActiveSpan'];
}

export class CallTracerProvider implements TracerProvider {
  constructor(
    private readonly scope: ClientScope,
    private readonly sink: CallSink,
    private readonly calls: OpenCalls,
    /** The provider the app gave the client, if any; else the global one. */
    readonly delegate?: TracerProvider,
  ) {}

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const inner = (this.delegate ?? trace.getTracerProvider()).getTracer(name, version, options);
    return new CallTracer(inner, this.scope, this.sink, this.calls);
  }
}
