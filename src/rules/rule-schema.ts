/**
 * Parsing and validation of rule files. Every problem is reported with its file, line and
 * field (`rules/errors.yaml:12: rules[0].threshold: must be a number`), all problems of a
 * file at once, so `claudescope rules check` and the daemon's start name them precisely.
 *
 * ```yaml
 * rules:
 *   - alert: ClaudeHighErrorRate
 *     kind: error_rate
 *     window: 5m
 *     min_calls: 20
 *     threshold: 5%
 *     group_by: [model]
 * ```
 */
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { Aggregate, CallDimension, CallField, CallFilter } from '../store/types.js';
import { parseDuration } from './duration.js';
import { compileTemplate, TemplateError } from './template.js';
import { PIPELINE_METRICS, RULE_KINDS, type Comparison, type PipelineMetric, type Rule, type RuleCommon, type Severity } from './rule-types.js';

export const DIMENSIONS: readonly CallDimension[] = ['model', 'feature', 'app', 'host', 'status', 'error_type', 'stop_reason', 'service_tier', 'provider', 'operation'];
const FIELDS: readonly CallField[] = ['cost_usd', 'cost_without_cache_usd', 'input_tokens', 'output_tokens', 'cache_read_input_tokens',
  'cache_write_5m_input_tokens', 'cache_write_1h_input_tokens', 'cache_write_input_tokens', 'duration_ms', 'ttft_ms', 'attempts', 'retries'];
const COMMON_KEYS = ['alert', 'kind', 'window', 'min_calls', 'filter', 'group_by', 'for', 'keep_firing_for', 'severity', 'labels', 'annotations', 'op', 'threshold', 'repeat_interval'];
/** Kinds whose value is a ratio (0..1), so is their threshold. */
const RATIO_THRESHOLD_KINDS = new Set<Rule['kind']>(['error_rate', 'stop_reason_share', 'rate_limit_headroom']);
const KIND_KEYS: Record<Rule['kind'], string[]> = {
  error_rate: ['error_types'],
  latency: ['field', 'percentile'],
  budget: ['period', 'check', 'scope', 'burn_window'],
  rate_limit_headroom: ['dimensions'],
  spike: ['measure', 'baseline', 'baseline_stat'],
  stop_reason_share: ['stop_reasons'],
  pipeline_health: ['metric'],
  threshold: ['value', 'per', 'per_minute'],
  reconciliation_capture: ['measure', 'max_age'],
};
/**
 * Common fields a kind has no use for, and why: set, they would be silently ignored (or, as
 * `min_calls` on values that count no calls, keep the rule from ever firing).
 */
const IGNORED_KEYS: Partial<Record<Rule['kind'], Record<string, string>>> = {
  budget: { window: 'a budget covers its period (and burn_window)', group_by: 'use scope: feature' },
  rate_limit_headroom: { group_by: 'it is per model and dimension' },
  pipeline_health: { filter: 'it reads the pipeline, not calls', group_by: 'it reads the pipeline, not calls', min_calls: 'it counts no calls, so it would never fire' },
  reconciliation_capture: { window: 'use max_age', group_by: 'it is per model', min_calls: 'it counts no calls, so it would never fire' },
};
/** The keys of an aggregate (`value:`, `per:`, `measure:`) by its op. */
const AGGREGATE_KEYS: Record<Aggregate['op'], readonly string[]> = {
  count: ['op'],
  unpriced_count: ['op'],
  count_where: ['op', 'filter'],
  sum: ['op', 'field'],
  percentile: ['op', 'field', 'p'],
};
const ALERT_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One validation problem, located. */
export interface RuleProblem {
  file: string;
  line: number;
  field: string;
  message: string;
}

/** Thrown when a rule file is refused; `problems` lists every problem found. */
export class RuleFileError extends Error {
  readonly code = 'E_RULE_INVALID';
  constructor(readonly problems: RuleProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'RuleFileError';
  }
}

