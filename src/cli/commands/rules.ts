/**
 * `claudescope rules check FILE…` validates rule files (file, line and field of every problem);
 * `claudescope rules test FILE…` runs rule unit tests (as `promtool test rules` does);
 * `claudescope rules eval` evaluates every rule once now against the store and prints each
 * rule's value and state (read-only: no state is saved and nothing is sent).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { loadDaemonConfig } from '../../daemon/config.js';
import type { QueryApi } from '../../store/types.js';
import { influxQueryFor } from '../influx-store.js';
import { isoTimeOf } from '../../daemon/iso-time.js';
import { RuleFileError, formatProblem } from '../../rules/rule-schema.js';
import { loadRules, ruleFilesIn } from '../../rules/rule-loader.js';
import type { RuleTestFailure, RuleTestOutcome } from '../../rules/rule-test.js';

interface RulesArgs {
  action: 'check' | 'test' | 'eval';
  files: string[];
  rules?: string[];
  home?: string;
  config?: string;
  db?: string;
  'budget-daily'?: string;
  'budget-monthly'?: string;
  at?: string;
  json: boolean;
}

const command: CommandModule<object, RulesArgs> = {
  command: 'rules <action> [files..]',
  describe: 'Check, unit-test or evaluate alert rules',
  builder: (y: Argv) =>
    y
      .positional('action', { choices: ['check', 'test', 'eval'] as const, describe: 'check FILE…, test FILE…, or eval' })
      .positional('files', { type: 'string', array: true, default: [] as string[] })
      .option('rules', { type: 'string', array: true, describe: "eval: rule folders or files (default: the config's rules.dirs, else the shipped rules/)" })
      .option('home', { type: 'string', describe: 'eval: folder with data/ and config.yaml (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('config', { type: 'string', describe: "eval: the daemon's config file, for its budgets and rules.dirs (env CLAUDESCOPE_CONFIG; default $CLAUDESCOPE_HOME/config.yaml if present)" })
      .option('db', { type: 'string', describe: 'eval: the store (default <home>/data/claudescope.db)' })
      // Strings, checked by the config loader as the daemon checks the same settings.
      .option('budget-daily', { type: 'string', requiresArg: true, describe: "eval: daily budget, USD (default $CLAUDESCOPE_BUDGET_DAILY_USD, else the config's budgets.daily_usd)" })
      .option('budget-monthly', { type: 'string', requiresArg: true, describe: "eval: monthly budget, USD (default $CLAUDESCOPE_BUDGET_MONTHLY_USD, else the config's budgets.monthly_usd)" })
      .option('at', { type: 'string', requiresArg: true, describe: 'eval: evaluate at this ISO time (with its zone; a date alone is midnight UTC) instead of now' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON document' })
      .example('$0 rules check rules/*.yaml', 'validate rule files')
      .example('$0 rules check --json rules/*.yaml', 'the same, as one JSON document (ok, files, rules, errors)')
      .example('$0 rules test rules/claude.test.yaml', 'run rule unit tests')
      .example('$0 rules test --json rules/claude.test.yaml', 'the same, as one JSON document (ok, files and tests, failures, errors)')
      .example('$0 rules eval --budget-daily 50', 'evaluate every rule once now') as unknown as Argv<RulesArgs>,
  handler: async (argv) => {
    switch (argv.action) {
      case 'check': return check(argv.files, argv.json);
      case 'test': return runTests(argv.files, argv.json);
      case 'eval': return evalNow(argv);
      default: {
        const never: never = argv.action;
        throw new Error(`unknown action ${String(never)}`);
      }
    }
  },
};

/** A problem `rules check` found: with its line and field, but for one of no line (a folder it cannot list). */
interface CheckError {
  file: string;
  line: number | null;
  field: string | null;
  message: string;
}

/** What `rules check` found of one argument: its rules when they loaded on their own, its problems. */
interface CheckOutcome {
  file: string;
  rules?: number;
  errors?: CheckError[];
}

