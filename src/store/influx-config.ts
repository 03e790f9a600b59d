/**
 * The `influxdb:` block of the daemon's configuration, turned into the settings the sink and
 * the InfluxQL query interface use. The field types are checked by the config schema (with
 * file and line); this adds what needs more than one field (credentials, files, URL).
 *
 * @example
 * # config.yaml
 * influxdb:
 *   url: http://influxdb:8086
 *   api: v2                  # v2 (/api/v2/write: InfluxDB 1.8+, 2.x, 3.x, Cloud) or v1 (/write, older 1.x)
 *   org: claudescope
 *   bucket: claudescope      # or claudescope/<retention policy>
 *   token_file: /run/secrets/influx-token
 *   embedded_store: true     # keep the SQLite store too (default); false: InfluxDB alone
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { InfluxConnection } from './influx-writer.js';
import { whyUnreadable } from '../fs-errors.js';

export interface InfluxSettings {
  connection: InfluxConnection;
  /** Keep the embedded SQLite store as well. Default true. */
  embeddedStore: boolean;
  /** Default 500 ms. */
  minRetryDelayMs: number;
  /** Default 30 000 ms. */
  maxRetryDelayMs: number;
  /** How often this host's `claudescope_pipeline` point is written; 0 disables. Default 10 000 ms. */
  healthIntervalMs: number;
  /**
   * The `host` tag of this daemon's `claudescope_pipeline` points; null: the name kept in the
   * data folder (see src/daemon/instance-name.ts).
   */
  instance: string | null;
  /** On shutdown, how long a write to a down InfluxDB may keep retrying. Default 5000 ms. */
  stopTimeoutMs: number;
}

export class InfluxConfigError extends Error {
  readonly code = 'E_CONFIG_INVALID';
  constructor(readonly field: string, message: string) {
    super(`influxdb.${field}: ${message}`);
    this.name = 'InfluxConfigError';
  }
}

/** Environment variables that supply secrets without writing them in the file. */
export const INFLUX_ENV = { token: 'CLAUDESCOPE_INFLUXDB_TOKEN', password: 'CLAUDESCOPE_INFLUXDB_PASSWORD' } as const;

/**
 * @param block the validated `influxdb:` mapping (snake_case), or null/undefined: no sink.
 * @param configFile the config file, to resolve relative `*_file` paths next to it.
 */
export function parseInfluxSettings(block: Record<string, unknown> | null | undefined, configFile: string | null = null, env: NodeJS.ProcessEnv = process.env): InfluxSettings | null {
  if (block === null || block === undefined) return null;
  const str = (k: string): string | null => (typeof block[k] === 'string' ? block[k] : null);
  const num = (k: string, d: number): number => (typeof block[k] === 'number' ? block[k] : d);
  const url = str('url');
  if (url === null) throw new InfluxConfigError('url', 'required (e.g. http://127.0.0.1:8086)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InfluxConfigError('url', `not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InfluxConfigError('url', 'expected http:// or https://');
  if (parsed.username || parsed.password) throw new InfluxConfigError('url', 'put credentials in token/token_file or username/password, not in the URL');
  const readSecret = (field: string): string => {
    const p = str(field)!;
    const abs = isAbsolute(p) ? p : resolve(configFile ? dirname(configFile) : process.cwd(), p);
    try {
      return readFileSync(abs, 'utf8').split('\n')[0]!.trim();
    } catch (err: unknown) {
      throw new InfluxConfigError(field, `cannot read ${abs}: ${whyUnreadable(err)}`);
    }
  };
  // A secret: its environment variable, else the field or the first line of its *_file. The
  // environment ranks above the config file (flags > environment > file), so a variable set for
  // one run replaces the file's value instead of being ignored (its *_file is then not read).
  const secret = (field: keyof typeof INFLUX_ENV): string | null => {
    const file = `${field}_file`;
    if (str(field) !== null && str(file) !== null) throw new InfluxConfigError(file, `set ${field} or ${file}, not both`);
    const fromEnv = env[INFLUX_ENV[field]];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return str(field) ?? (str(file) !== null ? readSecret(file) : null);
  };
  const token = secret('token');
  const username = str('username');
  const password = secret('password');
  if (token !== null && username !== null) throw new InfluxConfigError('username', 'set a token or username/password, not both');
  const api = (str('api') ?? 'v2') as 'v1' | 'v2';
  const bucket = str('bucket') ?? 'claudescope';
  let database = str('database') ?? bucket;
  let retentionPolicy = str('retention_policy');
  if (api === 'v2') {
    const slash = bucket.indexOf('/');
    if (slash === 0) throw new InfluxConfigError('bucket', `${JSON.stringify(bucket)} names no database before the slash (expected database/retention_policy)`);
    const bucketDb = slash > 0 ? bucket.slice(0, slash) : bucket;
    // A database other than the bucket's is a DBRP mapping of its own (InfluxDB 2.x), which the
    // queries read at retention_policy, or at its default.
    const mapped = str('database') !== null && str('database') !== bucketDb;
    // /api/v2/write names no retention policy: InfluxDB 1.8 writes to the database's default
    // one unless the bucket reads `database/retention_policy`, and 2.x writes to the bucket. A
    // retention policy of the bucket's own database set apart would send the queries to one
    // the points never reach.
    if (retentionPolicy !== null && !mapped) {
      throw new InfluxConfigError('retention_policy', `not with api: v2 and the bucket's own database, whose writes name no retention policy (InfluxDB 1.8 would write to the database's default one while queries read this one); name it in the bucket instead (bucket: ${bucketDb}/${retentionPolicy}), or use api: v1; on InfluxDB 2.x, whose queries read a DBRP mapping, set database to the mapping's database`);
    }
    // A `database/retention_policy` bucket is that database and retention policy to InfluxDB 1.8
    // (at the first slash) and, through its virtual DBRP mapping, to InfluxDB 2.x: queries read
    // the same.
    if (slash > 0 && !mapped) {
      const rp = bucket.slice(slash + 1);
      database = bucketDb;
      retentionPolicy = rp !== '' ? rp : null;
    }
  }
  const minRetryDelayMs = num('min_retry_delay_ms', 500);
  const maxRetryDelayMs = num('max_retry_delay_ms', 30_000);
  if (maxRetryDelayMs < minRetryDelayMs) throw new InfluxConfigError('max_retry_delay_ms', 'must be at least min_retry_delay_ms');
  return {
    connection: {
      url: url.replace(/\/+$/, ''), api, org: str('org') ?? '', bucket, database,
      retentionPolicy, token, username, password, timeoutMs: num('timeout_ms', 10_000),
    },
    embeddedStore: typeof block['embedded_store'] === 'boolean' ? block['embedded_store'] : true,
    minRetryDelayMs, maxRetryDelayMs,
    healthIntervalMs: num('health_interval_ms', 10_000),
    instance: str('instance'),
    stopTimeoutMs: num('stop_timeout_ms', 5000),
  };
}
