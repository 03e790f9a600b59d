/**
 * The daemon's configuration: defaults, a YAML file, the environment and flags, in that
 * order of increasing precedence (flags > environment > file > defaults), validated once at
 * start. Every problem names its source and field:
 *
 * ```
 * /etc/claudescope/config.yaml:7: listen.port: expected an integer 0-65535, got "abc"
 * CLAUDESCOPE_LISTEN_PORT: listen.port: expected an integer 0-65535, got "x"
 * --port: listen.port: expected an integer 0-65535, got "-1"
 * ```
 *
 * @example
 * const cfg = loadDaemonConfig({ flags: { port: '9500' }, env: process.env });
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import type { RetentionMode } from '../tail/types.js';
import {
  CONFIG_SCHEMA, formatProblem, getPath, mergeLayers, setPath, validateAgainst, type ConfigProblem,
} from './config-schema.js';
import { reconcileSettings, type ReconcileSettings } from '../reconcile/settings.js';
import { redactUrl } from '../notify/redact.js';
import { whyUnreadable } from '../fs-errors.js';

/** The daemon's documented default port (on 127.0.0.1). */
export const DEFAULT_PORT = 9471;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** Least time between two commits of lines read at the files' ends (see TailerOptions.batchIntervalMs). */
export const DEFAULT_BATCH_INTERVAL_MS = 200;
/**
 * Most event files the tailer holds open (see TailerOptions.maxOpenFiles): well under the
 * usual 1024 descriptors a process may have, leaving room for the store, sockets and the log.
 */
export const DEFAULT_MAX_OPEN_FILES = 256;
/** Shortest bearer token accepted: a guessable token beyond loopback is no protection. */
export const MIN_TOKEN_LENGTH = 16;
const DAY_MS = 86_400_000;

