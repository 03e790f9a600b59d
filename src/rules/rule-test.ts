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
import { parseIsoTime } from '../daemon/iso-time.js';
import type { CallEvent, Usage } from '../event/types.js';
import type { PriceResult } from '../pricing/types.js';
import type { PipelineHealth } from '../store/types.js';
import { SqliteStore, type PricedCall } from '../store/sqlite-store.js';
import { parseDuration } from './duration.js';
import { createRuleEngine } from './rule-engine.js';
import { loadRules } from './rule-loader.js';
import { Fields, RuleFileError, checkKeys, isRecord, parseYamlFile, type Ctx, type Path, type RuleProblem } from './rule-schema.js';
import { PIPELINE_METRICS, type Budgets, type PipelineMetric, type Rule } from './rule-types.js';
import { whyUnreadable } from '../fs-errors.js';

export interface RuleTestOutcome {
  name: string;
  /** The test's line in its file. */
  line: number;
  failures: RuleTestFailure[];
}

/** Labels of a firing alert other than alertname, as `exp_labels` gives them. */
export type AlertLabels = Record<string, string>;

/**
 * One way a test failed, located at its line: the alerts firing at an evaluation time are not
 * those expected (`firing`), an annotation of one of them differs (`annotation`), or the test
 * could not run (`error`: no time, alert or values).
 */
export type RuleTestFailure =
  | { kind: 'firing'; line: number; eval_time: string; alertname: string; expected: AlertLabels[]; got: AlertLabels[] }
  | { kind: 'annotation'; line: number; eval_time: string; alertname: string; labels: AlertLabels; annotation: string; expected: string; got: string | null }
  | { kind: 'error'; line: number; message: string };

/** A failure as `rules test` prints it, under the test's name (its lines after the first indented). */
export function formatRuleTestFailure(f: RuleTestFailure): string {
  switch (f.kind) {
    case 'firing': {
      const keys = (list: AlertLabels[]): string => list.map((l) => labelKey({ alertname: f.alertname, ...l })).join(' ') || '(none)';
      return `alertname: ${f.alertname}, time: ${f.eval_time}\n    expected firing: ${keys(f.expected)}\n    got firing:      ${keys(f.got)}`;
    }
    case 'annotation':
      return `alertname: ${f.alertname}, time: ${f.eval_time}: annotation ${f.annotation}\n    expected: ${JSON.stringify(f.expected)}\n    got:      ${JSON.stringify(f.got)}`;
    case 'error':
      return f.message;
    default: {
      const never: never = f;
      throw new Error(`unknown failure ${JSON.stringify(never)}`);
    }
  }
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
/** The shortest eval_interval a test may step by. */
const MIN_EVAL_INTERVAL_MS = 1000;

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
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err: unknown) {
    // Said as `rules check` says it of a rule file.
    throw new RuleFileError([{ file, line: 1, field: '(file)', message: `cannot read: ${whyUnreadable(err)}` }]);
  }
  const { doc, rules, lineOf } = loadRuleTestFile(text, file);
  const out: RuleTestOutcome[] = [];
  for (const [i, tc] of (doc.tests ?? []).entries()) out.push(await runOne(tc, i, rules, doc.budgets ?? {}, lineOf));
  return out;
}

const FILE_KEYS = ['rule_files', 'budgets', 'tests'];
const BUDGET_KEYS = ['daily', 'monthly', 'features', 'timeZone'];
const TEST_KEYS = ['name', 'start', 'eval_interval', 'calls', 'health', 'alerts'];
const EXPECTED_KEYS = ['eval_time', 'alertname', 'exp_alerts'];
const EXP_ALERT_KEYS = ['exp_labels', 'exp_annotations'];
const HEALTH_KEYS = ['at', ...Object.keys(PIPELINE_METRICS)];
/**
 * The event contract's fields a fixture call sets, under their names in the contract
 * (`src/event/types.ts`, `event.schema.json`): the call's own and its usage's; `feature` is
 * its `tags.feature` and `cost_usd` its price.
 */
export const FIXTURE_CALL_FIELDS = ['model', 'status', 'error_type', 'http_status', 'stop_reason', 'duration_ms', 'ttft_ms', 'attempts', 'rate_limits'] as const satisfies readonly (keyof CallEvent)[];
export const FIXTURE_USAGE_FIELDS = ['input_tokens', 'output_tokens'] as const satisfies readonly (keyof Usage)[];
const FIXTURE_KEYS = ['at', 'until', 'count', ...FIXTURE_CALL_FIELDS, ...FIXTURE_USAGE_FIELDS, 'feature', 'cost_usd'];
const RATE_LIMIT_DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens'];

