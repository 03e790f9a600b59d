/**
 * A call event written as JSON straight into UTF-8 bytes, for the writer's hot path.
 *
 * `JSON.stringify` then a UTF-8 encode was most of the writer's cost per event: on Node 20 a
 * ~1.7 KB event took ~5 µs to stringify and ~1 µs more to encode, and left a string per event
 * for the GC. The event's shape is the contract's, fixed, so its keys are written as bytes
 * encoded once, its numbers as digits and its (almost always ASCII) strings byte by byte. A
 * string with anything JSON escapes or anything past ASCII goes through `JSON.stringify`, and
 * so do the free-form parts (`content`, unless already serialised as {@link JsonText};
 * `batch`, usage `iterations`). The output is the bytes of `JSON.stringify` of the event built
 * in the emitter's key order (a property test holds it to that for any values). Only the
 * contract's keys are written; `undefined` in a required field is written as `null` (the
 * schema rejects both).
 *
 * Not a library: JSON serializers for JavaScript (fast-json-stringify among them) build
 * strings, which the writer would still have to encode and the GC to collect.
 */
import type { Attempt, RateLimitBucket, RateLimits, Usage } from '../event/types.js';
import type { CallEventInput } from './file-writer.js';
import { JsonText } from './json-shape.js';

/** The least size of a buffer a line moves to when it outgrows the one it began in. */
const MIN_GROWN_BYTES = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const ZERO = 0x30;
/** A fragment longer than this is copied natively; a shorter one by a loop, which is faster there. */
const LOOP_COPY_MAX = 16;

/** Bytes of an ASCII fragment (keys, punctuation, SSE field names), encoded once. */
export function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * A key (with its punctuation) the encoder writes into every event: its bytes, and the same
 * bytes as little-endian 32-bit words (zero-padded), written four at a time
 * ({@link JsonBytes.key}): a quarter of the stores of a byte loop, and no call into
 * `TypedArray.prototype.set`, which costs more than the copy for fragments this short.
 */
export class Key {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;

  constructor(text: string | Uint8Array) {
    this.bytes = typeof text === 'string' ? asciiBytes(text) : text;
    const padded = new Uint8Array(Math.ceil(this.bytes.length / 4) * 4);
    padded.set(this.bytes);
    const view = new DataView(padded.buffer);
    const words = new Uint32Array(padded.length / 4);
    for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
    this.words = words;
  }
}

const NULL = asciiBytes('null');
const TRUE = asciiBytes('true');
const FALSE = asciiBytes('false');

/**
 * JSON written as bytes into a buffer, from `start`: the free end of the writer's current
 * block, so that a line is encoded where it will be written from. When the buffer runs out,
 * the line so far moves to a new buffer of its own (at least {@link MIN_GROWN_BYTES}).
 */
export class JsonBytes {
  /** Empty until {@link begin} (or a first write grows it). */
  buf: Buffer = Buffer.alloc(0);
  /** A view of {@link buf}, for {@link key}'s word stores. */
  #view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  /** Where the line began in {@link buf}. */
  start = 0;
  pos = 0;

  /** The last string {@link strRepeat} wrote as it is in this line, and where (an offset into the line). */
  #lastText: string | null = null;
  #lastAt = 0;

  /** Starts a line at `start` in `buf`. */
  begin(buf: Buffer, start: number): void {
    this.#lastText = null;
    if (buf !== this.buf) this.#use(buf);
    this.start = start;
    this.pos = start;
  }

  /** The line's bytes so far. */
  bytes(): Buffer {
    return this.buf.subarray(this.start, this.pos);
  }

  /**
   * Where the line is now, for {@link copy}: an offset into the line, which stays right when
   * the line moves to a buffer of its own (a position in {@link buf} would not).
   */
  mark(): number {
    return this.pos - this.start;
  }

  /** A copy of the bytes written since `mark` ({@link mark}). */
  copy(mark: number): Uint8Array {
    return new Uint8Array(this.buf.subarray(this.start + mark, this.pos));
  }

