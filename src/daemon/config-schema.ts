/**
 * The shape of the daemon's configuration as data, and one validator for every source (YAML
 * file, environment, flags): each problem names where it came from and the field, e.g.
 * `config.yaml:7: listen.port: expected an integer 0-65535, got "abc"`.
 *
 * Unknown fields are errors: a typo (`listen.prot`) must never pass silently.
 */

import { RECONCILE_SCHEMA } from '../reconcile/settings.js';

/** A field's type. `nullable` also accepts an explicit `null` (meaning "off" / "none"). */
export type FieldSpec =
  | { kind: 'object'; fields: Record<string, FieldSpec>; nullable?: boolean }
  /** A map with free keys (e.g. feature names), each value of one spec. */
  | { kind: 'map'; values: FieldSpec; nullable?: boolean }
  | { kind: 'int'; min: number; max: number; nullable?: boolean }
  | { kind: 'number'; min: number; nullable?: boolean; /** `min` itself refused (with why). */ aboveMin?: string;
      /** Values from this up refused (with why). */ below?: { value: number; why: string } }
  | { kind: 'string'; nonEmpty?: boolean; nullable?: boolean; /** What is wrong with a value (`expected …`), or null when it is fine. */ check?: (v: string) => string | null }
  | { kind: 'enum'; values: readonly string[]; nullable?: boolean }
  | { kind: 'boolean'; nullable?: boolean }
  | { kind: 'string_list'; /** The only strings allowed, when the list is of names the code knows. */ values?: readonly string[] }
  /** Any mapping, passed through unchanged to the part that owns it (which validates it). */
  | { kind: 'opaque_object'; nullable?: boolean }
  /** A list of mappings, each passed through unchanged to the part that owns it (notifiers). */
  | { kind: 'opaque_list' };

const usd = (): FieldSpec => ({ kind: 'number', min: 0, nullable: true });
// 0 days would delete every row at start; a tool that reads 0 as "keep" is common: refused.
const days = (): FieldSpec => ({ kind: 'number', min: 0, nullable: true, aboveMin: 'leave it unset (or null) to keep everything' });

/** The config file's schema (snake_case keys, as written in YAML). */
export const CONFIG_SCHEMA: FieldSpec = {
  kind: 'object',
  fields: {
    listen: {
      kind: 'object',
      fields: {
        host: { kind: 'string', nonEmpty: true },
        // 0: a free port, named in the log line `started on …`.
        port: { kind: 'int', min: 0, max: 65535 },
      },
    },
    auth: {
      kind: 'object',
      fields: {
        token: { kind: 'string', nonEmpty: true, nullable: true },
        token_file: { kind: 'string', nonEmpty: true, nullable: true },
        require_token: { kind: 'boolean' },
      },
    },
    retention: {
      kind: 'object',
      fields: {
        rows_days: days(),
        rollups_days: days(),
        sealed_files: { kind: 'enum', values: ['delete', 'archive', 'keep'] },
      },
    },
    tail: {
      kind: 'object',
      fields: {
        poll_interval_ms: { kind: 'int', min: 10, max: 600_000 },
        batch_interval_ms: { kind: 'int', min: 0, max: 60_000 },
        max_open_files: { kind: 'int', min: 1, max: 1_048_576 },
      },
    },
    budgets: {
      kind: 'object',
      fields: {
        daily_usd: usd(),
        monthly_usd: usd(),
        per_feature: {
          kind: 'map',
          values: { kind: 'object', fields: { daily_usd: usd(), monthly_usd: usd() } },
        },
      },
    },
    metrics: {
      kind: 'object',
      fields: {
        feature_label_allowlist: { kind: 'string_list' },
      },
    },
    pricing: { kind: 'opaque_object', nullable: true },
    rules: {
      kind: 'object',
      fields: {
        dirs: { kind: 'string_list' },
        // Which store the rules read: the embedded one (this host), or InfluxDB (the fleet).
        store: { kind: 'enum', values: ['embedded', 'influxdb'], nullable: true },
      },
    },
    // The InfluxDB sink (src/store/influx-config.ts checks what spans fields); null or absent: none.
    influxdb: {
      kind: 'object',
      nullable: true,
      fields: {
        url: { kind: 'string', nonEmpty: true },
        api: { kind: 'enum', values: ['v2', 'v1'] },
        org: { kind: 'string' },
        bucket: { kind: 'string', nonEmpty: true },
        database: { kind: 'string', nonEmpty: true },
        retention_policy: { kind: 'string', nonEmpty: true, nullable: true },
        token: { kind: 'string', nonEmpty: true, nullable: true },
        token_file: { kind: 'string', nonEmpty: true, nullable: true },
        username: { kind: 'string', nonEmpty: true, nullable: true },
        password: { kind: 'string', nullable: true },
        password_file: { kind: 'string', nonEmpty: true, nullable: true },
        embedded_store: { kind: 'boolean' },
        timeout_ms: { kind: 'int', min: 100, max: 600_000 },
        min_retry_delay_ms: { kind: 'int', min: 1, max: 600_000 },
        max_retry_delay_ms: { kind: 'int', min: 1, max: 3_600_000 },
        health_interval_ms: { kind: 'int', min: 0, max: 3_600_000 },
        // The host tag of this daemon's health points; default: kept in the data folder.
        instance: { kind: 'string', nonEmpty: true, nullable: true },
        stop_timeout_ms: { kind: 'int', min: 0, max: 600_000 },
      },
    },
    /** Alert notifiers (email, webhook, slack, alertmanager), validated by src/notify when the daemon starts. */
    notifiers: { kind: 'opaque_list' },
    /** `claudescope reconcile` against the Admin usage and cost reports (schedule, key, API, tolerance). */
    reconcile: RECONCILE_SCHEMA,
  },
};

