/**
 * The event contract, version 1: what an emitter writes and the daemon reads.
 *
 * One NDJSON file per writing process, named
 * `<app>-<host>-<pid>-<start>-<seq>.ndjson`, mode 0600, never renamed or truncated while
 * open. Its first line is a {@link FileHeader}; then {@link CallEvent} and
 * {@link StatsLine} lines; on orderly close or rotation a {@link FileFooter} seals it.
 *
 * The JSON Schema of these lines is `event.schema.json` beside this file; any language can
 * write the same files.
 */

/** The contract version carried by every line as `v`. */
export const EVENT_VERSION = 1 as const;

/** Counters an emitter keeps about itself, written in stats lines and in the footer. */
export interface EmitterStats {
  /** Call events handed to the file (buffered or written). */
  events_written: number;
  /** Events dropped because the in-memory buffer was full (disk slow or full). */
  events_dropped_buffer: number;
  /** Events dropped because the events folder was over its size cap. */
  events_dropped_dir_cap: number;
  /** Events dropped because a write failed (ENOSPC, EIO, …). */
  events_dropped_write_error: number;
  /** Faults inside the emitter that it caught and did not pass on to the app. */
  internal_errors: number;
  /** Bytes appended to files so far by this process (cumulative, like every counter here). */
  bytes_written: number;
  /** Files this process opened (optional: emitters of other languages may omit it) (the first and every rotation). */
  files_opened?: number;
  /** Failed file-system calls (open, write), whether retried or dropped. */
  write_errors?: number;
}

export interface FileHeader {
  t: 'header';
  v: 1;
  /** Unique id of this file (a UUID); the daemon's checkpoints are keyed by it. */
  file_id: string;
  app: string;
  host: string;
  pid: number;
  /** ISO 8601 time the file was opened. */
  started_at: string;
  /** Position of this file in its writer's sequence (0 for the first, +1 per rotation). */
  file_seq: number;
  emitter: { name: string; version: string };
}

export interface StatsLine {
  t: 'stats';
  v: 1;
  file_id: string;
  /** Epoch milliseconds. */
  ts: number;
  /** Cumulative for the writing process (not per file). */
  stats: EmitterStats;
}

export interface FileFooter {
  t: 'footer';
  v: 1;
  file_id: string;
  /** Lines in the file before the footer, header included. */
  lines: number;
  sealed_at: string;
  /** Why the file was sealed. */
  reason: 'rotate_size' | 'rotate_age' | 'close';
  stats: EmitterStats;
}

export type CallStatus = 'ok' | 'error' | 'aborted';

export type Provider = 'anthropic' | 'bedrock' | 'vertex' | 'foundry' | 'unknown';

/** Operations the emitter recognises; other SDK paths are recorded as `other:<METHOD> <path>`. */
export type Operation =
  | 'messages.create'
  | 'messages.stream'
  | 'messages.count_tokens'
  | 'messages.batches.create'
  | 'messages.batches.retrieve'
  | 'messages.batches.list'
  | 'messages.batches.cancel'
  | 'messages.batches.delete'
  | 'messages.batches.results'
  | 'messages.batches.result'
  | (string & {});

/** One HTTP attempt of a call. */
export interface Attempt {
  /** HTTP status, or null when the attempt failed before a response (connection, timeout). */
  status: number | null;
  error_type: string | null;
  request_id: string | null;
  /** Start of the attempt, ms after the call's start. */
  start_offset_ms: number;
  /** Time to response headers (non-streaming: to the parsed body). */
  duration_ms: number;
  /** The server's `retry-after-ms` / `retry-after`, in ms, when it sent one. */
  retry_after_ms: number | null;
}

/**
 * Token usage exactly as Anthropic reports it. `input_tokens` is the uncached input only;
 * it never includes cache reads or writes. For a stream this is the last snapshot seen
 * (snapshots replace, they never add).
 */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  /** All cache writes, as the API reports `cache_creation_input_tokens`. */
  cache_creation_input_tokens: number;
  cache_write_5m_input_tokens: number;
  cache_write_1h_input_tokens: number;
  /**
   * Cache writes whose TTL is not known: the API gave no TTL split, or the final total
   * exceeded the split seen at `message_start` (server tools). Priced by an explicit rule.
   */
  cache_write_unknown_ttl_input_tokens: number;
  /** A breakdown of `output_tokens`, never to be added to it. */
  thinking_tokens: number | null;
  web_search_requests: number;
  web_fetch_requests: number;
  code_execution_requests: number;
  service_tier: string | null;
  speed: string | null;
  inference_geo: string | null;
  /** Beta `iterations[]` as reported (compaction, advisor, fallback entries), when present. */
  iterations?: UsageIteration[];
}

export interface UsageIteration {
  type: string;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

/** One rate-limit bucket from the `anthropic-ratelimit-<dimension>-*` headers. */
export interface RateLimitBucket {
  limit: number | null;
  remaining: number | null;
  /** RFC 3339 time the bucket is full again. */
  reset: string | null;
}

export type RateLimitDimension = 'requests' | 'tokens' | 'input_tokens' | 'output_tokens';

export type RateLimits = Partial<Record<RateLimitDimension, RateLimitBucket>>;

/** Batch context of an event that came from the Message Batches API. */
export interface BatchInfo {
  batch_id: string | null;
  /** For a result read through `batches.results()`: its `custom_id`. */
  custom_id?: string;
  /** For a result: succeeded, errored, canceled or expired. */
  result_type?: string;
  /** For a created or retrieved batch: its request counts. */
  request_counts?: Record<string, number>;
}

/** One API call as the application sees it: all its retries, a stream until it ended. */
export interface CallEvent {
  t: 'call';
  v: 1;
  // identity
  event_id: string;
  /** Position of this line in its file (the header is 0). */
  seq: number;
  /** End of the call, epoch ms. */
  ts: number;
  /** Start of the call, epoch ms. */
  ts_start: number;
  // where
  app: string;
  env: string | null;
  host: string;
  pid: number;
  tags: Record<string, string>;
  // what
  provider: Provider;
  operation: Operation;
  model_requested: string | null;
  /** The model as served (the response's `model`), else the requested one. */
  model: string | null;
  stream: boolean;
  max_tokens: number | null;
  tool_count: number | null;
  // outcome
  status: CallStatus;
  http_status: number | null;
  /** The API's `error.type` (e.g. `overloaded_error`), else a client-side kind. */
  error_type: string | null;
  error_code: string | null;
  stop_reason: string | null;
  // ids
  request_id: string | null;
  message_id: string | null;
  organization_id: string | null;
  workspace_id: string | null;
  api_key_alias: string | null;
  // retries
  attempts: number;
  attempt_log: Attempt[];
  // timing
  duration_ms: number;
  ttft_ms: number | null;
  output_tokens_per_second: number | null;
  // usage
  /** False when the usage may not be final (a stream that ended before its message_stop). */
  complete: boolean;
  usage: Usage | null;
  rate_limits: RateLimits | null;
  batch?: BatchInfo;
  /** For `messages.count_tokens`: the count it returned. Counting is free, so this is not usage. */
  counted_input_tokens?: number;
  /** Request and response content, only when the user opted in through a redaction hook. */
  content?: unknown;
}

export type EventLine = FileHeader | CallEvent | StatsLine | FileFooter;