function check(files: string[], json: boolean): void {
  if (files.length === 0) throw new Error('rules check: name at least one rule file');
  // Each file on its own first (its own problems, located), then the files that passed
  // together: the daemon and `rules eval` load them together, and refuse an alert name
  // defined in two of them.
  const outcomes: CheckOutcome[] = [];
  for (const f of files) {
    // A rules test file (`*.test.yaml`, as the daemon skips in a rules folder) is no rule file:
    // a glob such as rules/*.yaml takes it along.
    if (/\.test\.ya?ml$/.test(f)) {
      outcomes.push({ file: f });
      continue;
    }
    try {
      outcomes.push({ file: f, rules: loadRules([f]).length });
    } catch (err: unknown) {
      outcomes.push({ file: f, errors: err instanceof RuleFileError ? err.problems : [{ file: f, line: null, field: null, message: err instanceof Error ? err.message : String(err) }] });
    }
  }
  // The rule files of the arguments that passed (a folder's files, as loadRules reads them),
  // each once: a file named twice (by a glob and by name, or in its folder) is no duplicate of itself.
  const owner = new Map<string, string>();
  const seen = new Set<string>();
  for (const o of outcomes) {
    if (o.rules === undefined) continue;
    for (const f of statSync(o.file).isDirectory() ? ruleFilesIn(o.file) : [o.file]) {
      if (seen.has(resolve(f))) continue;
      seen.add(resolve(f));
      owner.set(f, o.file);
    }
  }
  if (owner.size > 1) {
    try {
      loadRules([...owner.keys()]);
    } catch (err: unknown) {
      if (!(err instanceof RuleFileError)) throw err;
      for (const p of err.problems) {
        const f = owner.get(p.file) ?? p.file;
        // A file named twice is said twice, as each of its arguments is.
        for (const o of outcomes) if (o.file === f) o.errors = [...(o.errors ?? []), p];
      }
    }
  }
  if (outcomes.some((o) => o.errors !== undefined)) process.exitCode = 1;
  if (json) printCheckJson(outcomes);
  else printCheckText(outcomes);
}

/** Each file's result, OK on stdout and problems on stderr, one a line. */
function printCheckText(outcomes: CheckOutcome[]): void {
  for (const o of outcomes) {
    if (o.errors !== undefined) {
      process.stderr.write(o.errors.map((e) => `${formatCheckError(e)}\n`).join(''));
    } else if (o.rules !== undefined) process.stdout.write(`${o.file}: ${o.rules} rule(s) OK\n`);
    else process.stdout.write(`${o.file}: a rules test file, not checked (run it with: claudescope rules test ${o.file})\n`);
  }
}

/** `file:line: field: message`, or `file: message` for a problem of no line. */
function formatCheckError(e: CheckError): string {
  return e.line === null || e.field === null ? `${e.file}: ${e.message}` : formatProblem({ file: e.file, line: e.line, field: e.field, message: e.message });
}

/**
 * One JSON document on stdout, for scripts and CI: `ok`, each file's `result` (`ok`, `invalid`,
 * or `skipped` for a rules test file) with its rules, the rules of the files found OK, and every
 * problem with its file, line and field.
 */
function printCheckJson(outcomes: CheckOutcome[]): void {
  const ok = (o: CheckOutcome): boolean => o.errors === undefined && o.rules !== undefined;
  process.stdout.write(`${JSON.stringify({
    ok: outcomes.every((o) => o.errors === undefined),
    files: outcomes.map((o) => ({ file: o.file, result: o.errors !== undefined ? 'invalid' : o.rules !== undefined ? 'ok' : 'skipped', rules: o.rules ?? null })),
    rules: outcomes.filter(ok).reduce((n, o) => n + (o.rules ?? 0), 0),
    // Once each, though a file named twice has them under both of its arguments.
    errors: [...new Map(outcomes.flatMap((o) => o.errors ?? []).map((e) => [formatCheckError(e), e])).values()].map(({ file, line, field, message }) => ({ file, line, field, message })),
  }, null, 2)}\n`);
}

