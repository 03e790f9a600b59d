/**
 * The alert engine the daemon runs: rules evaluated on a cron schedule through the query
 * interface, alert state kept durably, notifications dispatched through notifiers.
 *
 * ```ts
 * const engine = createRuleEngine({ query: store, rulesDirs: ['rules'], notifiers, statePath: 'data/alerts.db', budgets: { daily: 50 } });
 * engine.start();           // every minute
 * …
 * await engine.stop();
 * ```
 *
 * A tick that starts while the previous one still runs is skipped (counted), never stacked.
 * Dispatch runs after the state is saved and never blocks the next evaluation: a notifier
 * that is down costs its own retries only.
 *
 * `stop()` ends an evaluation in progress at its next read, cancelling the read under way (an
 * InfluxDB that takes queries but does not answer would otherwise hold the stop for the query's
 * whole timeout). Such an evaluation is dropped: neither saved nor notified, since the rules it
 * did not finish would read as failed, and a partial answer must not resolve or fire anything.
 * Nor is it shown: an evaluation steps its alerts on a copy, which becomes what `alerts()` and
 * `metrics()` read once it is saved, so they show the last saved evaluation, never one in
 * progress or dropped. The next start evaluates every rule again.
 */
import cron from 'node-cron';
import { randomUUID } from 'node:crypto';
import type { Notifier } from '../notify/types.js';
import type { NotifierCounters, RetryOptions } from '../notify/retry.js';
import type { PipelineHealth, QueryApi, QueryOptions } from '../store/types.js';
import { fingerprint, step } from './alert-state.js';
import { checkTimeZone } from './budget-period.js';
import { Dispatcher, type DispatchReport } from './dispatcher.js';
import { loadRules } from './rule-loader.js';
import { HealthHistory, compare, evaluateRule, formatRuleValue } from './rule-kinds.js';
import type { Budgets, Rule, RuleSample } from './rule-types.js';
import { silencedBy } from './silences.js';
import { StateDb, type AlertRecord, type AlertStateName, type Matcher, type Silence } from './state-db.js';
import { compileTemplate } from './template.js';

export interface RuleEngineOptions {
  query: QueryApi;
  /** Folders (their `*.yaml`) and files of rules. Either this or `rules`. */
  rulesDirs?: string[];
  rules?: Rule[];
  notifiers?: Notifier[];
  /** State file (alerts, notification log, silences). Default `:memory:` (nothing survives). */
  statePath?: string;
  /** An already open state; wins over `statePath`. */
  stateDb?: StateDb;
  budgets?: Budgets;
  /** Default `() => Date.now()`. */
  clock?: () => number;
  /** node-cron expression. Default every minute at second 0 (`0 * * * * *`). */
  schedule?: string;
  /** Pipeline health for `pipeline_health` rules; default `query.pipelineHealth`. Reads with `o` (its signal: a stop). */
  health?: (o: QueryOptions) => Promise<PipelineHealth> | PipelineHealth;
  retry?: RetryOptions;
  /** Told about failures (rule errors, delivery failures), already redacted. Default: nothing. */
  onError?: (message: string) => void;
  /** Told about what is no failure but worth a line (an evaluation a stop ended). Default: nothing. */
  onInfo?: (message: string) => void;
}

export interface AlertView {
  name: string;
  state: AlertStateName;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | null;
  activeAt: number;
  firedAt: number | null;
  resolvedAt: number | null;
  /** Id of the silence holding it back, if any. */
  silencedBy: string | null;
}

export interface RuleResult {
  rule: string;
  kind: Rule['kind'];
  /** Null when the rule failed to evaluate. */
  samples: (RuleSample & { active: boolean; state: AlertStateName | 'inactive' })[];
  error: string | null;
}

export interface EvaluationResult {
  at: number;
  durationMs: number;
  rules: RuleResult[];
  dispatch: DispatchReport | null;
}

export interface RuleEngineMetrics {
  evaluations: number;
  ruleFailures: number;
  skippedTicks: number;
  lastEvaluationMs: number;
  alertsPending: number;
  alertsFiring: number;
  notifications: Record<string, NotifierCounters>;
}

