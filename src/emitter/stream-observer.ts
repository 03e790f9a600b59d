/**
 * Observes the bytes of a response body as the application itself reads them, through a
 * pass-through stream. Unlike a tee'd copy (`ctx.parse`), this never reads ahead of the app:
 * when the app stops reading or aborts, the connection closes exactly as it would without the
 * emitter, so an abandoned generation is not kept alive (and billed) by the observer.
 */
import { asObject, str } from './json-shape.js';

/** What the SSE scanner learned from a Messages stream. */
export interface SseFacts {
  /** `Date.now()` when the first `content_block_delta` was read, or null. */
  firstDeltaAt: number | null;
  /** The raw usage so far: `message_start` usage with each `message_delta` snapshot laid over it. */
  usage: Record<string, unknown> | null;
  messageId: string | null;
  model: string | null;
  stopReason: string | null;
  sawMessageDelta: boolean;
  sawMessageStop: boolean;
  /** The body of an `event: error` frame, if one came. */
  error: { type: string | null; message: string | null; errorCode: string | null } | null;
}

export function newSseFacts(): SseFacts {
  return {
    firstDeltaAt: null,
    usage: null,
    messageId: null,
    model: null,
    stopReason: null,
    sawMessageDelta: false,
    sawMessageStop: false,
    error: null,
  };
}

/** Consumes decoded chunks of an SSE body and records the facts the event needs. */
export interface ChunkScanner {
  push(text: string): void;
  /** Called once the body ended, for a last piece not followed by a separator. */
  finish?(): void;
}

const EVENT_PREFIX = 'event: ';

/**
 * Scans Anthropic's SSE framing (`event: NAME\ndata: JSON\n\n`). Only `message_start`,
 * `message_delta`, `message_stop`, `error` and the first `content_block_delta` are looked at;
 * the frequent delta frames cost one `startsWith` each and are never parsed.
 */
export class SseScanner implements ChunkScanner {
  #carry = '';
  constructor(readonly facts: SseFacts) {}

  push(text: string): void {
    const s = this.#carry.length > 0 ? this.#carry + text : text;
    let pos = 0;
    for (;;) {
      const end = s.indexOf('\n\n', pos);
      if (end === -1) break;
      this.#frame(s, pos, end);
      pos = end + 2;
    }
    this.#carry = pos === 0 ? s : s.slice(pos);
  }

  #frame(s: string, start: number, end: number): void {
    // Skip blank lines and `\r` some proxies add between frames.
    while (start < end && (s.charCodeAt(start) === 10 || s.charCodeAt(start) === 13)) start++;
    if (!s.startsWith(EVENT_PREFIX, start)) return;
    const nameStart = start + EVENT_PREFIX.length;
    const f = this.facts;
    if (s.startsWith('content_block_delta', nameStart)) {
      if (f.firstDeltaAt === null) f.firstDeltaAt = Date.now();
      return;
    }
    if (s.startsWith('ping', nameStart) || s.startsWith('content_block_', nameStart)) return;
    if (s.startsWith('message_stop', nameStart)) {
      f.sawMessageStop = true;
      return;
    }
    const isStart = s.startsWith('message_start', nameStart);
    const isDelta = !isStart && s.startsWith('message_delta', nameStart);
    const isError = !isStart && !isDelta && s.startsWith('error', nameStart);
    if (!isStart && !isDelta && !isError) return;
    const dataAt = s.indexOf('data:', nameStart);
    if (dataAt === -1 || dataAt >= end) return;
    const data = JSON.parse(s.slice(dataAt + 5, end)) as Record<string, unknown>;
    if (isStart) {
      const message = asObject(data['message']);
      if (!message) return;
      f.messageId = str(message['id']);
      f.model = str(message['model']);
      const usage = asObject(message['usage']);
      f.usage = usage ? { ...usage } : {};
    } else if (isDelta) {
      f.sawMessageDelta = true;
      const delta = asObject(data['delta']);
      const stop = delta ? str(delta['stop_reason']) : null;
      if (stop !== null) f.stopReason = stop;
      const usage = asObject(data['usage']);
      if (usage) {
        // Snapshots are cumulative: a non-null value replaces the earlier one, never adds.
        const merged = f.usage ?? {};
        for (const key of Object.keys(usage)) {
          const v = usage[key];
          if (v !== null && v !== undefined) merged[key] = v;
        }
        f.usage = merged;
      }
    } else {
      const error = asObject(data['error']);
      const details = error ? asObject(error['details']) : null;
      f.error = {
        type: error ? str(error['type']) : null,
        message: error ? str(error['message']) : null,
        errorCode: details ? str(details['error_code']) : null,
      };
    }
  }
}

/** Splits a JSONL body (batch results) into parsed lines handed to `onLine`. */
export class JsonlScanner implements ChunkScanner {
  #carry = '';
  constructor(private readonly onLine: (value: unknown) => void) {}