let contractFields: Set<string> | undefined;
/** The call and usage fields of the event contract's JSON schema. */
function callContractFields(): Set<string> {
  if (contractFields === undefined) {
    const schema = JSON.parse(readFileSync(new URL('../event/event.schema.json', import.meta.url), 'utf8')) as { $defs: Record<string, { properties?: Record<string, unknown> }> };
    contractFields = new Set([...Object.keys(schema.$defs['call']?.properties ?? {}), ...Object.keys(schema.$defs['usage']?.properties ?? {})]);
  }
  return contractFields;
}

/**
 * Parses and validates a rule test file and loads its rule files, as rule files are checked:
 * an unknown key, a fixture call field the event contract does not have (or fixtures do not
 * set), a value of the wrong type, and an expected alert that no loaded rule defines are
 * refused with file, line and field. Throws {@link RuleFileError} listing every problem (those
 * of the rule files too).
 */
export function loadRuleTestFile(text: string, file: string): { doc: TestFile; rules: Rule[]; lineOf: (path: Path) => number } {
  const { ctx, root } = parseYamlFile(text, file);
  if (!isRecord(root)) {
    ctx.fail([], 'a rules test file is a mapping with rule_files and tests');
    throw new RuleFileError(ctx.problems);
  }
  checkKeys(ctx, [], root, FILE_KEYS, 'a rules test file');
  const top = new Fields(ctx, [], root);
  const ruleFileNames = top.strList('rule_files', true) ?? [];
  if (isRecord(root['budgets'])) {
    const b = root['budgets'];
    checkKeys(ctx, ['budgets'], b, BUDGET_KEYS, 'budgets');
    checkUsd(ctx, ['budgets'], b);
    if (b['timeZone'] !== undefined) new Fields(ctx, ['budgets'], b).str('timeZone');
    if (b['features'] !== undefined && b['features'] !== null) {
      if (!isRecord(b['features'])) ctx.fail(['budgets', 'features'], 'must be a mapping of feature to { daily, monthly }');
      else for (const [name, fb] of Object.entries(b['features'])) {
        const at: Path = ['budgets', 'features', name];
        if (!isRecord(fb)) { ctx.fail(at, 'must be a mapping such as { daily: 5 }'); continue; }
        checkKeys(ctx, at, fb, ['daily', 'monthly'], 'a feature budget');
        checkUsd(ctx, at, fb);
      }
    }
  } else if (root['budgets'] !== undefined && root['budgets'] !== null) ctx.fail(['budgets'], 'must be a mapping such as { daily: 10, monthly: 200 }');
  const expected: { at: Path; name: string }[] = [];
  forEachMapping(ctx, [], root, 'tests', 'a test', (at, tc) => {
    checkKeys(ctx, at, tc, TEST_KEYS, 'a test');
    const f = new Fields(ctx, at, tc);
    f.str('name');
    const start = f.str('start');
    if (start !== undefined && typeof parseIsoTime(start) !== 'number') ctx.fail([...at, 'start'], `must be an ISO time with its zone, such as 2026-01-15T12:00:00Z (got ${JSON.stringify(start)})`);
    checkEvalInterval(ctx, at, tc);
    forEachMapping(ctx, at, tc, 'calls', 'a call', (cat, c) => checkFixture(ctx, cat, c));
    forEachMapping(ctx, at, tc, 'health', 'a health sample', (hat, h) => {
      checkKeys(ctx, hat, h, HEALTH_KEYS, 'a health sample');
      checkOffset(ctx, hat, h, 'at', true);
      const hf = new Fields(ctx, hat, h);
      for (const m of Object.keys(PIPELINE_METRICS)) hf.num(m);
    });
    forEachMapping(ctx, at, tc, 'alerts', 'an expected alert', (eat, e) => {
      checkKeys(ctx, eat, e, EXPECTED_KEYS, 'an expected alert');
      const ef = new Fields(ctx, eat, e);
      if (e['eval_time'] === undefined || e['eval_time'] === null) ctx.fail([...eat, 'eval_time'], 'is required');
      else checkOffset(ctx, eat, e, 'eval_time', true);
      const name = ef.str('alertname', true);
      if (name !== undefined) expected.push({ at: [...eat, 'alertname'], name });
      forEachMapping(ctx, eat, e, 'exp_alerts', 'an expected firing alert', (xat, x) => {
        checkKeys(ctx, xat, x, EXP_ALERT_KEYS, 'an expected firing alert');
        const xf = new Fields(ctx, xat, x);
        xf.stringMap('exp_labels', true);
        xf.stringMap('exp_annotations', false);
      });
    });
  });
  let rules: Rule[] = [];
  const ruleProblems: RuleProblem[] = [];
  if (ruleFileNames.length > 0) {
    try {
      rules = loadRules(ruleFileNames.map((f) => resolve(dirname(file), f)));
    } catch (err: unknown) {
      if (!(err instanceof RuleFileError)) throw err;
      ruleProblems.push(...err.problems);
    }
    // Only against rule files that loaded: a refused rule file names its own problems.
    if (ruleProblems.length === 0) {
      const defined = new Set(rules.map((r) => r.name));
      for (const { at, name } of expected) if (!defined.has(name)) ctx.fail(at, `no rule in rule_files defines alert ${name}`);
    }
  }
  if (ctx.problems.length > 0 || ruleProblems.length > 0) throw new RuleFileError([...ctx.problems, ...ruleProblems]);
  return { doc: root as TestFile, rules, lineOf: (path) => ctx.lineOf(path) };
}