export interface RuleEngine {
  readonly rules: readonly Rule[];
  start(): void;
  stop(): Promise<void>;
  /** One evaluation at `now` (default the clock), then its dispatch, awaited. */
  evaluateOnce(now?: number): Promise<EvaluationResult>;
  alerts(now?: number): AlertView[];
  /** What the cron runs: evaluate now unless a tick is still running (then skip, counted); dispatch in the background. */
  tick(): Promise<void>;
  metrics(): RuleEngineMetrics;
  /** Each rule's outcome at the last evaluation (empty before the first): for dashboards. */
  lastResults(): { at: number | null; rules: RuleResult[] };
  addSilence(matchers: Matcher[], opts: { durationMs: number; createdBy?: string; comment?: string; startsAt?: number }): Silence;
  silences(): Silence[];
  expireSilence(id: string): boolean;
}

/** An evaluation the engine's stop ended: dropped, neither saved nor notified. */
export class EvaluationStoppedError extends Error {
  readonly code = 'E_RULES_STOPPED';
  constructor(readonly at: string) {
    super(`the alert engine stopped during the evaluation (at ${at}): nothing of it was saved or notified; the next start evaluates every rule again`);
    this.name = 'EvaluationStoppedError';
  }
}

/** Builds the engine; loads and validates every rule now (throws RuleFileError on a bad file). */
export function createRuleEngine(opts: RuleEngineOptions): RuleEngine {
  const rules = opts.rules ?? loadRules(opts.rulesDirs ?? []);
  const budgets = opts.budgets ?? {};
  if (budgets.timeZone !== undefined) checkTimeZone(budgets.timeZone);
  const clock = opts.clock ?? (() => Date.now());
  const ownState = opts.stateDb === undefined;
  const state = opts.stateDb ?? StateDb.open(opts.statePath ?? ':memory:');
  const rulesByName = new Map(rules.map((r) => [r.name, r]));
  const dispatcher = new Dispatcher(opts.notifiers ?? [], state, opts.retry, (a) => {
    const rule = rulesByName.get(a.rule);
    return rule === undefined ? undefined : formatRuleValue(rule, a.value);
  });
  const onError = opts.onError ?? (() => {});
  const onInfo = opts.onInfo ?? (() => {});
  /** Aborted by stop(): ends the reads of an evaluation in progress. */
  const stopping = new AbortController();
  const read: QueryOptions = { signal: stopping.signal };
  const maxWindow = Math.max(3_600_000, ...rules.map((r) => r.windowMs));
  const health = new HealthHistory(maxWindow * 2);
  const healthSource = opts.health ?? (opts.query.pipelineHealth ? (o: QueryOptions) => opts.query.pipelineHealth!(o) : null);
  const templates = new Map(rules.map((r) => [r.name, {
    labels: Object.entries(r.labels).map(([k, v]) => [k, compileTemplate(v)] as const),
    annotations: Object.entries(r.annotations).map(([k, v]) => [k, compileTemplate(v)] as const),
  }]));
  /** The alerts as last saved: what `alerts()`, `metrics()` and the dispatch read. */
  let alertsByFp = new Map<string, AlertRecord>(state.loadAlerts().map((a) => [a.fingerprint, a]));
  /** Pending alerts read back from the state (a restart), not yet evaluated since: see `step`'s `restored`. */
  const restoredPending = new Set([...alertsByFp.values()].filter((a) => a.state === 'pending').map((a) => a.fingerprint));
  const m = { evaluations: 0, ruleFailures: 0, skippedTicks: 0, lastEvaluationMs: 0 };
  let task: ReturnType<typeof cron.schedule> | null = null;
  let evaluating: Promise<unknown> | null = null;
  /** Dispatches still delivering (each notifier delivers one at a time: see Dispatcher). */
  const dispatching = new Set<Promise<unknown>>();
  let last: { at: number | null; rules: RuleResult[] } = { at: null, rules: [] };

  async function evaluate(now: number): Promise<{ results: RuleResult[]; started: number }> {
    const started = performance.now();
    // Checked after every read, answered or failed: once stopping, a failure is the read the
    // stop cancelled (no rule failure to report), and what was read so far is dropped. The
    // alerts stepped in memory meanwhile are not saved, and the engine evaluates no more.
    const ifStopped = (at: string): void => {
      if (stopping.signal.aborted) throw new EvaluationStoppedError(at);
    };
    if (healthSource && rules.some((r) => r.kind === 'pipeline_health')) {
      try {
        health.record(now, await healthSource(read));
      } catch (err: unknown) {
        ifStopped('pipeline health');
        onError(`pipeline health: ${err instanceof Error ? err.message : String(err)}`);
      }
      ifStopped('pipeline health');
    }
    const ctx = { query: opts.query, now, budgets, health, read };
    const results: RuleResult[] = [];
    const upserts: AlertRecord[] = [];
    const deletes: string[] = [];
    // Stepped on a copy, made the engine's once saved: an evaluation the stop drops (or whose
    // save fails) leaves the alerts as they were, and none in progress is shown half done.
    const alerts = new Map(alertsByFp);
    /** Restored pending alerts this evaluation observed (see `restoredPending`), forgotten once saved. */
    const observed = new Set<string>();
    for (const rule of rules) {
      let samples: RuleSample[];
      try {
        samples = await evaluateRule(rule, ctx);
      } catch (err: unknown) {
        ifStopped(`rule ${rule.name}`);
        m.ruleFailures++;
        const msg = err instanceof Error ? err.message : String(err);
        onError(`rule ${rule.name}: ${msg}`);
        results.push({ rule: rule.name, kind: rule.kind, samples: [], error: msg });
        continue; // its alerts keep their state until it evaluates again
      }
      ifStopped(`rule ${rule.name}`);
      const tpl = templates.get(rule.name);
      const seen = new Set<string>();
      const out: RuleResult['samples'] = [];
      for (const s of samples) {
        const active = s.forceActive === true || (s.value !== null && s.calls >= rule.minCalls && compare(s.value, rule.comparison, rule.threshold));
        const base: Record<string, string> = { alertname: rule.name, severity: rule.severity, ...s.labels };
        const data = { value: s.value, threshold: rule.threshold, labels: base };
        const labels = { ...base };
        for (const [k, f] of tpl?.labels ?? []) labels[k] = f(data);
        if (s.labels['severity'] !== undefined) labels['severity'] = s.labels['severity'];
        const annotations: Record<string, string> = {};
        for (const [k, f] of tpl?.annotations ?? []) annotations[k] = f({ ...data, labels });
        if (s.note !== undefined) annotations['note'] = s.note;
        const fp = fingerprint(labels);
        seen.add(fp);
        // Kept with the value, so what reads the state alone shows it as notifications do.
        const valueText = s.value === null ? null : formatRuleValue(rule, s.value);
        const restored = restoredPending.has(fp) && !observed.has(fp);
        if (restored) observed.add(fp);
        const next = step(alerts.get(fp), { active, value: s.value, valueText, labels, annotations }, rule.name, fp, rule, now, restored);
        apply(alerts, fp, next, upserts, deletes);
        out.push({ ...s, labels, active, state: next?.state ?? 'inactive' });
      }
      for (const [fp, a] of alerts) {
        if (a.rule !== rule.name || seen.has(fp)) continue;
        apply(alerts, fp, step(a, null, rule.name, fp, rule, now), upserts, deletes);
      }
      results.push({ rule: rule.name, kind: rule.kind, samples: out, error: null });
    }
    // Alerts of rules no longer loaded resolve.
    const names = new Set(rules.map((r) => r.name));
    for (const [fp, a] of alerts) {
      if (!names.has(a.rule)) apply(alerts, fp, step(a, null, a.rule, fp, { forMs: 0, keepFiringForMs: 0, repeatIntervalMs: null }, now), upserts, deletes);
    }
    state.saveAlerts(upserts, deletes);
    alertsByFp = alerts;
    for (const fp of observed) restoredPending.delete(fp);
    m.evaluations++;
    last = { at: now, rules: results };
    return { results, started };
  }

  /** Steps an alert of an evaluation's copy `alerts`, noting what its save writes. */
  function apply(alerts: Map<string, AlertRecord>, fp: string, next: AlertRecord | null, upserts: AlertRecord[], deletes: string[]): void {
    const prev = alerts.get(fp);
    if (next === null) {
      if (prev) {
        alerts.delete(fp);
        deletes.push(fp);
      }
      return;
    }
    alerts.set(fp, next);
    if (prev !== next) upserts.push(next);
  }

  async function dispatch(now: number): Promise<DispatchReport> {
    state.pruneSilences(now, 7 * 86_400_000);
    const report = await dispatcher.dispatch([...alertsByFp.values()], state.silences(), now);
    for (const e of report.errors) onError(`notification failed: ${e}`);
    return report;
  }

  async function evaluateOnce(now = clock()): Promise<EvaluationResult> {
    const { results, started } = await evaluate(now);
    m.lastEvaluationMs = performance.now() - started;
    const report = await dispatch(now);
    return { at: now, durationMs: m.lastEvaluationMs, rules: results, dispatch: report };
  }

  async function tick(): Promise<void> {
    if (stopping.signal.aborted) return;
    if (evaluating) {
      m.skippedTicks++;
      return;
    }
    const now = clock();
    const run = evaluate(now);
    evaluating = run;
    try {
      const { started } = await run;
      m.lastEvaluationMs = performance.now() - started;
      // Saved whole, but stopping: the dispatcher stops too, and the next start sends what
      // this evaluation would have (the notification log does not have it).
      if (stopping.signal.aborted) return;
      // Delivery runs beside the next evaluations; a notifier still delivering an earlier
      // dispatch skips this one (its log catches it up), the others go on.
      const d: Promise<unknown> = dispatch(now)
        .catch((err: unknown) => onError(`dispatch: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => dispatching.delete(d));
      dispatching.add(d);
    } catch (err: unknown) {
      if (err instanceof EvaluationStoppedError) onInfo(err.message);
      else onError(`evaluation: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      evaluating = null;
    }
  }

  return {
    rules,
    start() {
      if (task) return;
      task = cron.schedule(opts.schedule ?? '0 * * * * *', tick, { name: 'claudescope-rules' });
    },
    async stop() {
      // First: a tick the cron fires while its task stops finds the engine stopping.
      stopping.abort();
      if (task) {
        await task.stop();
        await task.destroy();
        task = null;
      }
      await evaluating?.catch(() => {});
      dispatcher.stop();
      await Promise.all([...dispatching].map((d) => d.catch(() => {})));
      for (const n of opts.notifiers ?? []) await n.close?.();
      if (ownState) state.close();
    },
    evaluateOnce,
    tick,
    alerts(now = clock()) {
      const silences = state.silences();
      return [...alertsByFp.values()].filter((a) => a.state !== 'resolved').map((a) => ({
        name: a.rule, state: a.state, labels: a.labels, annotations: a.annotations, value: a.value, activeAt: a.activeAt,
        firedAt: a.firedAt, resolvedAt: a.resolvedAt, silencedBy: silencedBy(silences, a.labels, now),
      })).sort((x, y) => x.name.localeCompare(y.name) || x.activeAt - y.activeAt);
    },
    metrics() {
      let pending = 0;
      let firing = 0;
      for (const a of alertsByFp.values()) {
        if (a.state === 'pending') pending++;
        else if (a.state === 'firing') firing++;
      }
      return { ...m, alertsPending: pending, alertsFiring: firing, notifications: Object.fromEntries([...dispatcher.counters].map(([k, v]) => [k, { ...v }])) };
    },
    addSilence(matchers, o) {
      if (matchers.length === 0) throw new Error('a silence needs at least one matcher');
      const startsAt = o.startsAt ?? clock();
      const s: Silence = { id: randomUUID(), matchers, startsAt, endsAt: startsAt + o.durationMs, createdBy: o.createdBy ?? 'claudescope', comment: o.comment ?? '' };
      state.addSilence(s);
      return s;
    },
    lastResults: () => last,
    silences: () => state.silences(),
    expireSilence: (id) => state.expireSilence(id, clock()),
  };
}

export type { DispatchReport };