export function formatProblem(p: RuleProblem): string {
  return `${p.file}:${p.line}: ${p.field}: ${p.message}`;
}

export type Path = (string | number)[];

/** Where the problems of one YAML file go, each located by its field's line. */
export class Ctx {
  readonly problems: RuleProblem[] = [];
  constructor(readonly file: string, private readonly doc: Document, private readonly lines: LineCounter) {}
  fail(path: Path, message: string): void {
    this.problems.push({ file: this.file, line: this.lineOf(path), field: fieldName(path), message });
  }
  lineOf(path: Path): number {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }
}

function fieldName(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s === '' ? '(file)' : s;
}

/**
 * Parses a YAML file of this folder's formats (rule files, rule test files) keeping each
 * node's line; throws {@link RuleFileError} on a syntax error (or a duplicate key).
 */
export function parseYamlFile(text: string, file: string): { ctx: Ctx; root: unknown } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RuleFileError(doc.errors.map((e) => ({ file, line: e.linePos?.[0]?.line ?? 1, field: '(yaml)', message: e.message.split('\n')[0] ?? e.message })));
  }
  return { ctx: new Ctx(file, doc, lines), root: doc.toJS() as unknown };
}

/**
 * Records every key of the mapping `raw` (at `at`) that is not in `allowed`: a misspelt key
 * must not pass silently. `what` names the mapping in the message, which lists the keys it takes.
 */
export function checkKeys(ctx: Ctx, at: Path, raw: Record<string, unknown>, allowed: readonly string[], what: string, hints: Record<string, string> = {}): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) ctx.fail([...at, key], `unknown field (${what} takes ${allowed.join(', ')})${hints[key] !== undefined ? `: ${hints[key]}` : ''}`);
  }
}

/** Parses one rule file's text; throws {@link RuleFileError} with every problem found. */
export function parseRuleFile(text: string, file: string): Rule[] {
  const { ctx, root } = parseYamlFile(text, file);
  const rules: Rule[] = [];
  if (!isRecord(root)) {
    ctx.fail([], 'a rule file is a mapping with a `rules:` list');
  } else {
    for (const k of Object.keys(root)) if (k !== 'rules') ctx.fail([k], 'unknown key (a rule file holds `rules:`)');
    const list = root['rules'];
    if (!Array.isArray(list)) ctx.fail(['rules'], 'must be a list of rules');
    else list.forEach((r: unknown, i) => {
      const rule = parseRule(ctx, ['rules', i], r);
      if (rule) rules.push(rule);
    });
  }
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    if (seen.has(r.name)) ctx.fail(['rules', i, 'alert'], `duplicate alert name ${r.name} (also rules[${seen.get(r.name)}])`);
    seen.set(r.name, i);
  });
  if (ctx.problems.length > 0) throw new RuleFileError(ctx.problems);
  return rules;
}