/** A budget in USD per period; null means none. */
export interface Budget {
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

/** The validated configuration the daemon runs with. */
export interface DaemonConfig {
  /** `CLAUDESCOPE_HOME`, default `~/.claudescope`: holds `events/` and `data/`. */
  home: string;
  /** The config file read, or null when none. */
  configFile: string | null;
  /** Where the HTTP server listens. Default 127.0.0.1:{@link DEFAULT_PORT}. */
  listen: { host: string; port: number };
  /**
   * The bearer token every endpoint requires when `requireToken` (always true when bound
   * beyond loopback). Never logged.
   */
  auth: { token: string | null; requireToken: boolean };
  /** Row and rollup ages kept (undefined: forever) and what happens to sealed event files. */
  retention: { rowsMaxAgeMs?: number; rollupsMaxAgeMs?: number; sealedFiles: RetentionMode };
  /**
   * Folder scan period (default 1000 ms), least time between two batches once caught up
   * (default 200 ms), and most event files held open at once (default 256).
   */
  tail: { pollIntervalMs: number; batchIntervalMs: number; maxOpenFiles: number };
  /** Budgets (exported as `claude_budget_usd{period}`; the rule engine alerts on them). */
  budgets: Budget & { perFeature: Record<string, Budget> };
  /** Feature tags that may become the `feature` label; others are exported as `feature=""`. */
  metrics: { featureLabelAllowlist: string[] };
  /** Price overrides, passed unchanged to the cost engine (which validates them). */
  pricing: Record<string, unknown> | null;
  /**
   * Folders of YAML alert rules (absolute), for the rule engine, and the store they read:
   * `embedded` (this host's SQLite store) or `influxdb` (the central store of a fleet).
   * Null: the embedded store when it is on, else InfluxDB.
   */
  rules: { dirs: string[]; store: 'embedded' | 'influxdb' | null };
  /** Reserved for the InfluxDB sink: passed unchanged. */
  influxdb: Record<string, unknown> | null;
  /**
   * Alert notifiers as written in the file (`${ENV}` references expanded when the daemon
   * starts), validated by `createNotifiers`. Hold secrets: never shown or served. Default none.
   */
  notifiers: Record<string, unknown>[];
  /**
   * Reconciliation with the Admin usage and cost reports (`reconcile:`; the key from
   * `ANTHROPIC_ADMIN_KEY` wins over `reconcile.admin_key`). Null when neither the block nor
   * the key is set. The key is never shown or served.
   */
  reconcile: ReconcileSettings | null;
}

/** Flags as the CLI hands them over (strings or numbers; validated here, not by yargs). */
export interface DaemonFlags {
  home?: string | undefined;
  config?: string | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
  tokenFile?: string | undefined;
  pollIntervalMs?: string | number | undefined;
  maxOpenFiles?: string | number | undefined;
  retentionRowsDays?: string | number | undefined;
  retentionRollupsDays?: string | number | undefined;
  sealedFiles?: string | undefined;
  featureLabels?: string | string[] | undefined;
  /** Require the token even on loopback (tests of the auth layer; hardened setups). */
  requireToken?: boolean | undefined;
  /** Budgets, USD (`claudescope rules eval --budget-daily / --budget-monthly`). */
  budgetDailyUsd?: string | number | undefined;
  budgetMonthlyUsd?: string | number | undefined;
}

/** Thrown when the configuration cannot be used; `problems` lists every one found. */
export class ConfigError extends Error {
  readonly code = 'E_CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n  ${problems.map(formatProblem).join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Environment variables the daemon reads, and the field each sets. */
export const ENV_FIELDS: Record<string, { field: string; list?: boolean }> = {
  CLAUDESCOPE_LISTEN_HOST: { field: 'listen.host' },
  CLAUDESCOPE_LISTEN_PORT: { field: 'listen.port' },
  CLAUDESCOPE_TOKEN: { field: 'auth.token' },
  CLAUDESCOPE_TOKEN_FILE: { field: 'auth.token_file' },
  CLAUDESCOPE_POLL_INTERVAL_MS: { field: 'tail.poll_interval_ms' },
  CLAUDESCOPE_BATCH_INTERVAL_MS: { field: 'tail.batch_interval_ms' },
  CLAUDESCOPE_MAX_OPEN_FILES: { field: 'tail.max_open_files' },
  CLAUDESCOPE_RETENTION_ROWS_DAYS: { field: 'retention.rows_days' },
  CLAUDESCOPE_RETENTION_ROLLUPS_DAYS: { field: 'retention.rollups_days' },
  CLAUDESCOPE_SEALED_FILES: { field: 'retention.sealed_files' },
  CLAUDESCOPE_FEATURE_LABELS: { field: 'metrics.feature_label_allowlist', list: true },
  CLAUDESCOPE_BUDGET_DAILY_USD: { field: 'budgets.daily_usd' },
  CLAUDESCOPE_BUDGET_MONTHLY_USD: { field: 'budgets.monthly_usd' },
};

const FLAG_FIELDS: Record<string, { flag: string; field: string; list?: boolean }> = {
  host: { flag: '--host', field: 'listen.host' },
  port: { flag: '--port', field: 'listen.port' },
  tokenFile: { flag: '--token-file', field: 'auth.token_file' },
  pollIntervalMs: { flag: '--poll-interval-ms', field: 'tail.poll_interval_ms' },
  maxOpenFiles: { flag: '--max-open-files', field: 'tail.max_open_files' },
  retentionRowsDays: { flag: '--retention-rows-days', field: 'retention.rows_days' },
  retentionRollupsDays: { flag: '--retention-rollups-days', field: 'retention.rollups_days' },
  sealedFiles: { flag: '--sealed-files', field: 'retention.sealed_files' },
  featureLabels: { flag: '--feature-labels', field: 'metrics.feature_label_allowlist', list: true },
  requireToken: { flag: '--require-token', field: 'auth.require_token' },
  budgetDailyUsd: { flag: '--budget-daily', field: 'budgets.daily_usd' },
  budgetMonthlyUsd: { flag: '--budget-monthly', field: 'budgets.monthly_usd' },
};

/** Numbers and booleans typed as text (environment, flags) become values; the rest stays text. */
function coerce(v: string | number | boolean): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === 'true') return true;
  if (s === 'false') return false;
  return v;
}

const splitList = (v: string | string[]): string[] =>
  (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');

/** `CLAUDESCOPE_HOME`, else `~/.claudescope`. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  const h = env['CLAUDESCOPE_HOME'];
  return h && h.trim() !== '' ? resolve(h) : join(homedir(), '.claudescope');
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

interface FileLayer {
  value: Record<string, unknown>;
  /** Dotted field path → line (1-based). */
  lines: Map<string, number>;
}

