/**
 * What the fake API remembers about each request, for tests to assert on. A record is a
 * live object: its response fields fill in as the response is written and it is final once
 * `outcome` is no longer `pending` (see `FakeApi.waitForIdle()`).
 */
import type { FakeScript } from './script-types.js';

/** How the response ended. */
export type RequestOutcome =
  /** Still being answered. */
  | 'pending'
  /** A 2xx body (JSON, JSON Lines or a whole stream ending in `message_stop`) was fully sent. */
  | 'completed'
  /** An error status with the API's error body. */
  | 'error'
  /** A stream that ended with an `event: error` frame. */
  | 'stream_error'
  /** The fake destroyed the socket mid-stream (a scripted cut). */
  | 'cut'
  /** The client closed the connection before the response was complete. */
  | 'client_closed';

export interface RecordedRequest {
  /** 1, 2, 3… in arrival order since the fake started (not reset by `reset()`). */
  seq: number;
  method: string;
  /** The path without the query, e.g. `/v1/messages`. */
  path: string;
  /** The query parameters (last value wins). */
  query: Record<string, string>;
  /** The route that answered, or null for an unknown path. */
  route: string | null;
  /** `?beta=true` in the URL or an `anthropic-beta` header. */
  beta: boolean;
  /**
   * Request headers, lower-cased. Kept in memory as sent, `x-api-key` and `authorization`
   * included; the fake never prints them.
   */
  headers: Record<string, string>;
  /** The parsed JSON body, or undefined. */
  body: unknown;
  /** `body.stream === true` on a Messages call. */
  stream: boolean;
  /** The `x-stainless-retry-count` header as a number (0 on the first attempt), or null. */
  retryCount: number | null;
  /** The script that answered, or null for the default response. */
  script: FakeScript | null;
  /** Where the script came from. */
  scriptSource: 'header' | 'queue' | 'default';
  /** Epoch ms the request arrived. */
  startedAt: number;
  /** Epoch ms the response ended (or the connection closed), null while pending. */
  endedAt: number | null;
  /** Response status (0 until the headers are sent). */
  status: number;
  /** The `request-id` header the fake answered with. */
  requestId: string;
  /** Response headers as sent. */
  responseHeaders: Record<string, string>;
  outcome: RequestOutcome;
  /** SSE events written to the socket before it closed (pings and error frames included). */
  eventsSent: number;
  /** Of those, `content_block_delta` events carrying text. */
  textDeltasSent: number;
  /** True when the client closed the connection before the response was complete. */
  clientClosed: boolean;
}