  /**
   * Makes room for `n` more bytes. A line that moves gets twice what it needs while small, but
   * at most {@link MIN_GROWN_BYTES} over it when large: what makes a line large (redacted
   * content) is written last and at once, and the buffer is held until the line is on disk,
   * where the buffer cap counts only the line's bytes.
   */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const length = this.pos - this.start;
    const need = length + n;
    const grown = Buffer.allocUnsafeSlow(Math.max(MIN_GROWN_BYTES, need + Math.min(need, MIN_GROWN_BYTES)));
    this.buf.copy(grown, 0, this.start, this.pos);
    this.#use(grown);
    this.start = 0;
    this.pos = length;
  }

  #use(buf: Buffer): void {
    this.buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  /** A {@link Key}: its words, the last one's padding past the key overwritten by what follows. */
  key(k: Key): void {
    const words = k.words;
    this.room(words.length * 4);
    const view = this.#view;
    let p = this.pos;
    for (let i = 0; i < words.length; i++, p += 4) view.setUint32(p, words[i] as number, true);
    this.pos += k.bytes.length;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  raw(fragment: Uint8Array): void {
    const n = fragment.length;
    this.room(n);
    if (n > LOOP_COPY_MAX) {
      this.buf.set(fragment, this.pos);
      this.pos += n;
      return;
    }
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = fragment[i] as number;
    this.pos = p;
  }

  str(v: string | null): void {
    if (typeof v !== 'string') {
      this.other(v);
      return;
    }
    const n = v.length;
    this.room(n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      // Anything JSON escapes, or past ASCII.
      if (c < 0x20 || c > 0x7f || c === QUOTE || c === BACKSLASH) {
        this.json(v);
        return;
      }
      buf[p++] = c;
    }
    buf[p++] = QUOTE;
    this.pos = p;
  }

  /**
   * {@link str}, for a value that often repeats the one this method wrote last in the line (a
   * request id in the call and its attempt, a reset time in each rate-limit bucket): a repeat
   * is copied from there, not scanned again.
   */
  strRepeat(v: string | null): void {
    if (v !== null && v === this.#lastText) {
      const n = v.length + 2;
      this.room(n);
      const from = this.start + this.#lastAt;
      this.buf.copyWithin(this.pos, from, from + n);
      this.pos += n;
      return;
    }
    const at = this.pos - this.start;
    this.str(v);
    // Written as it is (quotes and the characters alone): nothing escaped, all ASCII.
    if (v !== null && this.pos - this.start - at === v.length + 2) {
      this.#lastText = v;
      this.#lastAt = at;
    }
  }

  num(v: number | null): void {
    if (typeof v !== 'number') {
      this.other(v);
    } else if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) {
      this.small(v);
    } else if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Math.floor(v) === v) {
      // Epoch milliseconds and the like: the digits above 10^8, then the 8 below.
      const high = Math.floor(v / 1e8);
      this.small(high);
      this.room(8);
      const buf = this.buf;
      let p = this.pos + 8;
      this.pos = p;
      let x = v - high * 1e8;
      for (let i = 0; i < 8; i++) {
        const q = (x / 10) | 0;
        buf[--p] = ZERO + (x - q * 10);
        x = q;
      }
    } else if (v > 0 && v < 1e9 && Math.round(v * 1000) / 1000 === v) {
      this.milli(Math.round(v * 1000));
    } else if (Number.isFinite(v)) {
      // Other fractions, negatives: as JSON.stringify writes them.
      this.ascii(String(v));
    } else {
      this.raw(NULL);
    }
  }

  /**
   * A positive number below 10^9 that is a whole number of thousandths (durations in ms are
   * rounded to µs): `thousandths / 1000` as JavaScript writes it. Below 10^9 doubles are
   * closer together than 0.001, so that decimal, without trailing zeros, is the shortest that
   * reads back as the number: the one JavaScript writes.
   */
  private milli(thousandths: number): void {
    const whole = Math.floor(thousandths / 1000);
    let frac = thousandths - whole * 1000;
    this.small(whole);
    if (frac === 0) return;
    let digits = 3;
    // Trailing zeros off; integer steps (`%` on a double is a call to fmod).
    for (let q = (frac / 10) | 0; q * 10 === frac; q = (frac / 10) | 0) {
      frac = q;
      digits--;
    }
    this.room(digits + 1);
    const buf = this.buf;
    buf[this.pos] = 0x2e; // '.'
    let p = this.pos + 1 + digits;
    this.pos = p;
    for (let i = 0; i < digits; i++) {
      const q = (frac / 10) | 0;
      buf[--p] = ZERO + (frac - q * 10);
      frac = q;
    }
  }

  /** A string known to be ASCII with nothing to escape, without quotes. */
  private ascii(text: string): void {
    const n = text.length;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = text.charCodeAt(i);
    this.pos = p;
  }

  /** An integer in 0..2^31-1. */
  private small(v: number): void {
    let digits = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
    this.room(digits);
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    while (v >= 10) {
      const q = (v / 10) | 0;
      buf[--p] = ZERO + (v - q * 10);
      v = q;
    }
    buf[--p] = ZERO + v;
  }

  bool(v: boolean): void {
    if (v === true) this.raw(TRUE);
    else if (v === false) this.raw(FALSE);
    else this.other(v);
  }

  /** Any value, through `JSON.stringify` (what it cannot write, `null`). */
  json(v: unknown): void {
    this.text(JSON.stringify(v) ?? 'null');
  }

  /**
   * JSON text as it is. Room for its exact size when its length cannot tell that it fits (a
   * UTF-16 unit takes at most 3 bytes): asking for three bytes a unit made a buffer of six
   * times the size of large ASCII content.
   */
  text(json: string): void {
    if (this.pos + json.length * 3 > this.buf.length) this.room(Buffer.byteLength(json, 'utf8'));
    this.pos += this.buf.write(json, this.pos, 'utf8');
  }

  /** A field holding what its type does not allow: null for null and undefined, else as it is. */
  private other(v: unknown): void {
    if (v === null || v === undefined) this.raw(NULL);
    else this.json(v);
  }
}