/** Parses a YAML config file, keeping each field's line. Syntax errors are problems with their line. */
export function parseConfigText(text: string, label: string, problems: ConfigProblem[]): FileLayer | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const line = e.linePos?.[0].line ?? lineCounter.linePos(e.pos[0]).line;
      problems.push({ where: `${label}:${line}`, field: '(syntax)', message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') });
    }
    return undefined;
  }
  const lines = new Map<string, number>();
  const walk = (node: unknown, path: string): void => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
        const child = path ? `${path}.${key}` : key;
        const keyNode = item.key as YamlNode | null;
        const r = keyNode?.range ?? (item.value as YamlNode | null)?.range;
        if (r) lines.set(child, lineCounter.linePos(r[0]).line);
        walk(item.value, child);
      }
    } else if (isSeq(node)) {
      node.items.forEach((it, i) => {
        const r = (it as YamlNode | null)?.range;
        const child = `${path}[${i}]`;
        if (r) lines.set(child, lineCounter.linePos(r[0]).line);
        walk(it, child);
      });
    }
  };
  walk(doc.contents, '');
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return { value: {}, lines };
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ where: `${label}:1`, field: '(root)', message: 'expected a mapping of settings' });
    return undefined;
  }
  return { value: value as Record<string, unknown>, lines };
}

/**
 * Parses a configuration file and checks it against the schema (unknown and mistyped fields
 * named by line), as the daemon reads it; undefined when it cannot be parsed.
 */
export function checkConfigText(text: string, label: string, problems: ConfigProblem[]): FileLayer | undefined {
  const file = parseConfigText(text, label, problems);
  if (file) validateAgainst(file.value, CONFIG_SCHEMA, '', (p) => `${label}:${lineOf(file, p)}`, problems);
  return file;
}

