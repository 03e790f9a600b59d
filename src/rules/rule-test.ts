/**
 * Unit tests of rules in the manner of `promtool test rules`: fixture calls (and rate-limit
 * headers and pipeline health) at times relative to a start, evaluation every interval,
 * and the alerts expected to fire at given times.
 *
 * ```yaml
 * rule_files: [../claude.yaml]
 * budgets: { daily: 10 }
 * tests:
 *   - name: errors fire
 *     calls:
 *       - { at: -5m, until: 0m, count: 90 }
 *       - { at: -4m, until: 0m, count: 10, status: error, error_type: overloaded_error }
 *     alerts:
 *       - eval_time: 0m
 *         alertname: ClaudeHighErrorRate
 *         exp_alerts:
 *           - exp_labels: { severity: critical, model: claude-sonnet-4-5 }
 * ```
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import type { CallEvent } from '../event/types.js';
import type { PriceResult } from '../pricing/types.js';
import type { PipelineHealth } from '../store/types.js';
import { SqliteStore, type PricedCall } from '../store/sqlite-store.js';
import { parseDuration } from './duration.js';
import { createRuleEngine } from './rule-engine.js';
import { loadRules } from './rule-loader.js';
import { PIPELINE_METRICS, type Budgets, type PipelineMetric } from './rule-types.js';

export interface RuleTestOutcome {
  name: string;
  failures: string[];
}

interface CallFixture {
  at?: string; until?: string; count?: number; model?: string; feature?: string; status?: 'ok' | 'error' | 'aborted';
  error_type?: string; http_status?: number; stop_reason?: string; duration_ms?: number; ttft_ms?: number;
  input_tokens?: number; output_tokens?: number; cost_usd?: number | null; attempts?: number;
  rate_limits?: { requests?: { limit: number; remaining: number }; tokens?: { limit: number; remaining: number } };
}
interface Expected { eval_time: string; alertname: string; exp_alerts?: { exp_labels?: Record<string, string | number>; exp_annotations?: Record<string, string> }[] }
interface TestCase {
  name?: string; start?: string; eval_interval?: string; calls?: CallFixture[];
  health?: ({ at?: string } & Partial<Record<PipelineMetric, number>>)[];
  alerts?: Expected[];
}
interface TestFile { rule_files?: string[]; budgets?: Budgets; tests?: TestCase[] }

const DEFAULT_START = Date.UTC(2026, 0, 15, 12, 0, 0);

/** Offset in ms of `-5m`, `0m`, `90s`. */
function offset(text: string | undefined, what: string): number {
  if (text === undefined) return 0;
  const s = String(text).trim();
  const neg = s.startsWith('-');
  const ms = parseDuration(neg ? s.slice(1) : s);
  if (ms === null) throw new Error(`${what}: ${JSON.stringify(text)} is not a duration`);
  return neg ? -ms : ms;
}

/** Runs every test of a rule-test file; a failure list per test, empty when it passed. */
export async function runRuleTests(file: string): Promise<RuleTestOutcome[]> {
  const doc = parse(readFileSync(file, 'utf8')) as TestFile;
  const ruleFiles = (doc.rule_files ?? []).map((f) => resolve(dirname(file), f));
  if (ruleFiles.length === 0) throw new Error(`${file}: rule_files is required`);
  const rules = loadRules(ruleFiles);
  const out: RuleTestOutcome[] = [];
  for (const [i, tc] of (doc.tests ?? []).entries()) out.push(await runOne(tc, i, rules, doc.budgets ?? {}));
  return out;
}