/** Calls `each` with every item of the list `raw[key]` (optional), after checking each is a mapping. */
function forEachMapping(ctx: Ctx, at: Path, raw: Record<string, unknown>, key: string, what: string, each: (at: Path, item: Record<string, unknown>) => void): void {
  const list = raw[key];
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) {
    ctx.fail([...at, key], `must be a list of ${what.replace(/^an? /, '')} mappings`);
    return;
  }
  list.forEach((item: unknown, i) => {
    if (isRecord(item)) each([...at, key, i], item);
    else ctx.fail([...at, key, i], `${what} is a mapping`);
  });
}

function checkUsd(ctx: Ctx, at: Path, raw: Record<string, unknown>): void {
  const f = new Fields(ctx, at, raw);
  for (const k of ['daily', 'monthly']) {
    const v = f.num(k);
    if (v !== undefined && v < 0) ctx.fail([...at, k], 'must be a number of USD ≥ 0');
  }
}

/** An offset such as `-5m` or `90s` (negative only when `signed`); true when one is set and valid. */
function checkOffset(ctx: Ctx, at: Path, raw: Record<string, unknown>, key: string, signed: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return false;
  const s = typeof v === 'string' || typeof v === 'number' ? String(v).trim() : '';
  const neg = signed && s.startsWith('-');
  if (parseDuration(neg ? s.slice(1) : s) !== null) return true;
  ctx.fail([...at, key], `must be a duration such as ${signed ? '-5m, 0m, 90s' : '30s, 1m'} (got ${JSON.stringify(v)})`);
  return false;
}

/**
 * The test's step between evaluations: at least a second, the step it runs at (a zero one would
 * never advance, and one below a second was silently taken as a second).
 */
function checkEvalInterval(ctx: Ctx, at: Path, tc: Record<string, unknown>): void {
  if (!checkOffset(ctx, at, tc, 'eval_interval', false)) return;
  const ms = parseDuration(String(tc['eval_interval']).trim());
  if (ms !== null && ms < MIN_EVAL_INTERVAL_MS) ctx.fail([...at, 'eval_interval'], `must be at least 1s (got ${JSON.stringify(tc['eval_interval'])})`);
}

