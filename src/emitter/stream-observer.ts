/**
 * Observes the bytes of a response body as the application itself reads them, through the
 * body's own iterator (or, where it has none, a pass-through stream). Unlike a tee'd copy (`ctx.parse`), this never reads ahead of the app:
 * when the app stops reading or aborts, the connection closes exactly as it would without the
 * emitter, so an abandoned generation is not kept alive (and billed) by the observer.
 */
import { asciiBytes } from './call-event-json.js';
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
    sawMessageStop: false,
    error: null,
  };
}

/** Consumes the chunks of a body as they are read, and records what the event needs. */
export interface ChunkScanner {
  push(chunk: Uint8Array): void;
  /** Called once the body ended, for a last piece not followed by a separator. */
  finish?(): void;
}

/** Where a read of a frame ended ({@link SseScanner}): inside a line, after a line's end, after a `\r`. */
const IN_LINE = 0;
const AFTER_LINE = 1;
const AFTER_CR = 2;
type Tail = typeof IN_LINE | typeof AFTER_LINE | typeof AFTER_CR;
const STREAM = { stream: true } as const;
const LF = 10;
const CR = 13;
/** A line's end, as SSE reads it. */
const LINE_END = /\r\n|\r|\n/;
const SPACE = 0x20;
/** U+FEFF, a byte order mark. */
const BOM = 0xfeff;
const EVENT_BYTES = asciiBytes('event:');
const DELTA_BYTES = asciiBytes('content_block_delta');
/** Frames that carry nothing the event needs. */
const SKIPPED_NAMES = ['content_block_start', 'content_block_stop', 'ping'].map(asciiBytes);
/** Bytes of a frame's start that decide its kind: `event: `, the longest name told apart and its line's end. */
const CLASSIFY_BYTES = EVENT_BYTES.length + 1 + DELTA_BYTES.length + 1;

/** `bytes` is at `at` in `chunk` (bounds checked by the caller). */
function bytesAt(chunk: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (chunk[at + i] !== bytes[i]) return false;
  return true;
}

/** The event name `name` is at `at` in `chunk`, its line ending there. */
function nameAt(chunk: Uint8Array, at: number, name: Uint8Array): boolean {
  const after = chunk[at + name.length];
  return (after === LF || after === CR) && bytesAt(chunk, at, name);
}

/** What a frame is, from its first bytes: skipped, the first-delta clock, or one to parse. */
const SKIP = 0;
const DELTA = 1;
const PARSE = 2;
type FrameKind = typeof SKIP | typeof DELTA | typeof PARSE;

function classify(chunk: Uint8Array, at: number, end: number): FrameKind {
  // Too few bytes here to tell: parse it as text once whole (rare: a read cut a frame's first line).
  if (end - at < CLASSIFY_BYTES) return PARSE;
  // A frame whose first line is no `event:` (a comment, an `id:` first): parsed whole (rare).
  if (!bytesAt(chunk, at, EVENT_BYTES)) return PARSE;
  // Taken by the name on its first line (SSE lets a later `event:` line rename a frame, which no
  // sender is known to do). Its data is not looked at: the API sends none of these without.
  const name = at + EVENT_BYTES.length + (chunk[at + EVENT_BYTES.length] === SPACE ? 1 : 0);
  if (nameAt(chunk, name, DELTA_BYTES)) return DELTA;
  for (const skipped of SKIPPED_NAMES) if (nameAt(chunk, name, skipped)) return SKIP;
  return PARSE;
}

/**
 * Scans Anthropic's SSE framing (`event: NAME\ndata: JSON\n\n`) on the bytes as read, without
 * decoding them: frames are found by the blank line ending them (`\n\n`; or with lines ended by
 * `\r\n` or `\r`, which SSE allows and a proxy may send), told apart by their first bytes, and only
 * `message_start`, `message_delta`, `message_stop` and `error` frames (a handful per stream) are
 * decoded and parsed. The frequent `content_block_delta` frames cost a few byte comparisons,
 * and the first one's arrival is the time to first token.
 */
