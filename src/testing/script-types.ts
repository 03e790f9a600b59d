/**
 * The script shape of the fake Claude API: what one response should look like.
 *
 * A script is plain JSON data, so the same shape works from a test (`api.enqueue(script)`),
 * from a request header (`x-fake-script: <json>`, set through the SDK's per-request
 * `headers` option) and from a `--script FILE` of the CLI (JSON or YAML). Every field is
 * optional: `{}` is the default, successful response.
 *
 * @example A 529 the SDK retries, then a success:
 * ```ts
 * api.enqueue({ status: 529 }, {});
 * ```
 * @example A stream of 200 text deltas, 2 ms apart, cut after 50 events:
 * ```ts
 * api.enqueue({ stream: { textDeltas: 200, eventDelayMs: 2, cutAfterEvents: 50 } });
 * ```
 */

/** The route names the fake answers; a script's {@link ScriptMatch} selects among them. */
export const FAKE_ROUTE_NAMES = [
  'messages.create',
  'messages.count_tokens',
  'messages.batches.create',
  'messages.batches.retrieve',
  'messages.batches.list',
  'messages.batches.cancel',
  'messages.batches.delete',
  'messages.batches.results',
  'admin.usage_report.messages',
  'admin.cost_report',
  'admin.analytics.usage',
  'admin.analytics.cost',
] as const;

/** One of {@link FAKE_ROUTE_NAMES}. */
export type FakeRouteName = (typeof FAKE_ROUTE_NAMES)[number];

/** Error `type`s the API uses in error bodies (the SDK's `ErrorType` plus `request_too_large`). */
export type FakeErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error'
  | 'conflict_error';

/** Stop reasons of the Messages API. */
export type FakeStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

/**
 * The error part of a failing script, or of a mid-stream `event: error`.
 * Everything defaults from the status (e.g. 529 gives `overloaded_error` / `"Overloaded"`).
 */
export interface ScriptError {
  /** `error.type`. Default: the type the API uses for the status (see `errors.ts`). */
  type?: FakeErrorType | (string & {});
  /** `error.message`. Default: a message like the API's for that type. */
  message?: string;
  /**
   * `error.details.error_code`, which the SDK exposes as `err.errorCode` and uses to pick a
   * subclass (e.g. `enforced_spend_limit_reached` gives `EnforcedSpendLimitReachedError`).
   * Default: none (no `details`).
   */
  code?: string;
  /** Further `error.details` fields, merged with `code`. */
  details?: Record<string, unknown>;
}

/** One content block of the reply. Omitted fields get plausible defaults. */
export type ScriptContentBlock =
  | { type: 'text'; text?: string }
  | { type: 'tool_use'; name?: string; input?: Record<string, unknown>; id?: string }
  | { type: 'thinking'; thinking?: string; signature?: string };

/**
 * Usage overrides, with the API's own field names. These are the message's FINAL totals:
 * what a non-streaming call returns and what the last `message_delta` of a stream carries
 * (so what `MessageStream.finalMessage()` shows). Omitted fields are derived: input from the
 * request's size (the same number `count_tokens` returns), output from the content.
 */
export interface ScriptUsage {
  /** Uncached input tokens. Default: estimated from the request body (≥ 1). */
  input_tokens?: number;
  /** Output tokens, thinking included. Default: estimated from the content (≥ 1). */
  output_tokens?: number;
  /** Cache reads. Default 0. */
  cache_read_input_tokens?: number;
  /**
   * Total cache writes. Default: the sum of the {@link ScriptUsage.cache_creation} split.
   * May exceed that sum (as with server tools), which `message_start` then under-reports.
   */
  cache_creation_input_tokens?: number;
  /** The TTL split of cache writes; `null` sends `cache_creation: null`. Default 0 / 0. */
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
  /** `output_tokens_details.thinking_tokens`. Default: estimated when there is a thinking block. */
  thinking_tokens?: number;
  /** `server_tool_use.web_search_requests`. Default 0 (and `server_tool_use: null` if both are 0). */
  web_search_requests?: number;
  /** `server_tool_use.web_fetch_requests`. Default 0. */
  web_fetch_requests?: number;
  /** Default: `"standard"` (`"batch"` in batch results, `"priority"` never unless set). */
  service_tier?: 'standard' | 'priority' | 'batch' | null;
  /** Default: the request's `speed`, else `"standard"`. */
  speed?: 'standard' | 'fast' | null;
  /** Default: the request's `inference_geo`, else `"global"`. */
  inference_geo?: string | null;
}

/** The input/cache values `message_start` reports, when they differ from the final ones. */
export interface ScriptStartUsage {
  input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  /** Output placeholder of `message_start` (the API sends 1–3). Default 1. */
  output_tokens?: number;
}

