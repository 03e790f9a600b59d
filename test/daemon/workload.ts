/** A scripted mixed workload of call events, and the sums a correct pipeline must report for it. */
import type { Attempt, CallEvent } from '../../src/event/types.js';
import { call } from '../helpers/event-files.js';
import { testCost } from '../helpers/test-pricer.js';

const attempt = (status: number | null, error_type: string | null = null): Attempt =>
  ({ status, error_type, request_id: null, start_offset_ms: 0, duration_ms: 100, retry_after_ms: status === 429 ? 1000 : null });

/** `n` calls over 3 models (one unpriced), 2 features, ok / error / aborted, retries after 429 and 529, cache use, rate-limit headers. */
export function mixedWorkload(n: number, now = Date.now()): CallEvent[] {
  const models = ['claude-test-1', 'claude-test-2', 'unpriced-model'];
  const out: CallEvent[] = [];
  for (let i = 0; i < n; i++) {
    const model = models[i % 3]!;
    const kind = i % 7;
    const retries: Attempt[] = kind === 1 ? [attempt(429, 'rate_limit_error'), attempt(200)] : kind === 2 ? [attempt(529, 'overloaded_error'), attempt(529, 'overloaded_error'), attempt(529, 'overloaded_error')] : kind === 3 ? [attempt(500, 'api_error'), attempt(200)] : [attempt(200)];
    const failed = kind === 2;
    const aborted = kind === 5;
    const midStream = kind === 6 && i % 2 === 0;
    out.push(call({
      ts: now - (n - i) * 1000,
      model, model_requested: model,
      tags: i % 2 === 0 ? { feature: 'search' } : { feature: `customer-${i}` },
      stream: kind >= 4,
      status: failed || midStream ? 'error' : aborted ? 'aborted' : 'ok',
      http_status: failed ? 529 : 200,
      error_type: failed ? 'overloaded_error' : midStream ? 'overloaded_error' : null,
      stop_reason: failed || aborted || midStream ? null : i % 4 === 0 ? 'tool_use' : 'end_turn',
      attempts: retries.length,
      attempt_log: retries,
      duration_ms: 200 + (i % 13) * 900,
      ttft_ms: kind >= 4 ? 100 + (i % 5) * 300 : null,
      usage: failed ? null : {
        input_tokens: 10 + i, output_tokens: 5 + (i % 11), cache_read_input_tokens: i % 3 === 0 ? 1000 : 0,
        cache_creation_input_tokens: i % 4 === 0 ? 500 : 0, cache_write_5m_input_tokens: i % 4 === 0 ? 300 : 0,
        cache_write_1h_input_tokens: i % 4 === 0 ? 200 : 0, cache_write_unknown_ttl_input_tokens: 0, thinking_tokens: null,
        web_search_requests: 0, web_fetch_requests: 0, code_execution_requests: 0, service_tier: 'standard', speed: null, inference_geo: null,
      },
      rate_limits: { requests: { limit: 50, remaining: 50 - (i % 50), reset: null }, tokens: { limit: 80_000, remaining: 70_000 - i, reset: null } },
    }));
  }
  return out;
}

/** What the events say, computed directly from them. */
export function expectedSums(events: CallEvent[]): {
  byStatus: Record<string, number>; tokens: Record<string, number>; costUsd: number; unpriced: number; attempts: number; errorsByKind: Record<string, number>;
} {
  const byStatus: Record<string, number> = {};
  const tokens: Record<string, number> = { input: 0, output: 0, cache_read: 0, cache_write_5m: 0, cache_write_1h: 0 };
  const errorsByKind: Record<string, number> = { rate_limit: 0, overloaded: 0, other: 0 };
  let costUsd = 0;
  let unpriced = 0;
  let attempts = 0;
  for (const e of events) {
    byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
    attempts += e.attempts;
    const u = e.usage;
    if (u) {
      tokens['input']! += u.input_tokens;
      tokens['output']! += u.output_tokens;
      tokens['cache_read']! += u.cache_read_input_tokens;
      tokens['cache_write_5m']! += u.cache_write_5m_input_tokens;
      tokens['cache_write_1h']! += u.cache_write_1h_input_tokens;
    }
    const c = testCost(e);
    if (c === null || !u) unpriced++;
    else costUsd += c;
    let lastOk = false;
    for (const a of e.attempt_log) {
      lastOk = a.status !== null && a.status >= 200 && a.status < 300;
      if (!lastOk) errorsByKind[a.status === 429 ? 'rate_limit' : a.status === 529 ? 'overloaded' : 'other']!++;
    }
    if (e.status === 'error' && lastOk) errorsByKind[e.error_type === 'overloaded_error' ? 'overloaded' : 'other']!++;
  }
  return { byStatus, tokens, costUsd, unpriced, attempts, errorsByKind };
}