/** A fixture call: its fields are the event contract's (those fixtures set), each of its type. */
function checkFixture(ctx: Ctx, at: Path, c: Record<string, unknown>): void {
  for (const key of Object.keys(c)) {
    if (FIXTURE_KEYS.includes(key)) continue;
    ctx.fail([...at, key], callContractFields().has(key)
      ? `a call field fixtures do not set (they set ${FIXTURE_KEYS.join(', ')})`
      : `unknown field: no such call field in the event contract (fixture calls take ${FIXTURE_KEYS.join(', ')})`);
  }
  checkOffset(ctx, at, c, 'at', true);
  checkOffset(ctx, at, c, 'until', true);
  const f = new Fields(ctx, at, c);
  f.int('count');
  for (const k of ['model', 'feature', 'error_type', 'stop_reason']) f.str(k);
  f.oneOf('status', ['ok', 'error', 'aborted']);
  for (const k of ['http_status', 'attempts', 'input_tokens', 'output_tokens']) f.int(k);
  for (const k of ['duration_ms', 'ttft_ms', 'cost_usd']) {
    // cost_usd: null is an unpriced call.
    const v = f.num(k);
    if (v !== undefined && v < 0) ctx.fail([...at, k], 'must be a number ≥ 0');
  }
  const rl = c['rate_limits'];
  if (rl === undefined || rl === null) return;
  if (!isRecord(rl)) {
    ctx.fail([...at, 'rate_limits'], 'must be a mapping such as { requests: { limit: 50, remaining: 2 } }');
    return;
  }
  checkKeys(ctx, [...at, 'rate_limits'], rl, RATE_LIMIT_DIMENSIONS, 'rate_limits');
  for (const d of RATE_LIMIT_DIMENSIONS) {
    const b = rl[d];
    if (b === undefined) continue;
    const bat: Path = [...at, 'rate_limits', d];
    if (!isRecord(b)) {
      ctx.fail(bat, 'must be a mapping { limit, remaining }');
      continue;
    }
    checkKeys(ctx, bat, b, ['limit', 'remaining'], 'a rate-limit bucket');
    const bf = new Fields(ctx, bat, b);
    for (const k of ['limit', 'remaining']) {
      if (b[k] === undefined || b[k] === null) ctx.fail([...bat, k], 'is required');
      else bf.int(k);
    }
  }
}

async function runOne(tc: TestCase, index: number, rules: Rule[], budgets: Budgets, lineOf: (path: Path) => number): Promise<RuleTestOutcome> {
  const name = tc.name ?? `tests[${index}]`;
  const line = lineOf(['tests', index]);
  const failures: RuleTestFailure[] = [];
  const startAt = tc.start !== undefined ? parseIsoTime(tc.start) : DEFAULT_START;
  const start = typeof startAt === 'number' ? startAt : DEFAULT_START;
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
      const expects = (tc.alerts ?? []).map((e, j) => ({ ...e, at: start + offset(e.eval_time, 'eval_time'), path: ['tests', index, 'alerts', j] }));
      const last = Math.max(start, ...expects.map((e) => e.at));
      const times = new Set<number>();
      for (let x = Math.min(start, ...expects.map((e) => e.at)); x <= last; x += interval) times.add(x);
      for (const e of expects) times.add(e.at);
      for (const at of [...times].sort((a, b) => a - b)) {
        now = at;
        await engine.evaluateOnce(at);
        for (const e of expects.filter((x) => x.at === at)) {
          // As written (`-5m`, or a YAML number such as 0).
          const evalTime = String(e.eval_time);
          const got = engine.alerts(at).filter((a) => a.name === e.alertname && a.state === 'firing');
          const want = e.exp_alerts ?? [];
          const gotLabels = got.map((a) => withoutAlertname(a.labels));
          const wantLabels = want.map((w) => stringify(w.exp_labels ?? {}));
          // Compared with the alertname, as an exp_labels naming one is.
          const keyOf = (l: AlertLabels): string => labelKey({ alertname: e.alertname, ...l });
          const gotKeys = gotLabels.map(keyOf);
          const wantKeys = wantLabels.map(keyOf);
          if (wantKeys.some((k) => !gotKeys.includes(k)) || gotKeys.some((k) => !wantKeys.includes(k))) {
            failures.push({ kind: 'firing', line: lineOf(e.path), eval_time: evalTime, alertname: e.alertname, expected: wantLabels.map(sorted), got: gotLabels.map(sorted) });
            continue;
          }
          for (const [k, w] of want.entries()) {
            const labels = stringify(w.exp_labels ?? {});
            const a = got.find((g) => labelKey(g.labels) === keyOf(labels));
            for (const [key, v] of Object.entries(w.exp_annotations ?? {})) {
              if (a?.annotations[key] === v) continue;
              failures.push({
                kind: 'annotation', line: lineOf([...e.path, 'exp_alerts', k, 'exp_annotations', key]), eval_time: evalTime, alertname: e.alertname,
                labels: sorted(labels), annotation: key, expected: v, got: a?.annotations[key] ?? null,
              });
            }
          }
        }
      }
    } finally {
      await engine.stop();
    }
  } catch (err: unknown) {
    failures.push({ kind: 'error', line, message: err instanceof Error ? err.message : String(err) });
  } finally {
    store.close();
  }
  return { name, line, failures };
}

/** A firing alert's labels without its alertname (the expectation names it once). */
function withoutAlertname(labels: Record<string, string>): AlertLabels {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k !== 'alertname'));
}

/** The same labels, keys in order, so a JSON consumer sees them alike each time. */
function sorted(labels: AlertLabels): AlertLabels {
  return Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]!]));
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