/** How a streamed (`stream: true`) response is delivered. Ignored for non-streaming calls. */
export interface ScriptStream {
  /**
   * Number of `text_delta` events over all text blocks (e.g. 200 for a benchmark). The text
   * is split (or synthesised) to give exactly this many. Default: about one per word.
   */
  textDeltas?: number;
  /** Delay before each SSE event after the first, in ms. Default 0. */
  eventDelayMs?: number;
  /** Extra delay before the first content delta, in ms (a time-to-first-token). Default 0. */
  firstDeltaDelayMs?: number;
  /** Send a `ping` after every N content deltas (besides the one after `message_start`). Default: none. */
  pingEvery?: number;
  /** Number of `message_delta` events, each a cumulative usage snapshot; the last has the finals. Default 1. */
  messageDeltas?: number;
  /**
   * Which usage fields `message_delta` carries. `minimal`: `output_tokens` (and
   * `output_tokens_details` with thinking). `full`: also input and cache totals and
   * `server_tool_use`. `auto` (default): `full` when input or cache grow during the stream,
   * with server tools, or with more than one `message_delta`.
   */
  deltaUsage?: 'auto' | 'minimal' | 'full';
  /**
   * Usage in `message_start`. Default: the final input and cache values, except with server
   * tools, where input starts at a quarter of the final value and grows.
   */
  startUsage?: ScriptStartUsage;
  /** Destroy the socket after writing this many events (no `message_stop`, no clean end). */
  cutAfterEvents?: number;
  /** Write an `event: error` frame after this many events, then end the response (no `message_stop`). */
  errorAfterEvents?: number;
  /** The mid-stream error. Default `{ type: 'overloaded_error', message: 'Overloaded' }`. */
  error?: ScriptError;
}

/** Outcome of one item of a message batch. */
export type BatchItemOutcome = 'succeeded' | 'errored' | 'canceled' | 'expired';

/** Settings of a batch, read when the script answers `messages.batches.create`. */
export interface ScriptBatch {
  /**
   * Outcome per request, by index; requests past the end succeed. Without it, a `custom_id`
   * starting with `errored`, `canceled` or `expired` gets that outcome, others succeed.
   */
  results?: BatchItemOutcome[];
  /** Time from creation until the batch has ended, in ms. Default 0 (ended at the first retrieve). */
  processingMs?: number;
}

/** Which requests a queued script may answer. All conditions must hold. Default: any request. */
export interface ScriptMatch {
  /** Route name(s), e.g. `messages.create`. */
  route?: FakeRouteName | FakeRouteName[];
  /** `true`: only streaming requests; `false`: only non-streaming ones. */
  stream?: boolean;
}

/** One scripted response. See the file comment for examples. */
export interface FakeScript {
  /** HTTP status. Default 200. Any status ≥ 400 answers with the API's error body. */
  status?: number;
  /** The error body's fields, for a status ≥ 400. */
  error?: ScriptError;
  /**
   * Extra response headers; a value of `null` removes a header the fake would send (e.g.
   * `{ 'anthropic-organization-id': null }`). Applied last, so they override everything.
   */
  headers?: Record<string, string | null>;
  /**
   * `retry-after` in seconds; `null` omits it. Default: `1` on a 429 without an error code,
   * none otherwise (none on the spend-cap 429). Tests should prefer {@link FakeScript.retryAfterMs}.
   */
  retryAfter?: number | null;
  /** `retry-after-ms`, which the SDK prefers over `retry-after`. Default: none. */
  retryAfterMs?: number;
  /** Delay before the response headers are sent, in ms. Default 0. */
  delayMs?: number;
  /** The model the response says served it. Default: the requested model. */
  model?: string;
  /** Stop reason. Default `end_turn`, or `tool_use` when the content ends with a tool_use block. */
  stopReason?: FakeStopReason;
  /**
   * The reply's content: a shorthand kind or explicit blocks. `text` (default): one text
   * block. `tool_use`: text then a tool_use block. `thinking`: a thinking block then text.
   */
  content?: 'text' | 'tool_use' | 'thinking' | ScriptContentBlock[];
  /** Usage overrides (final totals). */
  usage?: ScriptUsage;
  /** Streaming delivery. */
  stream?: ScriptStream;
  /** Batch outcome (for `messages.batches.create`). */
  batch?: ScriptBatch;
  /** Queue only: which requests this entry may answer. */
  match?: ScriptMatch;
  /** Queue only: answer this many requests before leaving the queue. Default 1. */
  times?: number;
}

/**
 * What a `--script FILE` (JSON or YAML) holds: either an array of scripts (the queue) or an
 * object with a queue and a default.
 *
 * @example
 * ```yaml
 * default: { stream: { eventDelayMs: 20 } }
 * queue:
 *   - { status: 529, retryAfterMs: 10 }
 *   - { content: thinking, usage: { cache_read_input_tokens: 1200 } }
 * ```
 */
export interface ScriptFile {
  /** Scripts answered in order, each once (or `times` times). */
  queue?: FakeScript[];
  /** The script used when the queue has nothing that matches. Default `{}`. */
  default?: FakeScript;
}