  push(text: string): void {
    const s = this.#carry + text;
    let pos = 0;
    for (;;) {
      const nl = s.indexOf('\n', pos);
      if (nl === -1) break;
      const line = s.slice(pos, nl).trim();
      pos = nl + 1;
      if (line.length > 0) this.onLine(JSON.parse(line));
    }
    this.#carry = s.slice(pos);
  }

  /** The last line of a body need not end with a newline. */
  finish(): void {
    const line = this.#carry.trim();
    this.#carry = '';
    if (line.length > 0) this.onLine(JSON.parse(line));
  }
}

/** What an observer reports besides the scanned facts. */
export interface ObserverHooks {
  /** A scanner fault (scanning stops; the reader is never affected). */
  onFault(err: unknown): void;
  /**
   * The read ended, once: at the body's end, when the reader stopped early (breaking out,
   * cancelling), or with the read's error `err`.
   */
  onEnd?(err?: unknown): void;
}

/**
 * Observes `body` where the SDK reads it on Node: through the stream's async iterator. The
 * iterator of this one stream is wrapped so each chunk the app's loop pulls is handed to
 * `scanner` on its way; nothing is read ahead and `return()` (the app breaking out or
 * aborting) goes straight to the stream's own iterator, which cancels the body. This costs a
 * `then` per chunk, where a wrapping ReadableStream costs a whole stream layer (about 1 µs a
 * chunk). Returns false when the stream has no async iterator (then use {@link observeBody}).
 */
export function observeIteration(body: ReadableStream<Uint8Array>, scanner: ChunkScanner, hooks: ObserverHooks): boolean {
  const own = (body as unknown as Record<symbol, unknown>)[Symbol.asyncIterator];
  if (typeof own !== 'function') return false;
  const iterate = own as (this: ReadableStream<Uint8Array>, ...args: unknown[]) => AsyncIterator<Uint8Array>;
  const decoder = new TextDecoder();
  let scanning = true;
  const scan = (chunk: Uint8Array | undefined, done: boolean): void => {
    if (!scanning) return;
    try {
      scanner.push(done ? decoder.decode() : decoder.decode(chunk, { stream: true }));
      if (done) scanner.finish?.();
    } catch (err: unknown) {
      scanning = false;
      hooks.onFault(err);
    }
  };
  const end = endOnce(hooks);
  Object.defineProperty(body, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    value: function (this: ReadableStream<Uint8Array>, ...args: unknown[]): AsyncIterableIterator<Uint8Array> {
      const it = iterate.apply(this, args);
      const wrapped: AsyncIterableIterator<Uint8Array> = {
        next: () =>
          it.next().then(
            (result) => {
              scan(result.value, result.done === true);
              if (result.done === true) end();
              return result;
            },
            (err: unknown) => {
              end(err ?? new Error('stream failed'));
              throw err;
            },
          ),
        return: (value?: unknown) => {
          end();
          return it.return ? it.return(value) : Promise.resolve({ done: true, value: undefined });
        },
        [Symbol.asyncIterator]: () => wrapped,
      };
      if (it.throw) {
        wrapped.throw = (err?: unknown) => {
          end();
          return it.throw!(err);
        };
      }
      return wrapped;
    },
  });
  return true;
}

/** `hooks.onEnd`, called at most once, its faults reported and never thrown. */
function endOnce(hooks: ObserverHooks): (err?: unknown) => void {
  let ended = false;
  return (err?: unknown) => {
    if (ended || hooks.onEnd === undefined) return;
    ended = true;
    try {
      hooks.onEnd(err);
    } catch (fault: unknown) {
      hooks.onFault(fault);
    }
  };
}

/**
 * Wraps `body` in a stream that hands each chunk to `scanner` as the reader pulls it. The
 * wrapper pulls only when its own reader asks (no read-ahead) and passes cancellation through,
 * so the connection's life is the application's to decide. Scanner faults are reported to
 * `onFault` and switch scanning off; they never reach the reader.
 */
export function observeBody(body: ReadableStream<Uint8Array>, scanner: ChunkScanner, hooks: ObserverHooks): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const end = endOnce(hooks);
  const decoder = new TextDecoder();
  let scanning = true;
  const scan = (text: string): void => {
    if (!scanning) return;
    try {
      scanner.push(text);
    } catch (err: unknown) {
      scanning = false;
      hooks.onFault(err);
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result;
        try {
          result = await reader.read();
        } catch (err: unknown) {
          end(err ?? new Error('stream failed'));
          controller.error(err);
          return;
        }
        if (result.done) {
          scan(decoder.decode());
          if (scanning) {
            try {
              scanner.finish?.();
            } catch (err: unknown) {
              scanning = false;
              hooks.onFault(err);
            }
          }
          controller.close();
          end();
          return;
        }
        scan(decoder.decode(result.value, { stream: true }));
        controller.enqueue(result.value);
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
