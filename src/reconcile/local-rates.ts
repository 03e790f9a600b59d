/**
 * Local prices per token type, asked of the same {@link Pricer} the daemon prices calls
 * with, so "prices out of date" compares the billed amount with exactly what claudescope
 * would charge. Each rate prices a probe call of {@link PROBE_TOKENS} tokens of one type
 * (small enough to stay below every long-context or volume tier).
 */
import type { CallEvent } from '../event/types.js';
import type { Pricer } from '../pricing/types.js';
import type { LocalRates } from './compare.js';
import { TOKEN_TYPES, type PriceClass, type TokenType } from './types.js';

const PROBE_TOKENS = 10_000;

function probe(model: string, cls: PriceClass, at: number, type: TokenType): CallEvent {
  const u = {
    input_tokens: type === 'uncached_input' ? PROBE_TOKENS : 0,
    output_tokens: type === 'output' ? PROBE_TOKENS : 0,
    cache_read_input_tokens: type === 'cache_read' ? PROBE_TOKENS : 0,
    cache_creation_input_tokens: type === 'cache_write_5m' || type === 'cache_write_1h' ? PROBE_TOKENS : 0,
    cache_write_5m_input_tokens: type === 'cache_write_5m' ? PROBE_TOKENS : 0,
    cache_write_1h_input_tokens: type === 'cache_write_1h' ? PROBE_TOKENS : 0,
    cache_write_unknown_ttl_input_tokens: 0,
    thinking_tokens: null, web_search_requests: 0, web_fetch_requests: 0, code_execution_requests: 0,
    service_tier: cls.tier, speed: cls.speed ?? 'standard', inference_geo: cls.inferenceGeo ?? 'global',
  };
  return {
    t: 'call', v: 1, event_id: 'reconcile-probe', seq: 1, ts: at, ts_start: at, app: 'reconcile', env: null, host: 'reconcile', pid: 0, tags: {},
    provider: 'anthropic', operation: 'messages.create', model_requested: model, model, stream: false, max_tokens: null, tool_count: null,
    status: 'ok', http_status: 200, error_type: null, error_code: null, stop_reason: 'end_turn', request_id: null, message_id: null,
    organization_id: null, workspace_id: null, api_key_alias: null, attempts: 1, attempt_log: [], duration_ms: 0, ttft_ms: null,
    output_tokens_per_second: null, complete: true, usage: u, rate_limits: null,
  };
}

/** Local rates (USD per million tokens) from a pricer; memoised per model, price class and UTC day. */
export function ratesFromPricer(pricer: Pricer): LocalRates {
  const memo = new Map<string, Record<TokenType, number> | null>();
  return (model, tier, at, where) => {
    const cls: PriceClass = { tier, inferenceGeo: where?.inferenceGeo ?? null, speed: where?.speed ?? null };
    const key = JSON.stringify([model, cls.tier, cls.inferenceGeo, cls.speed, Math.floor(at / 86_400_000)]);
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let rates: Record<TokenType, number> | null = {} as Record<TokenType, number>;
    for (const t of TOKEN_TYPES) {
      let nano: number | null = null;
      try {
        const r = pricer.price(probe(model, cls, at + 1, t));
        nano = r.priced ? (r.cost_nanousd ?? (r.cost_usd === null ? null : Math.round(r.cost_usd * 1e9))) : null;
      } catch {
        nano = null;
      }
      if (nano === null) {
        rates = null;
        break;
      }
      rates[t] = (nano / PROBE_TOKENS) * 1e6 / 1e9;
    }
    memo.set(key, rates);
    return rates;
  };
}