/** What `rules test` found of one test file: its tests' outcomes, or the problems it was refused for. */
interface TestFileOutcome {
  file: string;
  tests?: RuleTestOutcome[];
  errors?: CheckError[];
}

async function runTests(files: string[], json: boolean): Promise<void> {
  if (files.length === 0) throw new Error('rules test: name a rule test file');
  const { runRuleTests, formatRuleTestFailure } = await import('../../rules/rule-test.js');
  const outcomes: TestFileOutcome[] = [];
  for (const f of files) {
    // Said as each file starts and ends, so a long run shows its progress.
    if (!json) process.stdout.write(`Unit testing: ${f}\n`);
    let o: TestFileOutcome;
    try {
      o = { file: f, tests: await runRuleTests(f) };
    } catch (err: unknown) {
      o = { file: f, errors: err instanceof RuleFileError ? err.problems : [{ file: f, line: null, field: null, message: err instanceof Error ? err.message : String(err) }] };
    }
    outcomes.push(o);
    if (!json) printTestText(o, formatRuleTestFailure);
  }
  if (outcomes.some((o) => o.errors !== undefined || o.tests?.some((x) => x.failures.length > 0))) process.exitCode = 1;
  if (json) printTestJson(outcomes);
}

/** A file's result as `promtool test rules` gives it: SUCCESS, or each failed test with its failures. */
function printTestText(o: TestFileOutcome, format: (f: RuleTestFailure) => string): void {
  if (o.errors !== undefined) {
    // A refused test file lists every problem, one a line.
    const lines = o.errors.flatMap((e) => formatCheckError(e).split('\n'));
    process.stdout.write(`  FAILED:\n${lines.map((l) => `    ${l}\n`).join('')}`);
    return;
  }
  const tests = o.tests ?? [];
  for (const x of tests) {
    if (x.failures.length === 0) continue;
    process.stdout.write(`  FAILED: ${x.name}\n${x.failures.map((f) => `    ${format(f)}\n`).join('')}`);
  }
  if (tests.every((x) => x.failures.length === 0)) process.stdout.write(`  SUCCESS (${tests.length} test(s))\n`);
}

/**
 * One JSON document on stdout, for scripts and CI: `ok`, each file's `result` (`ok`, `failed`,
 * or `invalid` for a test file refused before any test ran) with each test's, every failure
 * with its file, line, test, eval time, alert name, expected and got, and every problem of a
 * refused file with its file, line and field, as `rules check --json` gives them.
 */
function printTestJson(outcomes: TestFileOutcome[]): void {
  const failed = (x: RuleTestOutcome): boolean => x.failures.length > 0;
  process.stdout.write(`${JSON.stringify({
    ok: outcomes.every((o) => o.errors === undefined && !(o.tests ?? []).some(failed)),
    files: outcomes.map((o) => ({
      file: o.file,
      result: o.errors !== undefined ? 'invalid' : (o.tests ?? []).some(failed) ? 'failed' : 'ok',
      tests: (o.tests ?? []).map((x) => ({ name: x.name, line: x.line, result: failed(x) ? 'failed' : 'ok' })),
    })),
    tests: outcomes.reduce((n, o) => n + (o.tests?.length ?? 0), 0),
    failed: outcomes.reduce((n, o) => n + (o.tests ?? []).filter(failed).length, 0),
    failures: outcomes.flatMap((o) => (o.tests ?? []).flatMap((x) => x.failures.map((f) => failureJson(o.file, x.name, f)))),
    errors: outcomes.flatMap((o) => o.errors ?? []).map(({ file, line, field, message }) => ({ file, line, field, message })),
  }, null, 2)}\n`);
}