function parseRule(ctx: Ctx, at: Path, raw: unknown): Rule | null {
  if (!isRecord(raw)) {
    ctx.fail(at, 'a rule is a mapping');
    return null;
  }
  const before = ctx.problems.length;
  const kind = raw['kind'];
  if (typeof kind !== 'string' || !(RULE_KINDS as readonly string[]).includes(kind)) {
    ctx.fail([...at, 'kind'], `must be one of ${RULE_KINDS.join(', ')}`);
    return null;
  }
  const k = kind as Rule['kind'];
  const allowed = new Set([...COMMON_KEYS, ...KIND_KEYS[k]]);
  for (const key of Object.keys(raw)) {
    const ignored = IGNORED_KEYS[k]?.[key];
    if (ignored !== undefined) ctx.fail([...at, key], `not used by kind ${k}: ${ignored}`);
    else if (!allowed.has(key)) ctx.fail([...at, key], `unknown field for kind ${k}`);
  }
  const f = new Fields(ctx, at, raw);
  const name = f.str('alert', true) ?? '';
  if (name !== '' && !ALERT_NAME_RE.test(name)) ctx.fail([...at, 'alert'], 'must be an identifier (CamelCase by convention)');
  const ratioKind = k === 'error_rate' || k === 'stop_reason_share';
  const common: RuleCommon = {
    name,
    windowMs: f.duration('window') ?? 300_000,
    minCalls: f.int('min_calls') ?? (ratioKind ? 1 : 0),
    filter: f.filter('filter') ?? {},
    groupBy: f.dims('group_by') ?? [],
    forMs: f.duration('for') ?? 0,
    keepFiringForMs: f.duration('keep_firing_for') ?? 0,
    severity: f.oneOf<Severity>('severity', ['critical', 'warning', 'info']) ?? 'warning',
    labels: f.stringMap('labels', true) ?? {},
    annotations: f.stringMap('annotations', false) ?? {},
    comparison: f.oneOf<Comparison>('op', ['>', '>=', '<', '<=']) ?? (k === 'rate_limit_headroom' || k === 'reconciliation_capture' ? '<' : '>'),
    threshold: f.threshold('threshold', k === 'latency') ?? 0,
    repeatIntervalMs: f.duration('repeat_interval') ?? null,
    source: { file: ctx.file, line: ctx.lineOf(at) },
  };
  if (common.windowMs <= 0) ctx.fail([...at, 'window'], 'must be longer than 0');
  for (const key of Object.keys(common.labels)) if (!LABEL_NAME_RE.test(key)) ctx.fail([...at, 'labels', key], 'label names are identifiers');
  let rule: Rule;
  switch (k) {
    case 'error_rate':
      rule = { ...common, kind: k, errorTypes: f.strList('error_types') ?? [] };
      break;
    case 'latency': {
      const pct = f.num('percentile') ?? 99;
      if (!(pct > 0 && pct <= 100)) ctx.fail([...at, 'percentile'], 'must be in (0, 100]');
      const field = f.oneOf('field', ['duration', 'ttft']) ?? 'duration';
      rule = { ...common, kind: k, percentile: pct, field: field === 'ttft' ? 'ttft_ms' : 'duration_ms' };
      break;
    }
    case 'budget':
      rule = {
        ...common, kind: k,
        period: f.oneOf('period', ['day', 'month']) ?? 'day',
        check: f.oneOf('check', ['share', 'projected']) ?? 'share',
        scope: f.oneOf('scope', ['total', 'feature']) ?? 'total',
        burnWindowMs: f.duration('burn_window') ?? 3_600_000,
      };
      break;
    case 'rate_limit_headroom': {
      const dims = f.strList('dimensions') ?? ['requests', 'tokens', 'input_tokens', 'output_tokens'];
      const ok = ['requests', 'tokens', 'input_tokens', 'output_tokens'];
      for (const d of dims) if (!ok.includes(d)) ctx.fail([...at, 'dimensions'], `unknown dimension ${d} (one of ${ok.join(', ')})`);
      rule = { ...common, kind: k, dimensions: dims as ('requests' | 'tokens' | 'input_tokens' | 'output_tokens')[] };
      break;
    }
    case 'spike': {
      const measure = f.aggregate('measure', true) ?? { op: 'count' };
      if (measure.op !== 'count' && measure.op !== 'sum' && measure.op !== 'count_where') ctx.fail([...at, 'measure', 'op'], 'a spike measures count, count_where or sum');
      rule = {
        ...common, kind: k, measure: measure as Aggregate & { op: 'count' | 'sum' | 'count_where' },
        baselineMs: f.duration('baseline') ?? 3_600_000,
        baselineStat: f.oneOf('baseline_stat', ['median', 'mean']) ?? 'median',
      };
      break;
    }
    case 'stop_reason_share':
      rule = { ...common, kind: k, stopReasons: f.strList('stop_reasons', true) ?? [] };
      break;
    case 'pipeline_health':
      rule = { ...common, kind: k, metric: f.oneOf<PipelineMetric>('metric', Object.keys(PIPELINE_METRICS) as PipelineMetric[], true) ?? 'tail_lag_bytes' };
      break;
    case 'threshold':
      rule = { ...common, kind: k, value: f.aggregate('value', true) ?? { op: 'count' }, per: f.aggregate('per', false), perMinute: f.bool('per_minute') ?? false };
      break;
    case 'reconciliation_capture':
      rule = { ...common, kind: k, measure: f.oneOf('measure', ['tokens', 'cost']) ?? 'tokens', maxAgeMs: f.duration('max_age') ?? 3 * 86_400_000 };
      break;
    default: {
      const never: never = k;
      throw new Error(`unhandled kind ${String(never)}`);
    }
  }
  if (raw['threshold'] === undefined || raw['threshold'] === null) ctx.fail([...at, 'threshold'], 'is required');
  else if (RATIO_THRESHOLD_KINDS.has(k) && !(rule.threshold >= 0 && rule.threshold <= 1)) {
    // A ratio never passes 1: `threshold: 5` meant 5 % and would never fire (or, as headroom, always).
    ctx.fail([...at, 'threshold'], `is a ratio for kind ${k}: between 0 and 1, or a percentage such as 5%`);
  }
  for (const [group, map] of [['labels', rule.labels], ['annotations', rule.annotations]] as const) {
    for (const [key, tpl] of Object.entries(map)) {
      try {
        compileTemplate(tpl);
      } catch (err: unknown) {
        ctx.fail([...at, group, key], err instanceof TemplateError ? err.message : String(err));
        continue;
      }
      // Labels name the alert: one that changes at each evaluation would never last through `for`.
      if (group === 'labels' && /\$value\b|\.Value\b/.test(tpl)) ctx.fail([...at, group, key], 'labels must not use $value (it changes at each evaluation, so the alert would start over each time); use it in an annotation');
    }
  }
  return ctx.problems.length > before ? null : rule;
}