/** How every call event's line begins. */
const HEAD = new Key('{"t":"call","v":1,"event_id":');
export const CALL_LINE_HEAD = HEAD.bytes;

const F = {
  head: HEAD,
  seq: new Key(',"seq":'),
  ts: new Key(',"ts":'),
  tsStart: new Key(',"ts_start":'),
  app: new Key(',"app":'),
  env: new Key(',"env":'),
  host: new Key(',"host":'),
  pid: new Key(',"pid":'),
  tags: new Key(',"tags":{'),
  provider: new Key(',"provider":'),
  operation: new Key(',"operation":'),
  modelRequested: new Key(',"model_requested":'),
  model: new Key(',"model":'),
  stream: new Key(',"stream":'),
  maxTokens: new Key(',"max_tokens":'),
  toolCount: new Key(',"tool_count":'),
  status: new Key(',"status":'),
  httpStatus: new Key(',"http_status":'),
  errorType: new Key(',"error_type":'),
  errorCode: new Key(',"error_code":'),
  stopReason: new Key(',"stop_reason":'),
  requestId: new Key(',"request_id":'),
  messageId: new Key(',"message_id":'),
  organizationId: new Key(',"organization_id":'),
  workspaceId: new Key(',"workspace_id":'),
  apiKeyAlias: new Key(',"api_key_alias":'),
  attempts: new Key(',"attempts":'),
  attemptLog: new Key(',"attempt_log":['),
  durationMs: new Key('],"duration_ms":'),
  ttftMs: new Key(',"ttft_ms":'),
  tokensPerSecond: new Key(',"output_tokens_per_second":'),
  complete: new Key(',"complete":'),
  usage: new Key(',"usage":'),
  rateLimits: new Key(',"rate_limits":'),
  batch: new Key(',"batch":'),
  countedInputTokens: new Key(',"counted_input_tokens":'),
  content: new Key(',"content":'),
};

/** `ttft_ms` and `output_tokens_per_second` both null, and the key after them. */
const NO_STREAM_TIMES = asciiBytes(',"ttft_ms":null,"output_tokens_per_second":null,"complete":');

const A = {
  status: new Key('{"status":'),
  errorType: new Key(',"error_type":'),
  requestId: new Key(',"request_id":'),
  startOffsetMs: new Key(',"start_offset_ms":'),
  durationMs: new Key(',"duration_ms":'),
  retryAfterMs: new Key(',"retry_after_ms":'),
};