/** Every failure with the same keys: null where its kind has none (an error has no alert; only an annotation has one). */
function failureJson(file: string, test: string, f: RuleTestFailure): Record<string, unknown> {
  const base = { file, line: f.line, test, kind: f.kind };
  switch (f.kind) {
    case 'firing':
      return { ...base, eval_time: f.eval_time, alertname: f.alertname, labels: null, annotation: null, expected: f.expected, got: f.got, message: null };
    case 'annotation':
      return { ...base, eval_time: f.eval_time, alertname: f.alertname, labels: f.labels, annotation: f.annotation, expected: f.expected, got: f.got, message: null };
    case 'error':
      return { ...base, eval_time: null, alertname: null, labels: null, annotation: null, expected: null, got: null, message: f.message };
    default: {
      const never: never = f;
      throw new Error(`unknown failure ${JSON.stringify(never)}`);
    }
  }
}

async function evalNow(argv: RulesArgs): Promise<void> {
  const now = argv.at === undefined ? Date.now() : isoTimeOf('--at', argv.at, 'an ISO time with its zone such as 2026-11-20T08:00:00Z (or a date, midnight UTC)');
  // The daemon's settings, through its loader (flags > environment > config file > defaults),
  // so budgets and rule folders are those the daemon alerts with, and a bad value is refused
  // with the daemon's message.
  const config = loadDaemonConfig({
    flags: {
      ...(argv.home !== undefined ? { home: argv.home } : {}),
      ...(argv.config !== undefined ? { config: argv.config } : {}),
      ...(argv['budget-daily'] !== undefined ? { budgetDailyUsd: argv['budget-daily'] } : {}),
      ...(argv['budget-monthly'] !== undefined ? { budgetMonthlyUsd: argv['budget-monthly'] } : {}),
    },
    env: process.env,
  });
  const { configuredRulesDirs } = await import('../../daemon/alerting.js');
  const { budgetsFromConfig } = await import('../../rules/index.js');
  const { createRuleEngine } = await import('../../rules/rule-engine.js');
  const { formatRuleValue } = await import('../../rules/rule-kinds.js');
  // The store the daemon's rules read: InfluxDB with rules.store: influxdb or InfluxDB alone
  // (then its pipeline-health rules read the fleet's health points), else the embedded store.
  const influx = argv.db === undefined ? await influxQueryFor(config, true) : null;
  let store: QueryApi & { close(): void };
  if (influx !== null) {
    store = Object.assign(influx, { close: () => {} });
  } else {
    const dbPath = argv.db ?? join(config.home, 'data', 'claudescope.db');
    if (!existsSync(dbPath)) throw new Error(`no store at ${dbPath} (run the daemon first, or pass --db)`);
    const { SqliteStore } = await import('../../store/sqlite-store.js');
    store = SqliteStore.open({ path: dbPath, readonly: true });
  }
  try {
    const engine = createRuleEngine({
      query: store, rulesDirs: argv.rules ?? configuredRulesDirs(config), clock: () => now,
      budgets: budgetsFromConfig(config.budgets),
    });
    const res = await engine.evaluateOnce(now);
    await engine.stop();
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
      return;
    }
    process.stdout.write(`evaluated ${res.rules.length} rule(s) at ${new Date(now).toISOString()} in ${res.durationMs.toFixed(1)} ms\n`);
    const rulesByName = new Map(engine.rules.map((r) => [r.name, r]));
    for (const r of res.rules) {
      const rule = rulesByName.get(r.rule);
      if (r.error !== null) {
        process.stdout.write(`${r.rule} (${r.kind}): ERROR ${r.error}\n`);
        continue;
      }
      if (r.samples.length === 0) process.stdout.write(`${r.rule} (${r.kind}): no data\n`);
      for (const s of r.samples) {
        const labels = Object.entries(s.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(',');
        // As alert emails give it (36.36%, 800ms, 3.2×): a share's 0.000315 reads as 0.0315%.
        const value = rule !== undefined ? formatRuleValue(rule, s.value) : String(s.value ?? 'unknown');
        process.stdout.write(`${r.rule} (${r.kind}) {${labels}} value=${value} calls=${s.calls} state=${s.state}\n`);
      }
    }
  } finally {
    store.close();
  }
}

export default command;
