/**
 * The alert engine as the daemon runs it: rules from `rules.dirs` (default: the package's own
 * `rules/`), notifiers from the config's `notifiers:` list, state in `<home>/data/alerts.db`,
 * budgets from the config, pipeline health from the running pipeline.
 *
 * Rules and notifiers are loaded before the pipeline starts, so a malformed rule file refuses
 * start (with the loader's file:line message) before the data folder is locked.
 */
import { statSync } from 'node:fs';
import { ConfigError, fileLocator, type DaemonConfig } from './config.js';
import { whyUnreadable } from '../fs-errors.js';
import type { PipelineHealth, QueryApi, QueryOptions } from '../store/types.js';
import type { Rule, RuleEngine } from '../rules/index.js';
import type { Notifier } from '../notify/types.js';
import { defaultRulesDir } from '../rules/paths.js';
import type { NotifierConfig } from '../notify/index.js';

export interface PreparedAlerting {
  rules: Rule[];
  notifiers: Notifier[];
  rulesDirs: string[];
}

/**
 * Replaces `${NAME}` in every string of a notifier's settings with the environment variable
 * (secrets stay out of the file); an unset variable is an error naming the notifier and field,
 * and with `locate` where that field is written.
 */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, where: string, locate?: (path: string) => string | undefined): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        const at = locate?.(where);
        throw new Error(`${at === undefined ? '' : `${at}: `}${where}: environment variable ${name} is not set`);
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${where}[${i}]`, locate));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, `${where}.${k}`, locate)]));
  }
  return value;
}

/**
 * The rule folders the daemon evaluates: `rules.dirs`, else the package's own `rules/`.
 *
 * @throws ConfigError naming the line of each `rules.dirs` folder that cannot be read
 */
export function configuredRulesDirs(config: Pick<DaemonConfig, 'rules' | 'configFile'>): string[] {
  if (config.rules.dirs.length === 0) return [defaultRulesDir()];
  checkRulesDirs(config);
  return config.rules.dirs;
}

/**
 * The notifiers' settings with `${ENV}` references expanded, checked as the daemon checks them
 * at start (`daemon --print-config` runs the same check). Each problem names the config file
 * and line, the notifier and the field.
 *
 * @throws NotifierConfigError listing every setting that cannot work; Error on an unset variable
 */
export async function checkNotifiers(config: Pick<DaemonConfig, 'notifiers' | 'configFile'>, env: NodeJS.ProcessEnv = process.env): Promise<NotifierConfig[]> {
  const { NotifierConfigError, notifierProblems } = await import('../notify/index.js');
  const locate = fileLocator(config.configFile);
  const configs = config.notifiers.map((n, i) => expandEnv(n, env, `notifiers[${i}]`, locate));
  const problems = notifierProblems(configs, locate);
  if (problems.length > 0) throw new NotifierConfigError(problems);
  return configs as NotifierConfig[];
}

/**
 * A folder `rules.dirs` names that cannot be read is a mistake in the configuration: said at the
 * line that names it, not as a rule file of its own.
 *
 * @throws ConfigError naming each such folder
 */
function checkRulesDirs(config: Pick<DaemonConfig, 'rules' | 'configFile'>): void {
  const locate = fileLocator(config.configFile);
  const problems = config.rules.dirs.flatMap((dir, i) => {
    try {
      statSync(dir);
      return [];
    } catch (err: unknown) {
      return [{ where: locate(`rules.dirs[${i}]`) ?? locate('rules.dirs') ?? config.configFile ?? 'rules.dirs', field: `rules.dirs[${i}]`, message: `cannot read the rules folder ${dir}: ${whyUnreadable(err)}` }];
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Loads and validates the rules and builds the notifiers; throws `RuleFileError` on a bad rule file. */
export async function prepareAlerting(config: DaemonConfig, env: NodeJS.ProcessEnv = process.env): Promise<PreparedAlerting> {
  const { loadRules } = await import('../rules/index.js');
  const rulesDirs = configuredRulesDirs(config);
  const rules = loadRules(rulesDirs);
  const { createNotifiers } = await import('../notify/index.js');
  // Settings that cannot work (unknown keys, wrong types, missing or bad URLs) are refused here, by file line, notifier and field.
  const notifiers = await createNotifiers(await checkNotifiers(config, env));
  return { rules, notifiers, rulesDirs };
}

/** The pipeline's health in the shape `pipeline_health` rules read. */
export function pipelineHealthOf(
  h: { lagBytes: number; deadLettered: Record<string, number>; filesUnreadable: number; descriptorShortages: number; influx?: { authFailed: boolean } } | null,
  emitterStats: { stats: { events_dropped_buffer?: number; events_dropped_dir_cap?: number; events_dropped_write_error?: number } }[],
): PipelineHealth {
  const influxAuthFailed = h?.influx?.authFailed;
  let dropped = 0;
  for (const r of emitterStats) dropped += (r.stats.events_dropped_buffer ?? 0) + (r.stats.events_dropped_dir_cap ?? 0) + (r.stats.events_dropped_write_error ?? 0);
  return {
    tailLagBytes: h ? h.lagBytes : null,
    deadLettersTotal: h ? Object.values(h.deadLettered).reduce((a, b) => a + b, 0) : null,
    emitterDroppedEventsTotal: dropped,
    influxAuthFailed: influxAuthFailed === undefined ? null : influxAuthFailed ? 1 : 0,
    unreadableEventFiles: h ? h.filesUnreadable : null,
    descriptorShortagesTotal: h ? h.descriptorShortages : null,
  };
}

export interface StartAlertingOptions {
  config: DaemonConfig;
  prepared: PreparedAlerting;
  query: QueryApi;
  /** Pipeline health for `pipeline_health` rules: this daemon's, or the fleet's (on InfluxDB). */
  health: (o: QueryOptions) => PipelineHealth | Promise<PipelineHealth>;
  onError: (message: string) => void;
  /** What is no failure but worth a line (an evaluation a stop ended). */
  onInfo?: (message: string) => void;
  /** node-cron expression; default every minute. */
  schedule?: string;
}

/** Creates the engine over the store and starts its schedule. */
export async function startAlerting(o: StartAlertingOptions): Promise<RuleEngine> {
  const { createRuleEngine, alertStatePath, budgetsFromConfig } = await import('../rules/index.js');
  const engine = createRuleEngine({
    query: o.query,
    rules: o.prepared.rules,
    notifiers: o.prepared.notifiers,
    statePath: alertStatePath(o.config.home),
    budgets: budgetsFromConfig(o.config.budgets),
    health: o.health,
    onError: o.onError,
    ...(o.onInfo !== undefined ? { onInfo: o.onInfo } : {}),
    ...(o.schedule !== undefined ? { schedule: o.schedule } : {}),
  });
  engine.start();
  return engine;
}