const U = {
  inputTokens: new Key('{"input_tokens":'),
  outputTokens: new Key(',"output_tokens":'),
  cacheRead: new Key(',"cache_read_input_tokens":'),
  cacheCreation: new Key(',"cache_creation_input_tokens":'),
  cacheWrite5m: new Key(',"cache_write_5m_input_tokens":'),
  cacheWrite1h: new Key(',"cache_write_1h_input_tokens":'),
  cacheWriteUnknownTtl: new Key(',"cache_write_unknown_ttl_input_tokens":'),
  thinkingTokens: new Key(',"thinking_tokens":'),
  webSearch: new Key(',"web_search_requests":'),
  webFetch: new Key(',"web_fetch_requests":'),
  codeExecution: new Key(',"code_execution_requests":'),
  serviceTier: new Key(',"service_tier":'),
  speed: new Key(',"speed":'),
  inferenceGeo: new Key(',"inference_geo":'),
  iterations: new Key(',"iterations":'),
};

/** In the order they are written. */
const DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens'] as const;
/** `"<dimension>":{"limit":`, each as the first key of `rate_limits` and as a later one. */
const BUCKET_FIRST = DIMENSIONS.map((d) => new Key(`{"${d}":{"limit":`));
const BUCKET_NEXT = DIMENSIONS.map((d) => new Key(`,"${d}":{"limit":`));
const R = { remaining: new Key(',"remaining":'), reset: new Key(',"reset":') };

/** `,"app":…` to `"pid":…`: the same in every event of a process. */
interface OriginRun {
  app: string;
  env: string | null;
  host: string;
  pid: number;
  bytes: Uint8Array;
}

/** `,"organization_id":…` and `"workspace_id":…`: the same for most calls of an app. */
interface AccountRun {
  organizationId: string | null;
  workspaceId: string | null;
  bytes: Uint8Array;
}

/** `,"provider":…` to `"model":…`: the same for most calls of an app. */
interface WhatRun {
  provider: string;
  operation: string;
  modelRequested: string | null;
  model: string | null;
  bytes: Uint8Array;
}

/**
 * `,"stream":…` to `"error_code":…`: the same for most calls of an app (`stop_reason`, which
 * tool use makes alternate, is left out: each change costs a copy of the run).
 */
interface OutcomeRun {
  stream: boolean;
  maxTokens: number | null;
  toolCount: number | null;
  status: string;
  httpStatus: number | null;
  errorType: string | null;
  errorCode: string | null;
  bytes: Uint8Array;
}

/** Usage's `,"thinking_tokens":…` to `"inference_geo":…`: server tools and tiers, the same for most calls of an app. */
interface UsageExtrasRun {
  thinkingTokens: number | null;
  webSearch: number;
  webFetch: number;
  codeExecution: number;
  serviceTier: string | null;
  speed: string | null;
  inferenceGeo: string | null;
  bytes: Uint8Array;
}

/**
 * Writes call events. Runs of fields that rarely change between events (where the event comes
 * from; provider, operation and models; the request's settings and outcome; the organization
 * and workspace; usage's rarer counts and tiers) are kept as the bytes last written for them,
 * their keys included, copied while their values are the same: one native copy (~250
 * instructions, whatever its length), where writing a run of 7 fields took ~2,500 and a
 * {@link Key}'s word stores ~30 instructions for each 4 bytes.
 */
export class CallEventEncoder {
  #origin: OriginRun | null = null;
  #what: WhatRun | null = null;
  #outcome: OutcomeRun | null = null;
  #account: AccountRun | null = null;
  #usageExtras: UsageExtrasRun | null = null;