/** One problem found in one source. */
export interface ConfigProblem {
  /** `config.yaml:7`, `CLAUDESCOPE_LISTEN_PORT`, `--port`. */
  where: string;
  /** Dotted field path, e.g. `listen.port`. */
  field: string;
  message: string;
}

export const formatProblem = (p: ConfigProblem): string => `${p.where}: ${p.field}: ${p.message}`;

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
};

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks `value` against `spec`, appending problems. `where(path)` says where a field came
 * from (a file line, an environment variable, a flag).
 */
export function validateAgainst(value: unknown, spec: FieldSpec, path: string, where: (path: string) => string, out: ConfigProblem[]): void {
  const bad = (message: string): void => {
    out.push({ where: where(path), field: path || '(root)', message });
  };
  if (value === null && 'nullable' in spec && spec.nullable) return;
  switch (spec.kind) {
    case 'object': {
      if (!isPlainObject(value)) return bad(`expected a mapping, got ${show(value)}`);
      for (const [k, v] of Object.entries(value)) {
        const child = path ? `${path}.${k}` : k;
        const fs = spec.fields[k];
        if (!fs) {
          out.push({ where: where(child), field: child, message: `unknown field (known: ${Object.keys(spec.fields).join(', ')})` });
          continue;
        }
        validateAgainst(v, fs, child, where, out);
      }
      return;
    }
    case 'map': {
      if (!isPlainObject(value)) return bad(`expected a mapping, got ${show(value)}`);
      for (const [k, v] of Object.entries(value)) validateAgainst(v, spec.values, `${path}.${k}`, where, out);
      return;
    }
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        bad(`expected an integer ${spec.min}-${spec.max}, got ${show(value)}`);
      }
      return;
    case 'number': {
      const lowest = spec.aboveMin === undefined ? `≥ ${spec.min}` : `> ${spec.min} (${spec.aboveMin})`;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || (spec.aboveMin !== undefined && value === spec.min)) bad(`expected a number ${lowest}, got ${show(value)}`);
      else if (spec.below !== undefined && value >= spec.below.value) bad(`expected a number below ${spec.below.value} (${spec.below.why}), got ${show(value)}`);
      return;
    }
    case 'string':
      if (typeof value !== 'string') bad(`expected a string, got ${show(value)}`);
      else if (spec.nonEmpty && value.trim() === '') bad('expected a non-empty string');
      else {
        const problem = spec.check?.(value) ?? null;
        if (problem !== null) bad(`${problem}, got ${show(value)}`);
      }
      return;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) bad(`expected one of ${spec.values.join(', ')}, got ${show(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') bad(`expected true or false, got ${show(value)}`);
      return;
    case 'string_list':
      if (!Array.isArray(value)) return bad(`expected a list of strings, got ${show(value)}`);
      value.forEach((v, i) => {
        if (typeof v !== 'string' || v === '') out.push({ where: where(`${path}[${i}]`), field: `${path}[${i}]`, message: `expected a non-empty string, got ${show(v)}` });
        else if (spec.values !== undefined && !spec.values.includes(v)) out.push({ where: where(`${path}[${i}]`), field: `${path}[${i}]`, message: `expected one of ${spec.values.join(', ')}, got ${show(v)}` });
      });
      return;
    case 'opaque_object':
      if (!isPlainObject(value)) bad(`expected a mapping, got ${show(value)}`);
      return;
    case 'opaque_list':
      if (!Array.isArray(value)) return bad(`expected a list of mappings, got ${show(value)}`);
      value.forEach((v, i) => {
        if (!isPlainObject(v)) out.push({ where: where(`${path}[${i}]`), field: `${path}[${i}]`, message: `expected a mapping, got ${show(v)}` });
        else if (typeof v['name'] !== 'string' || typeof v['type'] !== 'string') out.push({ where: where(`${path}[${i}]`), field: `${path}[${i}]`, message: 'a notifier needs a name and a type (email, webhook, slack, alertmanager)' });
      });
      return;
    default: {
      const never: never = spec;
      throw new Error(`unknown field spec ${JSON.stringify(never)}`);
    }
  }
}

/** Reads `"a.b.c"` from a parsed layer. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** Sets `"a.b.c"` in a layer, creating mappings on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (isPlainObject(next)) cur = next;
    else cur = cur[k] = {};
  }
  cur[keys[keys.length - 1]!] = value;
}

/**
 * Layers merged field by field: a later layer's value wins; mappings merge, except the
 * opaque ones (`pricing`, `influxdb`) and lists, which a later layer replaces whole.
 */
export function mergeLayers(spec: FieldSpec, layers: unknown[]): unknown {
  let result: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    result = mergeTwo(spec, result, layer);
  }
  return result;
}

function mergeTwo(spec: FieldSpec, a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if ((spec.kind === 'object' || spec.kind === 'map') && isPlainObject(a) && isPlainObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const child = spec.kind === 'object' ? spec.fields[k] : spec.values;
      out[k] = child ? mergeTwo(child, a[k], v) : v;
    }
    return out;
  }
  return b;
}
