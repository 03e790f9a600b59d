/**
 * Token estimates and the `usage` objects of a response: the final one (non-streaming
 * replies, batch results), the `message_start` one (input, cache split, tier, speed, geo,
 * a 1–3 output placeholder) and the cumulative `message_delta` snapshots.
 *
 * Field semantics follow the SDK's `Usage` / `MessageDeltaUsage`: `input_tokens` excludes
 * cache reads and writes; `message_delta` values are cumulative snapshots, never increments,
 * and carry no TTL split, tier, speed or geo.
 */
import type { MessageDeltaUsage, Usage } from '@anthropic-ai/sdk/resources/messages';
import type { ScriptStream, ScriptUsage } from './script-types.js';

/** Rough tokens of a text: one per 4 characters, at least 1. */
export function estimateTextTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * Input tokens of a Messages request, from the size of what the model reads. `count_tokens`
 * and `messages.create` use this same function, so they agree for the same body.
 */
export function estimateInputTokens(body: Record<string, unknown>): number {
  const read = { system: body['system'], messages: body['messages'], tools: body['tools'], tool_choice: body['tool_choice'] };
  return estimateTextTokens(JSON.stringify(read) ?? '');
}

/** A script's usage with every default filled in. */
export interface ResolvedUsage {
  input: number;
  output: number;
  cacheRead: number;
  /** Total cache writes; may exceed the split's sum. */
  cacheWrite: number;
  /** The TTL split, or null when the script asked for `cache_creation: null`. */
  split: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number } | null;
  /** null: no `output_tokens_details`. */
  thinking: number | null;
  webSearch: number;
  webFetch: number;
  serviceTier: Usage['service_tier'];
  speed: Usage['speed'];
  geo: string | null;
}

/** What the request and content imply, before the script's overrides. */
export interface UsageDefaults {
  input: number;
  output: number;
  /** Estimated thinking tokens, or null without a thinking block. */
  thinking: number | null;
  serviceTier: Usage['service_tier'];
  speed: Usage['speed'];
  geo: string | null;
}

export function resolveUsage(script: ScriptUsage | undefined, defaults: UsageDefaults): ResolvedUsage {
  const s = script ?? {};
  const split =
    s.cache_creation === null
      ? null
      : { ephemeral_5m_input_tokens: s.cache_creation?.ephemeral_5m_input_tokens ?? 0, ephemeral_1h_input_tokens: s.cache_creation?.ephemeral_1h_input_tokens ?? 0 };
  const splitSum = split ? split.ephemeral_5m_input_tokens + split.ephemeral_1h_input_tokens : 0;
  const thinking = s.thinking_tokens ?? defaults.thinking;
  // Output includes thinking, so it is never below it.
  const output = s.output_tokens ?? Math.max(defaults.output, thinking ?? 0);
  return {
    input: s.input_tokens ?? defaults.input,
    output,
    cacheRead: s.cache_read_input_tokens ?? 0,
    cacheWrite: s.cache_creation_input_tokens ?? splitSum,
    split,
    thinking,
    webSearch: s.web_search_requests ?? 0,
    webFetch: s.web_fetch_requests ?? 0,
    serviceTier: s.service_tier !== undefined ? s.service_tier : defaults.serviceTier,
    speed: s.speed !== undefined ? s.speed : defaults.speed,
    geo: s.inference_geo !== undefined ? s.inference_geo : defaults.geo,
  };
}

function serverToolUse(webSearch: number, webFetch: number): Usage['server_tool_use'] {
  return webSearch > 0 || webFetch > 0 ? { web_search_requests: webSearch, web_fetch_requests: webFetch } : null;
}

/** The final `usage` of a message, as a non-streaming reply or a batch result carries it. */
export function finalUsage(u: ResolvedUsage): Usage {
  return {
    input_tokens: u.input,
    cache_creation_input_tokens: u.cacheWrite,
    cache_read_input_tokens: u.cacheRead,
    cache_creation: u.split,
    output_tokens: u.output,
    output_tokens_details: u.thinking !== null ? { thinking_tokens: u.thinking } : null,
    server_tool_use: serverToolUse(u.webSearch, u.webFetch),
    service_tier: u.serviceTier,
    speed: u.speed,
    inference_geo: u.geo,
  };
}

/** Input and cache values at `message_start`, before server tools added to them. */
export interface StartValues {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  outputPlaceholder: number;
}

export function startValues(u: ResolvedUsage, stream: ScriptStream | undefined): StartValues {
  const s = stream?.startUsage ?? {};
  const serverTools = u.webSearch + u.webFetch > 0;
  const splitSum = u.split ? u.split.ephemeral_5m_input_tokens + u.split.ephemeral_1h_input_tokens : u.cacheWrite;
  return {
    // With server tools the model reads the tool results too, so input grows during the stream.
    input: s.input_tokens ?? (serverTools ? Math.max(1, Math.round(u.input / 4)) : u.input),
    cacheRead: s.cache_read_input_tokens ?? u.cacheRead,
    // message_start reports the split it knows; writes made later (server tools) only show
    // in the message_delta totals.
    cacheWrite: s.cache_creation_input_tokens ?? Math.min(splitSum, u.cacheWrite),
    outputPlaceholder: s.output_tokens ?? Math.min(1, u.output),
  };
}

/** The `usage` of `message_start`. */
export function startUsage(u: ResolvedUsage, start: StartValues): Usage {
  return {
    input_tokens: start.input,
    cache_creation_input_tokens: start.cacheWrite,
    cache_read_input_tokens: start.cacheRead,
    cache_creation: u.split,
    output_tokens: start.outputPlaceholder,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: u.serviceTier,
    speed: u.speed,
    inference_geo: u.geo,
  };
}

/** The wire form of a `message_delta` usage: absent fields are omitted, as the API does. */
export type DeltaUsage = Partial<MessageDeltaUsage> & Pick<MessageDeltaUsage, 'output_tokens'>;

/**
 * The cumulative snapshots of `count` message_delta events; the last equals the final usage.
 * Snapshot k of n holds k/n of the way from the start values to the finals.
 */
export function deltaSnapshots(u: ResolvedUsage, start: StartValues, stream: ScriptStream | undefined): DeltaUsage[] {
  const count = stream?.messageDeltas ?? 1;
  const grows = start.input !== u.input || start.cacheRead !== u.cacheRead || start.cacheWrite !== u.cacheWrite;
  const mode = stream?.deltaUsage ?? 'auto';
  const full = mode === 'full' || (mode === 'auto' && (grows || u.webSearch + u.webFetch > 0 || count > 1));
  const at = (from: number, to: number, k: number): number => (k === count ? to : from + Math.floor(((to - from) * k) / count));
  const out: DeltaUsage[] = [];
  for (let k = 1; k <= count; k++) {
    const snap: DeltaUsage = { output_tokens: at(Math.min(start.outputPlaceholder, u.output), u.output, k) };
    if (full) {
      snap.input_tokens = at(start.input, u.input, k);
      snap.cache_creation_input_tokens = at(start.cacheWrite, u.cacheWrite, k);
      snap.cache_read_input_tokens = at(start.cacheRead, u.cacheRead, k);
      const tools = serverToolUse(at(0, u.webSearch, k), at(0, u.webFetch, k));
      if (tools) snap.server_tool_use = tools;
    }
    if (u.thinking !== null) snap.output_tokens_details = { thinking_tokens: at(0, u.thinking, k) };
    out.push(snap);
  }
  return out;
}