/** Where a file field is: its own line, else its nearest parent's, else line 1. */
function lineOf(layer: FileLayer, path: string): number {
  for (let p = path; p !== ''; p = p.includes('.') || p.includes('[') ? p.replace(/(\.[^.[]*|\[\d+\])$/, '') : '') {
    const l = layer.lines.get(p);
    if (l !== undefined) return l;
  }
  return 1;
}

/**
 * The configuration file every command reads: `--config`, else `$CLAUDESCOPE_CONFIG`, else
 * `<home>/config.yaml` when present; null when none. `path` is absolute, `label` as the user
 * gave it (what messages name).
 */
export function configFileFor(home: string, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; label: string } | null {
  const explicit = flag ?? env['CLAUDESCOPE_CONFIG'];
  if (explicit !== undefined && explicit !== '') return { path: resolve(explicit), label: explicit };
  const inHome = join(home, 'config.yaml');
  return existsSync(inHome) ? { path: inHome, label: inHome } : null;
}

/**
 * Where a field of the configuration file is written, by its path (`notifiers[0].url`):
 * `file:line` (its own line, else its nearest parent's, else 1), for the parts that check
 * their settings after loading (notifiers, prices). Undefined without a file, or when it can
 * no longer be parsed. The file is read on the first call.
 */
export function fileLocator(configFile: string | null): (path: string) => string | undefined {
  let layer: FileLayer | null | undefined;
  return (path) => {
    if (configFile === null) return undefined;
    if (layer === undefined) {
      try {
        layer = parseConfigText(readFileSync(configFile, 'utf8'), configFile, []) ?? null;
      } catch {
        layer = null;
      }
    }
    return layer === null ? undefined : `${configFile}:${lineOf(layer, path)}`;
  };
}

export interface LoadConfigOptions {
  flags?: DaemonFlags;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Loads, merges and validates the configuration; throws {@link ConfigError} listing every problem. */
export function loadDaemonConfig(opts: LoadConfigOptions = {}): DaemonConfig {
  const flags = opts.flags ?? {};
  const env = opts.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const home = flags.home !== undefined && flags.home !== '' ? resolve(flags.home) : defaultHome(env);

  const found = configFileFor(home, flags.config, env);
  const configFile = found?.path ?? null;
  const fileLabel = found?.label ?? '';
  let file: FileLayer | undefined;
  if (configFile !== null) {
    let text: string | undefined;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err: unknown) {
      problems.push({ where: fileLabel, field: '(file)', message: `cannot read: ${whyUnreadable(err)}` });
    }
    if (text !== undefined) file = checkConfigText(text, fileLabel, problems);
  }

  const envLayer: Record<string, unknown> = {};
  const envWhere = new Map<string, string>();
  for (const [name, { field, list }] of Object.entries(ENV_FIELDS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(envLayer, field, list ? splitList(raw) : field === 'auth.token' || field === 'auth.token_file' ? raw : coerce(raw));
    envWhere.set(field, name);
  }
  validateAgainst(envLayer, CONFIG_SCHEMA, '', (p) => envWhere.get(p.replace(/\[\d+\]$/, '')) ?? 'environment', problems);

  const flagLayer: Record<string, unknown> = {};
  const flagWhere = new Map<string, string>();
  for (const [key, { flag, field, list }] of Object.entries(FLAG_FIELDS)) {
    const raw = (flags as Record<string, string | number | boolean | string[] | undefined>)[key];
    if (raw === undefined) continue;
    setPath(flagLayer, field, list ? splitList(raw as string | string[]) : field === 'auth.token_file' ? raw : coerce(raw as string | number | boolean));
    flagWhere.set(field, flag);
  }
  validateAgainst(flagLayer, CONFIG_SCHEMA, '', (p) => flagWhere.get(p.replace(/\[\d+\]$/, '')) ?? 'flags', problems);

  if (problems.length > 0) throw new ConfigError(problems);

  const layers = [file?.value, envLayer, flagLayer];
  const merged = (mergeLayers(CONFIG_SCHEMA, layers) ?? {}) as Record<string, unknown>;
  /** Which source set a field last (for the cross-field checks' messages). */
  const sourceOf = (field: string): string => {
    if (getPath(flagLayer, field) !== undefined) return flagWhere.get(field) ?? 'flags';
    if (getPath(envLayer, field) !== undefined) return envWhere.get(field) ?? 'environment';
    if (file && getPath(file.value, field) !== undefined) return `${fileLabel}:${lineOf(file, field)}`;
    return 'default';
  };
  const get = <T>(field: string, dflt: T): T => {
    const v = getPath(merged, field);
    return v === undefined ? dflt : (v as T);
  };
  /** How high the layer that set a field ranks: flags 3, environment 2, file 1, unset 0. */
  const rankOf = (field: string): number => {
    if (getPath(flagLayer, field) !== undefined) return 3;
    if (getPath(envLayer, field) !== undefined) return 2;
    return file && getPath(file.value, field) !== undefined ? 1 : 0;
  };
  const fileDir = configFile ? dirname(configFile) : home;

  // The token: auth.token, or the first line of auth.token_file, whichever a higher layer set
  // (`--token-file` or CLAUDESCOPE_TOKEN_FILE must replace a token written in the file, as
  // CLAUDESCOPE_TOKEN replaces a token_file); set in the same layer, auth.token.
  let token = get<string | null>('auth.token', null);
  const tokenFile = get<string | null>('auth.token_file', null);
  const tokenFromFile = tokenFile !== null && (token === null || rankOf('auth.token_file') > rankOf('auth.token'));
  if (tokenFromFile) {
    const p = isAbsolute(tokenFile) ? tokenFile : resolve(sourceOf('auth.token_file').startsWith(fileLabel) && configFile ? fileDir : process.cwd(), tokenFile);
    token = null;
    try {
      token = readFileSync(p, 'utf8').split('\n')[0]!.trim();
    } catch (err: unknown) {
      problems.push({ where: sourceOf('auth.token_file'), field: 'auth.token_file', message: `cannot read ${p}: ${whyUnreadable(err)}` });
    }
  }
  const host = get('listen.host', DEFAULT_HOST);
  const loopback = isLoopback(host);
  const requireToken = !loopback || get('auth.require_token', false);
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    problems.push({ where: sourceOf(tokenFromFile ? 'auth.token_file' : 'auth.token'), field: 'auth.token', message: `the token must be at least ${MIN_TOKEN_LENGTH} characters` });
  }
  if (requireToken && (token === null || token === '')) {
    problems.push({
      where: loopback ? sourceOf('auth.require_token') : sourceOf('listen.host'),
      field: loopback ? 'auth.require_token' : 'listen.host',
      message: loopback
        ? 'a token is required but none is set (auth.token, auth.token_file or CLAUDESCOPE_TOKEN)'
        : `listening on ${host}, beyond loopback, needs a bearer token: set auth.token, auth.token_file or CLAUDESCOPE_TOKEN (refusing to serve without one)`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const rowsDays = get<number | null>('retention.rows_days', null);
  const rollupsDays = get<number | null>('retention.rollups_days', null);
  const budget = (b: unknown): Budget => ({
    dailyUsd: (getPath(b, 'daily_usd') as number | null | undefined) ?? null,
    monthlyUsd: (getPath(b, 'monthly_usd') as number | null | undefined) ?? null,
  });
  const perFeature: Record<string, Budget> = {};
  for (const [k, v] of Object.entries(get<Record<string, unknown>>('budgets.per_feature', {}))) perFeature[k] = budget(v);

  return {
    home,
    configFile,
    listen: { host, port: get('listen.port', DEFAULT_PORT) },
    auth: { token, requireToken },
    retention: {
      ...(rowsDays !== null ? { rowsMaxAgeMs: rowsDays * DAY_MS } : {}),
      ...(rollupsDays !== null ? { rollupsMaxAgeMs: rollupsDays * DAY_MS } : {}),
      sealedFiles: get<RetentionMode>('retention.sealed_files', 'delete'),
    },
    tail: {
      pollIntervalMs: get('tail.poll_interval_ms', DEFAULT_POLL_INTERVAL_MS),
      batchIntervalMs: get('tail.batch_interval_ms', DEFAULT_BATCH_INTERVAL_MS),
      maxOpenFiles: get('tail.max_open_files', DEFAULT_MAX_OPEN_FILES),
    },
    budgets: { ...budget(get('budgets', {})), perFeature },
    metrics: { featureLabelAllowlist: get<string[]>('metrics.feature_label_allowlist', []) },
    pricing: get<Record<string, unknown> | null>('pricing', null),
    rules: {
      dirs: get<string[]>('rules.dirs', []).map((d) => resolve(sourceOf('rules.dirs').startsWith(fileLabel) && configFile ? fileDir : process.cwd(), d)),
      store: get<'embedded' | 'influxdb' | null>('rules.store', null),
    },
    influxdb: get<Record<string, unknown> | null>('influxdb', null),
    notifiers: get<Record<string, unknown>[]>('notifiers', []),
    reconcile: getPath(merged, 'reconcile') != null || (env['ANTHROPIC_ADMIN_KEY'] ?? '') !== '' ? reconcileSettings(getPath(merged, 'reconcile'), env) : null,
  };
}

/** The budgets as the config file spells them (what `/api/config` serves too). */
export function budgetsInFileForm(b: DaemonConfig['budgets']) {
  const one = (x: Budget) => ({ daily_usd: x.dailyUsd, monthly_usd: x.monthlyUsd });
  return { ...one(b), per_feature: Object.fromEntries(Object.entries(b.perFeature).map(([k, v]) => [k, one(v)])) };
}

/**
 * The settings in effect, in the config file's form (snake_case keys; `home` and `config_file`
 * say where they came from), so that any part can be copied into a config file. Secrets are
 * never shown: the token, InfluxDB's token and password and the Admin API key appear as
 * `(set)`, notifiers by name and type only.
 */
export function describeConfig(c: DaemonConfig): Record<string, unknown> {
  const set = (v: unknown): string | null => (v === null || v === undefined ? null : '(set)');
  const days = (ms: number | undefined): number | null => (ms === undefined ? null : ms / DAY_MS);
  const r = c.reconcile;
  return {
    home: c.home,
    config_file: c.configFile,
    listen: c.listen,
    auth: { token: set(c.auth.token), require_token: c.auth.requireToken },
    retention: { rows_days: days(c.retention.rowsMaxAgeMs), rollups_days: days(c.retention.rollupsMaxAgeMs), sealed_files: c.retention.sealedFiles },
    tail: { poll_interval_ms: c.tail.pollIntervalMs, batch_interval_ms: c.tail.batchIntervalMs, max_open_files: c.tail.maxOpenFiles },
    budgets: budgetsInFileForm(c.budgets),
    metrics: { feature_label_allowlist: c.metrics.featureLabelAllowlist },
    pricing: c.pricing,
    rules: c.rules,
    influxdb: c.influxdb === null ? null : Object.fromEntries(Object.entries(c.influxdb).map(([k, v]) => [k, k === 'token' || k === 'password' ? set(v) : k === 'url' && typeof v === 'string' ? redactUrl(v) : v])),
    // Notifiers carry SMTP passwords, webhook secrets and secret URLs: only their names and types.
    notifiers: c.notifiers.map((n) => ({ name: n['name'], type: n['type'] })),
    reconcile: r === null ? null : {
      schedule: r.schedule, admin_key: set(r.adminKey), api: r.api, tolerance: r.tolerance, lookback_days: r.lookbackDays,
      bucket: r.bucket, split_by: r.split, api_keys: r.apiKeys, base_url: redactUrl(r.baseUrl),
    },
  };
}
