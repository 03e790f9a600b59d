/**
 * Local prices per token type, asked of the same {@link Pricer} the daemon prices calls
 * with, so "prices out of date" compares the billed amount with exactly what claudescope
 * would charge. Each rate prices a probe call of {@link PROBE_TOKENS} tokens of one type
 * (small enough to stay below every long-context or volume tier). Tokens the report bills in
 * a higher context window (`200k-1M`) are priced as prompts in it: the probe adds a prompt
 * just over the window's floor, whose own cost is taken off, so a long-context premium in
 * force then applies as it did to the calls.
 */
import type { CallEvent } from '../event/types.js';
import type { Pricer } from '../pricing/types.js';
import type { LocalRates } from './compare.js';
import { TOKEN_TYPES, type PriceClass, type TokenType } from './types.js';

const PROBE_TOKENS = 10_000;

/**
 * The fewest prompt tokens of a report's context window (`0-200k` → 0, `200k-1M` → 200,001);
 * null for a label it does not know.
 */
export function contextWindowPrompt(window: string | null): number | null {
  if (window === null) return 0;
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)-/.exec(window);
  if (!m) return null;
  const floor = Math.round(Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6));
  return floor === 0 ? 0 : floor + 1;
}

/** A call of `tokens` tokens of `type` (none: the prompt alone) after a prompt of `prompt` uncached input tokens. */
function probe(model: string, cls: PriceClass, at: number, type: TokenType | null, prompt: number): CallEvent {
  const tokens = (t: TokenType): number => (type === t ? PROBE_TOKENS : 0);
  const u = {
    input_tokens: prompt + tokens('uncached_input'),
    output_tokens: tokens('output'),
    cache_read_input_tokens: tokens('cache_read'),
    cache_creation_input_tokens: tokens('cache_write_5m') + tokens('cache_write_1h'),
    cache_write_5m_input_tokens: tokens('cache_write_5m'),
    cache_write_1h_input_tokens: tokens('cache_write_1h'),
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
    const cls: PriceClass = { tier, inferenceGeo: where?.inferenceGeo ?? null, speed: where?.speed ?? null, contextWindow: where?.contextWindow ?? null };
    const key = JSON.stringify([model, cls.tier, cls.inferenceGeo, cls.speed, cls.contextWindow, Math.floor(at / 86_400_000)]);
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const rates = probeRates(pricer, model, cls, at + 1);
    memo.set(key, rates);
    return rates;
  };
}

/** USD per million tokens of each type, or null when any has no local price (or the context window is not one it knows). */
function probeRates(pricer: Pricer, model: string, cls: PriceClass, at: number): Record<TokenType, number> | null {
  const prompt = contextWindowPrompt(cls.contextWindow);
  if (prompt === null) return null;
  const cost = (type: TokenType | null): number | null => {
    try {
      const r = pricer.price(probe(model, cls, at, type, prompt));
      return r.priced ? (r.cost_nanousd ?? (r.cost_usd === null ? null : Math.round(r.cost_usd * 1e9))) : null;
    } catch {
      return null;
    }
  };
  const base = prompt === 0 ? 0 : cost(null);
  if (base === null) return null;
  const rates = {} as Record<TokenType, number>;
  for (const t of TOKEN_TYPES) {
    const nano = cost(t);
    if (nano === null) return null;
    rates[t] = ((nano - base) / PROBE_TOKENS) * 1e6 / 1e9;
  }
  return rates;
}
