/**
 * Emitter configuration from the environment alone, so operators can switch it on, off or
 * redirect it without touching code. A malformed value is reported once on stderr and
 * ignored: configuration mistakes must not break the application.
 */
import type { EmitterOptions } from './emitter.js';
import { setTag } from './tags.js';

/** Set to `1`, `true` or `yes` to turn the emitter into a pass-through. */
export const ENV_DISABLED = 'CLAUDESCOPE_DISABLED';

export interface EnvConfig {
  disabled: boolean;
  options: EmitterOptions;
}

const NUMERIC: ReadonlyArray<readonly [string, keyof EmitterOptions]> = [
  ['CLAUDESCOPE_MAX_FILE_BYTES', 'maxFileBytes'],
  ['CLAUDESCOPE_MAX_FILE_AGE_MS', 'maxFileAgeMs'],
  ['CLAUDESCOPE_MAX_DIR_BYTES', 'maxDirBytes'],
  ['CLAUDESCOPE_MAX_BUFFER_BYTES', 'maxBufferBytes'],
  ['CLAUDESCOPE_FLUSH_INTERVAL_MS', 'flushIntervalMs'],
  ['CLAUDESCOPE_FLUSH_TIMEOUT_MS', 'flushTimeoutMs'],
  ['CLAUDESCOPE_STATS_INTERVAL_MS', 'statsIntervalMs'],
];

export function emitterOptionsFromEnv(env: NodeJS.ProcessEnv): EnvConfig {
  const disabled = /^(1|true|yes|on)$/i.test(env[ENV_DISABLED] ?? '');
  const options: EmitterOptions = {};
  if (disabled) return { disabled, options };
  const set = options as Record<string, unknown>;
  if (env['CLAUDESCOPE_EVENTS_DIR']) options.dir = env['CLAUDESCOPE_EVENTS_DIR'];
  if (env['CLAUDESCOPE_APP']) options.app = env['CLAUDESCOPE_APP'];
  if (env['CLAUDESCOPE_ENV']) options.env = env['CLAUDESCOPE_ENV'];
  if (env['CLAUDESCOPE_API_KEY_ALIAS']) options.apiKeyAlias = env['CLAUDESCOPE_API_KEY_ALIAS'];
  const tags = env['CLAUDESCOPE_TAGS'];
  if (tags) options.tags = parseTags(tags);
  for (const [name, key] of NUMERIC) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (Number.isInteger(n) && n > 0) set[key] = n;
    else warnOnce(`claudescope: ignoring ${name}=${JSON.stringify(raw)} (expected a positive integer)`);
  }
  return { disabled, options };
}

/** `feature=search,team=core` → `{ feature: 'search', team: 'core' }`. */
export function parseTags(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      if (part.trim() !== '') warnOnce(`claudescope: ignoring ${JSON.stringify(part.trim())} in CLAUDESCOPE_TAGS (expected name=value)`);
      continue;
    }
    setTag(out, part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

const warned = new Set<string>();
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(message + '\n');
}