async function runOne(tc: TestCase, index: number, rules: ReturnType<typeof loadRules>, budgets: Budgets): Promise<RuleTestOutcome> {
  const name = tc.name ?? `tests[${index}]`;
  const failures: string[] = [];
  const start = tc.start !== undefined ? Date.parse(tc.start) : DEFAULT_START;
  const store = SqliteStore.open({ path: ':memory:' });
  try {
    const calls: PricedCall[] = [];
    for (const [j, f] of (tc.calls ?? []).entries()) {
      const from = start + offset(f.at, `calls[${j}].at`);
      const to = f.until !== undefined ? start + offset(f.until, `calls[${j}].until`) : from + 1;
      const n = f.count ?? 1;
      for (let k = 0; k < n; k++) calls.push(fixtureCall(f, Math.floor(from + ((to - from) * k) / n)));
    }
    store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
    const health = (tc.health ?? []).map((h) => ({ ts: start + offset(h.at, 'health.at'), h }));
    const healthAt = (now: number): PipelineHealth => {
      // Each sample sets the metrics it names; the others keep their value (0 at first).
      const cur = Object.fromEntries(Object.values(PIPELINE_METRICS).map((m) => [m.field, 0])) as unknown as PipelineHealth;
      for (const { ts, h } of health) {
        if (ts > now) continue;
        for (const [metric, { field }] of Object.entries(PIPELINE_METRICS)) {
          const v = h[metric as PipelineMetric];
          if (v !== undefined) cur[field] = v;
        }
      }
      return cur;
    };
    let now = start;
    const engine = createRuleEngine({ query: store, rules, budgets, clock: () => now, health: () => healthAt(now) });
    try {
      const interval = offset(tc.eval_interval ?? '1m', 'eval_interval');
      const expects = (tc.alerts ?? []).map((e) => ({ ...e, at: start + offset(e.eval_time, 'eval_time') }));
      const last = Math.max(start, ...expects.map((e) => e.at));
      const times = new Set<number>();
      for (let x = Math.min(start, ...expects.map((e) => e.at)); x <= last; x += Math.max(interval, 1000)) times.add(x);
      for (const e of expects) times.add(e.at);
      for (const at of [...times].sort((a, b) => a - b)) {
        now = at;
        await engine.evaluateOnce(at);
        for (const e of expects.filter((x) => x.at === at)) {
          const got = engine.alerts(at).filter((a) => a.name === e.alertname && a.state === 'firing');
          const want = e.exp_alerts ?? [];
          const gotKeys = got.map((a) => labelKey(a.labels));
          const wantKeys = want.map((w) => labelKey({ alertname: e.alertname, ...stringify(w.exp_labels ?? {}) }));
          const missing = wantKeys.filter((k) => !gotKeys.includes(k));
          const extra = gotKeys.filter((k) => !wantKeys.includes(k));
          if (missing.length > 0 || extra.length > 0) {
            failures.push(`alertname: ${e.alertname}, time: ${e.eval_time}\n    expected firing: ${wantKeys.join(' ') || '(none)'}\n    got firing:      ${gotKeys.join(' ') || '(none)'}`);
            continue;
          }
          for (const w of want) {
            const a = got.find((g) => labelKey(g.labels) === labelKey({ alertname: e.alertname, ...stringify(w.exp_labels ?? {}) }));
            for (const [k, v] of Object.entries(w.exp_annotations ?? {})) {
              if (a?.annotations[k] !== v) failures.push(`alertname: ${e.alertname}, time: ${e.eval_time}: annotation ${k}\n    expected: ${JSON.stringify(v)}\n    got:      ${JSON.stringify(a?.annotations[k] ?? null)}`);
            }
          }
        }
      }
    } finally {
      await engine.stop();
    }
  } catch (err: unknown) {
    failures.push(err instanceof Error ? err.message : String(err));
  } finally {
    store.close();
  }
  return { name, failures };
}

function stringify(m: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
}

function labelKey(labels: Record<string, string>): string {
  return `{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(', ')}}`;
}

/** A complete call event (and its price) from a fixture's few fields. */
export function fixtureCall(f: CallFixture, ts: number): PricedCall {
  const model = f.model ?? 'claude-sonnet-4-5';
  const status = f.status ?? (f.error_type !== undefined ? 'error' : 'ok');
  const duration = f.duration_ms ?? 800;
  const rl = f.rate_limits;
  const event: CallEvent = {
    t: 'call', v: 1, event_id: randomUUID(), seq: 1, ts, ts_start: ts - duration, app: 'rules-test', env: null, host: 'test', pid: 1,
    tags: f.feature !== undefined ? { feature: f.feature } : {}, provider: 'anthropic', operation: 'messages.create',
    model_requested: model, model, stream: f.ttft_ms !== undefined, max_tokens: 1024, tool_count: 0, status,
    http_status: f.http_status ?? (status === 'error' ? (f.error_type === 'overloaded_error' ? 529 : f.error_type === 'rate_limit_error' ? 429 : 500) : 200),
    error_type: status === 'error' ? (f.error_type ?? 'api_error') : null, error_code: null,
    stop_reason: status === 'ok' ? (f.stop_reason ?? 'end_turn') : null, request_id: null, message_id: null, organization_id: null,
    workspace_id: null, api_key_alias: null, attempts: f.attempts ?? 1, attempt_log: [], duration_ms: duration, ttft_ms: f.ttft_ms ?? null,
    output_tokens_per_second: null, complete: true,
    usage: status === 'ok' ? {
      input_tokens: f.input_tokens ?? 100, output_tokens: f.output_tokens ?? 50, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
      cache_write_5m_input_tokens: 0, cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0, thinking_tokens: null,
      web_search_requests: 0, web_fetch_requests: 0, code_execution_requests: 0, service_tier: 'standard', speed: null, inference_geo: null,
    } : null,
    rate_limits: rl ? Object.fromEntries(Object.entries(rl).map(([d, b]) => [d, { limit: b.limit, remaining: b.remaining, reset: null }])) : null,
  };
  const cost = f.cost_usd === undefined ? (status === 'ok' ? 0.001 : 0) : f.cost_usd;
  const price: PriceResult = {
    cost_usd: cost, cost_without_cache_usd: cost, cost_nanousd: cost === null ? null : Math.round(cost * 1e9),
    cost_without_cache_nanousd: cost === null ? null : Math.round(cost * 1e9), provider: 'anthropic', parts: [], pricing_version: 'rules-test', priced: cost !== null, model, flags: cost === null ? ['unknown_model'] : [],
  };
  return { event, raw: JSON.stringify(event), price };
}