  /** Writes `event` as one JSON object (no newline) with `seq` as its `seq`, after `out.begin()`. */
  encode(out: JsonBytes, e: CallEventInput, seq: number): void {
    out.key(F.head);
    out.str(e.event_id);
    out.key(F.seq);
    out.num(seq);
    out.key(F.ts);
    out.num(e.ts);
    out.key(F.tsStart);
    out.num(e.ts_start);
    const origin = this.#origin;
    if (origin !== null && origin.app === e.app && origin.env === e.env && origin.host === e.host && origin.pid === e.pid) {
      out.raw(origin.bytes);
    } else {
      const start = out.mark();
      out.key(F.app);
      out.str(e.app);
      out.key(F.env);
      out.str(e.env);
      out.key(F.host);
      out.str(e.host);
      out.key(F.pid);
      out.num(e.pid);
      this.#origin = { app: e.app, env: e.env, host: e.host, pid: e.pid, bytes: out.copy(start) };
    }
    out.key(F.tags);
    writeTags(out, e.tags);
    const what = this.#what;
    if (what !== null && what.provider === e.provider && what.operation === e.operation && what.modelRequested === e.model_requested && what.model === e.model) {
      out.raw(what.bytes);
    } else {
      const start = out.mark();
      out.key(F.provider);
      out.str(e.provider);
      out.key(F.operation);
      out.str(e.operation);
      out.key(F.modelRequested);
      out.str(e.model_requested);
      out.key(F.model);
      out.str(e.model);
      this.#what = { provider: e.provider, operation: e.operation, modelRequested: e.model_requested, model: e.model, bytes: out.copy(start) };
    }
    const outcome = this.#outcome;
    if (
      outcome !== null &&
      outcome.stream === e.stream &&
      outcome.maxTokens === e.max_tokens &&
      outcome.toolCount === e.tool_count &&
      outcome.status === e.status &&
      outcome.httpStatus === e.http_status &&
      outcome.errorType === e.error_type &&
      outcome.errorCode === e.error_code
    ) {
      out.raw(outcome.bytes);
    } else {
      const start = out.mark();
      out.key(F.stream);
      out.bool(e.stream);
      out.key(F.maxTokens);
      out.num(e.max_tokens);
      out.key(F.toolCount);
      out.num(e.tool_count);
      out.key(F.status);
      out.str(e.status);
      out.key(F.httpStatus);
      out.num(e.http_status);
      out.key(F.errorType);
      out.str(e.error_type);
      out.key(F.errorCode);
      out.str(e.error_code);
      this.#outcome = {
        stream: e.stream,
        maxTokens: e.max_tokens,
        toolCount: e.tool_count,
        status: e.status,
        httpStatus: e.http_status,
        errorType: e.error_type,
        errorCode: e.error_code,
        bytes: out.copy(start),
      };
    }
    out.key(F.stopReason);
    out.str(e.stop_reason);
    out.key(F.requestId);
    out.strRepeat(e.request_id);
    out.key(F.messageId);
    out.str(e.message_id);
    const account = this.#account;
    if (account !== null && account.organizationId === e.organization_id && account.workspaceId === e.workspace_id) {
      out.raw(account.bytes);
    } else {
      const start = out.mark();
      out.key(F.organizationId);
      out.str(e.organization_id);
      out.key(F.workspaceId);
      out.str(e.workspace_id);
      this.#account = { organizationId: e.organization_id, workspaceId: e.workspace_id, bytes: out.copy(start) };
    }
    out.key(F.apiKeyAlias);
    out.str(e.api_key_alias);
    out.key(F.attempts);
    out.num(e.attempts);
    out.key(F.attemptLog);
    const log = e.attempt_log;
    for (let i = 0; i < log.length; i++) {
      if (i > 0) out.byte(COMMA);
      writeAttempt(out, log[i] as Attempt);
    }
    out.key(F.durationMs);
    out.num(e.duration_ms);
    if (e.ttft_ms === null && e.output_tokens_per_second === null) {
      // As a call that did not stream has them: one copy.
      out.raw(NO_STREAM_TIMES);
    } else {
      out.key(F.ttftMs);
      out.num(e.ttft_ms);
      out.key(F.tokensPerSecond);
      out.num(e.output_tokens_per_second);
      out.key(F.complete);
    }
    out.bool(e.complete);
    out.key(F.usage);
    this.#usage(out, e.usage);
    out.key(F.rateLimits);
    writeRateLimits(out, e.rate_limits);
    if (e.batch !== undefined) {
      out.key(F.batch);
      out.json(e.batch);
    }
    if (e.counted_input_tokens !== undefined) {
      out.key(F.countedInputTokens);
      out.num(e.counted_input_tokens);
    }
    if (e.content !== undefined) {
      // A function or a symbol has no JSON: JSON.stringify leaves the key out, and so does this.
      const text = e.content instanceof JsonText ? e.content.text : JSON.stringify(e.content);
      if (text !== undefined) {
        out.key(F.content);
        out.text(text);
      }
    }
    out.byte(CLOSE);
  }

  #usage(out: JsonBytes, u: Usage | null): void {
    if (u === null || typeof u !== 'object') {
      out.json(u);
      return;
    }
    writeUsageCounts(out, u);
    const extras = this.#usageExtras;
    if (
      extras !== null &&
      extras.thinkingTokens === u.thinking_tokens &&
      extras.webSearch === u.web_search_requests &&
      extras.webFetch === u.web_fetch_requests &&
      extras.codeExecution === u.code_execution_requests &&
      extras.serviceTier === u.service_tier &&
      extras.speed === u.speed &&
      extras.inferenceGeo === u.inference_geo
    ) {
      out.raw(extras.bytes);
    } else {
      const start = out.mark();
      writeUsageExtras(out, u);
      this.#usageExtras = {
        thinkingTokens: u.thinking_tokens,
        webSearch: u.web_search_requests,
        webFetch: u.web_fetch_requests,
        codeExecution: u.code_execution_requests,
        serviceTier: u.service_tier,
        speed: u.speed,
        inferenceGeo: u.inference_geo,
        bytes: out.copy(start),
      };
    }
    if (u.iterations !== undefined) {
      out.key(U.iterations);
      out.json(u.iterations);
    }
    out.byte(CLOSE);
  }
}