export class SseScanner implements ChunkScanner {
  /** Inside a frame whose end has not been read yet. */
  #inFrame = false;
  /**
   * How the last read ended: {@link AFTER_LINE} after a line's end (`\n`), {@link AFTER_CR}
   * after a `\r` (a line's end, which a `\n` next would complete), else {@link IN_LINE}. A frame
   * ends at a blank line, which may straddle two reads.
   */
  #tail: Tail = IN_LINE;
  /**
   * A `\r` ended a line of this stream: its lines may end with `\r\n` or `\r` alone, as SSE
   * allows and a proxy may send, and frame ends are found byte by byte from then on. The API's
   * own lines end with `\n`, found with `indexOf`; a search for a `\r` in every read costs
   * ~50 ns. So a `\r` is looked for where it would change where a frame ends: beside a `\n`,
   * and in a read with no frame end. (Missed: a stream whose lines end with `\n` and then, in
   * one read, a frame ending `\r\r` before others ending `\n\n`, which are taken for one frame.)
   */
  #anyEol = false;
  /** The bytes so far of a frame to parse; null while in a frame to skip. */
  #keep: Uint8Array[] | null = null;
  /** Frames begun: a byte order mark may begin the stream's first, and only it. */
  #frames = 0;
  /** Each frame is decoded on its own: a byte order mark is dropped from the stream's first only ({@link #frames}). */
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(readonly facts: SseFacts) {}

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (!this.#inFrame) {
        // Blank lines (of any line ending) between frames.
        while (pos < n && (chunk[pos] === LF || chunk[pos] === CR)) pos++;
        if (pos >= n) break;
        this.#inFrame = true;
        this.#tail = IN_LINE;
        this.#frames++;
        const kind = classify(chunk, pos, n);
        if (kind === DELTA && this.facts.firstDeltaAt === null) this.facts.firstDeltaAt = Date.now();
        this.#keep = kind === PARSE ? [] : null;
      }
      const end = this.#anyEol ? this.#frameEndAnyEol(chunk, pos) : this.#frameEnd(chunk, pos);
      if (end === -1) {
        // The frame goes on in the next read.
        this.#keep?.push(chunk.slice(pos));
        const lastByte = chunk[n - 1];
        this.#tail = lastByte === LF ? AFTER_LINE : lastByte === CR ? AFTER_CR : IN_LINE;
        return;
      }
      if (this.#keep !== null) {
        this.#keep.push(chunk.subarray(pos, end + 1));
        this.#parse(this.#keep);
        this.#keep = null;
      }
      this.#inFrame = false;
      this.#tail = IN_LINE;
      pos = end + 1;
    }
  }

  /**
   * Index in `chunk` of the first byte of the blank line ending the frame (from `pos`), or -1 if
   * the frame does not end in it, while lines end with `\n` alone: the `\n` of `\n\n`.
   */
  #frameEnd(chunk: Uint8Array, pos: number): number {
    if (this.#tail === AFTER_LINE) {
      if (chunk[pos] === LF) return pos;
      if (chunk[pos] === CR) return this.#crSeen(chunk, pos);
    }
    const last = chunk.length - 1;
    for (let i = chunk.indexOf(LF, pos); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      if (i > pos && chunk[i - 1] === CR) return this.#crSeen(chunk, pos);
      if (i === last) break;
      const next = chunk[i + 1];
      if (next === LF) return i + 1;
      if (next === CR) return this.#crSeen(chunk, pos);
    }
    return chunk.indexOf(CR, pos) === -1 ? -1 : this.#crSeen(chunk, pos);
  }

  /** A `\r` ends lines of this stream: {@link #frameEndAnyEol} from now on. */
  #crSeen(chunk: Uint8Array, pos: number): number {
    this.#anyEol = true;
    return this.#frameEndAnyEol(chunk, pos);
  }

  /** {@link #frameEnd} for lines that may also end with `\r\n` or `\r` (a byte loop, for proxies' streams). */
  #frameEndAnyEol(chunk: Uint8Array, pos: number): number {
    const n = chunk.length;
    let i = pos;
    if (this.#tail === AFTER_CR && chunk[i] === LF) i++; // the `\n` of a `\r\n` cut between two reads
    if (this.#tail !== IN_LINE && i < n && (chunk[i] === LF || chunk[i] === CR)) return i;
    while (i < n) {
      const b = chunk[i++];
      if (b !== LF && b !== CR) continue;
      // A line ended: a `\r\n` is one end; another end right after it is the blank line.
      if (b === CR && i < n && chunk[i] === LF) i++;
      if (i < n && (chunk[i] === LF || chunk[i] === CR)) return i;
    }
    return -1;
  }

  /** Decodes a whole frame kept in pieces, and records what it says. */
  #parse(pieces: Uint8Array[]): void {
    let text = '';
    for (const p of pieces) text += this.#decoder.decode(p, STREAM);
    text += this.#decoder.decode();
    this.#frame(this.#frames === 1 && text.charCodeAt(0) === BOM ? text.slice(1) : text);
  }

  /** Records what one whole frame says, read as SSE reads it (fields in any order, comments, `event:` with or without its space). */
  #frame(text: string): void {
    let event = '';
    let dataText: string | null = null;
    for (const line of text.split(LINE_END)) {
      const colon = line.indexOf(':');
      // A comment (`: …`), or a blank line.
      if (colon === 0 || line === '') continue;
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') dataText = dataText === null ? value : `${dataText}\n${value}`;
    }
    const f = this.facts;
    const isError = event === 'error';
    // As the SDK reads a stream: a frame with no data is skipped, but for an error.
    if (!dataText && !isError) return;
    if (event === 'content_block_delta') {
      if (f.firstDeltaAt === null) f.firstDeltaAt = Date.now();
      return;
    }
    if (event === 'message_stop') {
      f.sawMessageStop = true;
      return;
    }
    const isStart = event === 'message_start';
    const isDelta = event === 'message_delta';
    if (!isStart && !isDelta && !isError) return;
    const data = asObject(isError ? safeJson(dataText ?? '') : JSON.parse(dataText!)) ?? {};
    if (isStart) {
      const message = asObject(data['message']);
      if (!message) return;
      f.messageId = str(message['id']);
      f.model = str(message['model']);
      const usage = asObject(message['usage']);
      f.usage = usage ? { ...usage } : {};
    } else if (isDelta) {
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

/** `text` parsed as JSON, or null when it is not JSON (the SDK raises an error frame's body as it is then). */
function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Splits a JSONL body (batch results) into parsed lines handed to `onLine`. */
export class JsonlScanner implements ChunkScanner {
  #carry = '';
  readonly #decoder = new TextDecoder();
  constructor(private readonly onLine: (value: unknown) => void) {}

  push(chunk: Uint8Array): void {
    const s = this.#carry + this.#decoder.decode(chunk, STREAM);
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
    const line = (this.#carry + this.#decoder.decode()).trim();
    this.#carry = '';
    if (line.length > 0) this.onLine(JSON.parse(line));
  }
}

/** What an observer reports besides the scanned facts. */
export interface ObserverHooks {
  /** A scanner fault (scanning stops; the reader is never affected). */
  onFault(err: unknown): void;
  /**
   * The read ended, once: at the body's end (`readToEnd`), when the reader stopped early
   * (breaking out, cancelling), or with the read's error `err`.
   */
  onEnd(err: unknown, readToEnd: boolean): void;
}

/**
 * What both observers do with each chunk read (null: the body ended): hand it to `scanner`; a
 * scanner fault is reported once and stops scanning, and never reaches the reader. And the
 * read's end, reported once (`readToEnd` when the body's end was read).
 */
function observer(scanner: ChunkScanner, hooks: ObserverHooks): { scan(chunk: Uint8Array | null): void; end(err?: unknown, readToEnd?: boolean): void } {
  let scanning = true;
  let ended = false;
  return {
    scan(chunk) {
      if (!scanning) return;
      try {
        if (chunk === null) scanner.finish?.();
        else scanner.push(chunk);
      } catch (err: unknown) {
        scanning = false;
        hooks.onFault(err);
      }
    },
    end(err, readToEnd = false) {
      if (ended) return;
      ended = true;
      try {
        hooks.onEnd(err, readToEnd);
      } catch (fault: unknown) {
        hooks.onFault(fault);
      }
    },
  };
}

/** What a reader of an observed body keeps alive: see {@link keepWhileRead}. */
const readOwners = new WeakMap<object, object>();

/**
 * Keeps `owner` (the response of an observed body) alive as long as `reader` (an iterator or
 * stream the app reads the body through) is: an app may hold the body alone while it reads it,
 * and the response being collected must not pass for a stream let go of.
 */
export function keepWhileRead(reader: object, owner: object): void {
  readOwners.set(reader, owner);
}

/**
 * Observes `body` where the SDK reads it on Node: through the stream's async iterator; and
 * where an app reading a raw body (`asResponse()`) may: the same (`values()` included), or a
 * reader from `getReader()` (`Readable.fromWeb()` reads through one). The iterator of this one stream is
 * wrapped, and the `read()` of each default reader it gives, so each chunk the app pulls is
 * handed to `scanner` on its way; nothing is read ahead, and `return()` or `cancel()` (the app
 * breaking out or aborting, or cancelling the body itself) goes straight to the stream's own,
 * which cancels the body, and ends the call. This costs a `then` per chunk, where a wrapping
 * ReadableStream costs a whole stream layer (about 1 µs a chunk). A byte (BYOB) reader's reads are observed the same way. `pipeTo()`,
 * `pipeThrough()` and `tee()` read through the stream's internal reader, which no method of
 * this one reaches: they are given a pass-through of the body instead ({@link observeBody}'s
 * stream layer, on those paths only). Returns false when the stream has no async iterator
 * (then use {@link observeBody}).
 *
 * Each iterator or reader it makes keeps `owner` alive ({@link keepWhileRead}); the body itself
 * holds it only weakly, as Node's fetch, which cancels the body of a response collected
 * unread, needs.
 */
export function observeIteration(body: ReadableStream<Uint8Array>, scanner: ChunkScanner, hooks: ObserverHooks, owner?: object): boolean {
  const own = (body as unknown as Record<symbol, unknown>)[Symbol.asyncIterator];
  if (typeof own !== 'function') return false;
  const iterate = own as (this: ReadableStream<Uint8Array>, ...args: unknown[]) => AsyncIterator<Uint8Array>;
  const ownerRef = owner === undefined ? undefined : new WeakRef(owner);
  const { scan, end } = observer(scanner, hooks);
  // One pair of callbacks per body, not per chunk.
  const onResult = (result: IteratorResult<Uint8Array>): IteratorResult<Uint8Array> => {
    scan(result.done === true ? null : result.value);
    if (result.done === true) end(undefined, true);
    return result;
  };
  const onError = (err: unknown): never => {
    end(err ?? new Error('stream failed'));
    throw err;
  };
  const iterateObserved = function (this: ReadableStream<Uint8Array>, ...args: unknown[]): AsyncIterableIterator<Uint8Array> {
      const it = iterate.apply(this, args);
      const wrapped: AsyncIterableIterator<Uint8Array> = {
        next: () => it.next().then(onResult, onError),
        return: (value?: unknown) => {
          end();
          return it.return ? it.return(value) : Promise.resolve({ done: true, value: undefined });
        },
        [Symbol.asyncIterator]: () => wrapped,
      };
      const held = ownerRef?.deref();
      if (held !== undefined) keepWhileRead(wrapped, held);
      if (it.throw) {
        wrapped.throw = (err?: unknown) => {
          end();
          return it.throw!(err);
        };
      }
      return wrapped;
  };
  // The body cancelled itself, unread (a locked body refuses it, and nothing ends): the app is done with it.
  const cancelBody = (body as { cancel?: unknown }).cancel;
  if (typeof cancelBody === 'function') {
    Object.defineProperty(body, 'cancel', {
      configurable: true,
      writable: true,
      value: function (this: ReadableStream<Uint8Array>, reason?: unknown): Promise<void> {
        if (!this.locked) end();
        return (cancelBody as (this: ReadableStream<Uint8Array>, reason?: unknown) => Promise<void>).call(this, reason);
      },
    });
  }
  // `values()` is the same iterator, with options.
  for (const key of [Symbol.asyncIterator, 'values'] as const) {
    if (key === 'values' && typeof (body as { values?: unknown }).values !== 'function') continue;
    Object.defineProperty(body, key, { configurable: true, writable: true, value: iterateObserved });
  }
  const getReader = (body as { getReader?: unknown }).getReader;
  if (typeof getReader === 'function') {
    Object.defineProperty(body, 'getReader', {
      configurable: true,
      writable: true,
      value: function (this: ReadableStream<Uint8Array>, ...args: unknown[]): unknown {
        const reader = (getReader as (...a: unknown[]) => ReadableStreamDefaultReader<Uint8Array>).apply(this, args);
        // The reader's own methods, shadowed on this instance: it stays the stream's reader. A
        // byte reader's `read(view)` gives the bytes read as a view, scanned as any chunk (the
        // scanner copies what it keeps: the app may reuse the buffer for its next read).
        const read = reader.read as (this: ReadableStreamDefaultReader<Uint8Array>, ...a: unknown[]) => Promise<IteratorResult<Uint8Array>>;
        const cancel = reader.cancel;
        Object.defineProperty(reader, 'read', {
          configurable: true,
          writable: true,
          value: function (this: ReadableStreamDefaultReader<Uint8Array>, ...readArgs: unknown[]) {
            return read.apply(this, readArgs).then(onResult, onError);
          },
        });
        Object.defineProperty(reader, 'cancel', {
          configurable: true,
          writable: true,
          value: function (this: ReadableStreamDefaultReader<Uint8Array>, reason?: unknown) {
            end();
            return cancel.call(this, reason);
          },
        });
        const held = ownerRef?.deref();
        if (held !== undefined) keepWhileRead(reader, held);
        return reader;
      },
    });
    observePipes(body, getReader as GetReader, scan, end, ownerRef);
  }
  return true;
}

/**
 * Wraps `body` in a stream that hands each chunk to `scanner` as the reader pulls it. The
 * wrapper pulls only when its own reader asks (no read-ahead) and passes cancellation through,
 * so the connection's life is the application's to decide. Scanner faults are reported to
 * `onFault` and switch scanning off; they never reach the reader.
 */
export function observeBody(body: ReadableStream<Uint8Array>, scanner: ChunkScanner, hooks: ObserverHooks): ReadableStream<Uint8Array> {
  const { scan, end } = observer(scanner, hooks);
  return passThrough(body, ReadableStream.prototype.getReader as GetReader, scan, end).stream;
}

type GetReader = (this: ReadableStream<Uint8Array>, options?: { mode: 'byob' }) => ReadableStreamDefaultReader<Uint8Array>;
type Scan = (chunk: Uint8Array | null) => void;
type End = (err?: unknown, readToEnd?: boolean) => void;

/**
 * `pipeTo()`, `pipeThrough()` and `tee()` of `body`, made to read a pass-through of it (they
 * read through the stream's internal reader, which no method of this one reaches). As without
 * the emitter: a locked body, destination or transform fails the same way (the original method
 * is called); a pipe that ends without reading the body to its end nor cancelling it
 * (`preventCancel`) leaves the body unlocked, to be read on or cancelled; a tee locks it for good.
 */
function observePipes(body: ReadableStream<Uint8Array>, getReader: GetReader, scan: Scan, end: End, ownerRef: WeakRef<object> | undefined): void {
  const own = body as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>;
  const pipeTo = own['pipeTo'];
  const pipeThrough = own['pipeThrough'];
  const tee = own['tee'];
  const through = (stream: ReadableStream<Uint8Array>): { stream: ReadableStream<Uint8Array>; release(): void } => {
    const pt = passThrough(stream, getReader, scan, end);
    const held = ownerRef?.deref();
    if (held !== undefined) keepWhileRead(pt.stream, held);
    return pt;
  };
  const define = (name: string, value: (this: ReadableStream<Uint8Array>, ...a: unknown[]) => unknown): void => {
    Object.defineProperty(body, name, { configurable: true, writable: true, value });
  };
  if (pipeTo) {
    const pipeOver = (stream: ReadableStream<Uint8Array>, dest: WritableStream<Uint8Array>, options: unknown): Promise<void> => {
      const pt = through(stream);
      return (pipeTo.call(pt.stream, dest, options) as Promise<void>).finally(() => pt.release());
    };
    define('pipeTo', function (this, ...args) {
      const [dest, options] = args;
      if (this.locked || !(dest instanceof WritableStream) || dest.locked || !validPipeOptions(options)) return pipeTo.apply(this, args);
      return pipeOver(this, dest, options);
    });
    if (pipeThrough) {
      define('pipeThrough', function (this, ...args) {
        const [pair, options] = args;
        const { writable, readable } = (typeof pair === 'object' && pair !== null ? pair : {}) as { writable?: unknown; readable?: unknown };
        if (this.locked || !(writable instanceof WritableStream) || !(readable instanceof ReadableStream) || writable.locked || !validPipeOptions(options)) {
          return pipeThrough.apply(this, args);
        }
        // As the standard's pipeThrough: the pipe's outcome is the readable side's to tell.
        pipeOver(this, writable as WritableStream<Uint8Array>, options).catch(() => undefined);
        return readable;
      });
    }
  }
  if (tee) {
    define('tee', function (this, ...args) {
      if (this.locked) return tee.apply(this, args);
      return tee.apply(through(this).stream, args);
    });
  }
}

/** Options `pipeTo()` accepts without failing at once (an abort signal, flags). */
function validPipeOptions(options: unknown): boolean {
  if (options === undefined || options === null) return true;
  if (typeof options !== 'object') return false;
  const signal = (options as { signal?: unknown }).signal;
  return signal === undefined || signal instanceof AbortSignal;
}

/**
 * A stream reading `source` (through its original `getReader`) only as its own reader pulls,
 * each chunk through `scan`, its end through `end`. A byte stream when `source` is one, so that
 * a tee of it copies chunks for its second branch and its branches take byte readers, as a tee
 * of the body would. `release()` gives `source`'s lock back: a read in flight is abandoned with
 * nothing taken from the body.
 */
function passThrough(source: ReadableStream<Uint8Array>, getReader: GetReader, scan: Scan, end: End): { stream: ReadableStream<Uint8Array>; release(): void } {
  let bytes = false;
  try {
    getReader.call(source, { mode: 'byob' }).releaseLock();
    bytes = true;
  } catch {
    // Not a byte stream.
  }
  const reader = getReader.call(source);
  let released = false;
  const pull = async (controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
    let result;
    try {
      result = await reader.read();
    } catch (err: unknown) {
      if (released) return;
      end(err ?? new Error('stream failed'));
      controller.error(err);
      return;
    }
    if (result.done) {
      scan(null);
      controller.close();
      // A byte reader's read waiting on the end is answered by an empty response.
      if (bytes) (controller as unknown as ReadableByteStreamController).byobRequest?.respond(0);
      end(undefined, true);
      return;
    }
    const chunk = result.value;
    scan(chunk);
    // A byte stream takes the chunk's buffer: a view of part of one is copied first.
    controller.enqueue(bytes && (chunk.byteOffset !== 0 || chunk.byteLength !== chunk.buffer.byteLength) ? chunk.slice() : chunk);
  };
  const cancel = (reason: unknown): Promise<void> => {
    end();
    return reader.cancel(reason);
  };
  const stream = bytes
    ? new ReadableStream({ type: 'bytes', pull: pull as (c: ReadableByteStreamController) => Promise<void>, cancel }, { highWaterMark: 0 })
    : new ReadableStream<Uint8Array>({ pull, cancel }, { highWaterMark: 0 });
  return {
    stream: stream as ReadableStream<Uint8Array>,
    release() {
      if (released) return;
      released = true;
      try {
        reader.releaseLock();
      } catch {
        // Already released.
      }
    },
  };
}