/** Typed readers of a mapping's fields (a rule's, a rule test's) that record problems instead of throwing. */
export class Fields {
  constructor(private readonly ctx: Ctx, private readonly at: Path, private readonly raw: Record<string, unknown>) {}
  private get(key: string, required: boolean): unknown {
    const v = this.raw[key];
    if ((v === undefined || v === null) && required) this.ctx.fail([...this.at, key], 'is required');
    return v === null ? undefined : v;
  }
  private bad(key: string, msg: string, sub: Path = []): undefined {
    this.ctx.fail([...this.at, key, ...sub], msg);
    return undefined;
  }
  str(key: string, required = false): string | undefined {
    const v = this.get(key, required);
    if (v === undefined) return undefined;
    return typeof v === 'string' && v !== '' ? v : this.bad(key, 'must be a non-empty string');
  }
  bool(key: string): boolean | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    return typeof v === 'boolean' ? v : this.bad(key, 'must be true or false');
  }
  num(key: string): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : this.bad(key, 'must be a number');
  }
  int(key: string): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : this.bad(key, 'must be a whole number ≥ 0');
  }
  duration(key: string): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    const ms = typeof v === 'string' ? parseDuration(v) : null;
    return ms ?? this.bad(key, `must be a duration such as 30s, 5m, 1h (got ${JSON.stringify(v)})`);
  }
  /** A number, a percentage (`5%`), or for latency a duration (`10s`, kept in seconds). */
  threshold(key: string, seconds: boolean): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string') {
      const pct = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(v.trim());
      if (pct && !seconds) return Number(pct[1]) / 100;
      const ms = seconds ? parseDuration(v) : null;
      if (ms !== null) return ms / 1000;
    }
    return this.bad(key, seconds ? 'must be a number of seconds or a duration such as 10s' : 'must be a number or a percentage such as 5%');
  }
  oneOf<T extends string>(key: string, values: readonly T[], required = false): T | undefined {
    const v = this.get(key, required);
    if (v === undefined) return undefined;
    return typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : this.bad(key, `must be one of ${values.join(', ')}`);
  }
  strList(key: string, required = false): string[] | undefined {
    const v = this.get(key, required);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [v];
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') ? (v as string[]) : this.bad(key, 'must be a non-empty list of strings');
  }
  dims(key: string): CallDimension[] | undefined {
    const list = this.strList(key);
    if (!list) return undefined;
    for (const d of list) if (!(DIMENSIONS as readonly string[]).includes(d)) return this.bad(key, `unknown dimension ${d} (one of ${DIMENSIONS.join(', ')})`);
    return list as CallDimension[];
  }
  stringMap(key: string, plainValues: boolean): Record<string, string> | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (!isRecord(v)) return this.bad(key, 'must be a mapping of names to strings');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' || (plainValues && (typeof x === 'number' || typeof x === 'boolean'))) out[k] = String(x);
      else this.bad(key, 'must be a string', [k]);
    }
    return out;
  }
  filter(key: string): CallFilter | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    return this.filterValue(v, [key]);
  }
  private filterValue(v: unknown, path: Path): CallFilter | undefined {
    const [key, ...sub] = path as [string, ...Path];
    if (!isRecord(v)) return this.bad(key, 'must be a mapping of dimension to value or list of values', sub);
    const out: CallFilter = {};
    for (const [d, x] of Object.entries(v)) {
      if (!(DIMENSIONS as readonly string[]).includes(d)) return this.bad(key, `unknown dimension ${d} (one of ${DIMENSIONS.join(', ')})`, [...sub, d]);
      if (typeof x === 'string') out[d as CallDimension] = x;
      else if (Array.isArray(x) && x.every((y) => typeof y === 'string')) out[d as CallDimension] = x as string[];
      else return this.bad(key, 'must be a string or a list of strings', [...sub, d]);
    }
    return out;
  }
  aggregate(key: string, required: boolean): Aggregate | null {
    const v = this.get(key, required);
    if (v === undefined) return null;
    if (!isRecord(v)) return this.bad(key, 'must be an aggregate such as {op: sum, field: output_tokens}') ?? null;
    const op = v['op'];
    // A key the op has no use for would be ignored: `percentile: 99` (as the latency kind
    // spells it) for `p: 99`, or a misspelt `feild`.
    if (typeof op === 'string' && Object.hasOwn(AGGREGATE_KEYS, op)) {
      checkKeys(this.ctx, [...this.at, key], v, AGGREGATE_KEYS[op as Aggregate['op']], `${key} with op ${op}`, op === 'percentile' ? { percentile: 'the percentile is p, such as p: 99' } : {});
    }
    switch (op) {
      case 'count': return { op };
      case 'unpriced_count': return { op };
      case 'count_where': {
        const filter = this.filterValue(v['filter'], [key, 'filter']);
        return filter ? { op, filter } : null;
      }
      case 'sum': {
        const field = v['field'];
        if (typeof field !== 'string' || !(FIELDS as readonly string[]).includes(field)) return this.bad(key, `must be one of ${FIELDS.join(', ')}`, ['field']) ?? null;
        return { op, field: field as CallField };
      }
      case 'percentile': {
        const field = v['field'];
        const p = v['p'];
        if (field !== 'duration_ms' && field !== 'ttft_ms') return this.bad(key, 'must be duration_ms or ttft_ms', ['field']) ?? null;
        if (typeof p !== 'number' || !(p > 0 && p <= 100)) return this.bad(key, 'must be a number in (0, 100]', ['p']) ?? null;
        return { op, field, p };
      }
      default:
        return this.bad(key, 'must be one of count, count_where, sum, percentile, unpriced_count', ['op']) ?? null;
    }
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