function writeTags(out: JsonBytes, tags: Record<string, string>): void {
  let first = true;
  for (const key of Object.keys(tags)) {
    const value = tags[key];
    if (value === undefined) continue;
    if (!first) out.byte(COMMA);
    first = false;
    out.str(key);
    out.byte(COLON);
    out.str(value);
  }
  out.byte(CLOSE);
}

function writeAttempt(out: JsonBytes, a: Attempt): void {
  out.key(A.status);
  out.num(a.status);
  out.key(A.errorType);
  out.str(a.error_type);
  out.key(A.requestId);
  out.strRepeat(a.request_id);
  out.key(A.startOffsetMs);
  out.num(a.start_offset_ms);
  out.key(A.durationMs);
  out.num(a.duration_ms);
  out.key(A.retryAfterMs);
  out.num(a.retry_after_ms);
  out.byte(CLOSE);
}

/** `{"input_tokens":…` to `"cache_write_unknown_ttl_input_tokens":…`, the counts of every call. */
function writeUsageCounts(out: JsonBytes, u: Usage): void {
  out.key(U.inputTokens);
  out.num(u.input_tokens);
  out.key(U.outputTokens);
  out.num(u.output_tokens);
  out.key(U.cacheRead);
  out.num(u.cache_read_input_tokens);
  out.key(U.cacheCreation);
  out.num(u.cache_creation_input_tokens);
  out.key(U.cacheWrite5m);
  out.num(u.cache_write_5m_input_tokens);
  out.key(U.cacheWrite1h);
  out.num(u.cache_write_1h_input_tokens);
  out.key(U.cacheWriteUnknownTtl);
  out.num(u.cache_write_unknown_ttl_input_tokens);
}

/** `,"thinking_tokens":…` to `"inference_geo":…`. */
function writeUsageExtras(out: JsonBytes, u: Usage): void {
  out.key(U.thinkingTokens);
  out.num(u.thinking_tokens);
  out.key(U.webSearch);
  out.num(u.web_search_requests);
  out.key(U.webFetch);
  out.num(u.web_fetch_requests);
  out.key(U.codeExecution);
  out.num(u.code_execution_requests);
  out.key(U.serviceTier);
  out.str(u.service_tier);
  out.key(U.speed);
  out.str(u.speed);
  out.key(U.inferenceGeo);
  out.str(u.inference_geo);
}

function writeRateLimits(out: JsonBytes, limits: RateLimits | null): void {
  if (limits === null || typeof limits !== 'object') {
    out.json(limits);
    return;
  }
  // Each key read by name: a key from an array makes a slow keyed lookup.
  let written = writeBucket(out, 0, 0, limits.requests);
  written = writeBucket(out, 1, written, limits.tokens);
  written = writeBucket(out, 2, written, limits.input_tokens);
  written = writeBucket(out, 3, written, limits.output_tokens);
  if (written === 0) out.byte(OPEN);
  out.byte(CLOSE);
}

/** One bucket of `rate_limits`, the `written`-th written; returns how many are written now. */
function writeBucket(out: JsonBytes, dimension: number, written: number, bucket: RateLimitBucket | undefined): number {
  if (bucket === undefined) return written;
  out.key((written === 0 ? BUCKET_FIRST[dimension] : BUCKET_NEXT[dimension]) as Key);
  out.num(bucket.limit);
  out.key(R.remaining);
  out.num(bucket.remaining);
  out.key(R.reset);
  out.strRepeat(bucket.reset);
  out.byte(CLOSE);
  return written + 1;
}
