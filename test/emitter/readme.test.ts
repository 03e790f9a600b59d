/**
 * The README's emitter configuration: the settings it names are `EmitterOptions`' own, and its
 * environment table names every variable the emitter reads, each setting what the table says.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmitterOptions } from '../../src/emitter/emitter.js';
import { WARNING_CODES } from '../../src/emitter/warnings.js';
import { emitterOptionsFromEnv } from '../../src/emitter/emitter-env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const configuration = readme.slice(readme.indexOf('### Configuration'), readme.indexOf('### What the emitter guarantees'));

/** Every key of EmitterOptions (the type-check fails when one is added or removed), and whether the README names it. */
const OPTIONS: Record<keyof EmitterOptions, boolean> = {
  dir: true, app: true, host: true, env: true, apiKeyAlias: true, tags: true, maxFileBytes: true, maxFileAgeMs: true,
  maxDirBytes: true, maxBufferBytes: true, flushIntervalMs: true, flushTimeoutMs: true, statsIntervalMs: true, redact: true,
  // Seams for tests, not settings.
  fs: false, emitter: false, pid: false, now: false,
};

test('the README names every setting of EmitterOptions', (t) => {
  const sentence = /In\s+code the settings are ([\s\S]*?) \(types and defaults in `EmitterOptions`\)/.exec(configuration)?.[1];
  if (!sentence) throw new Error('README.md no longer lists the emitter\'s settings');
  const named = [...sentence.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!);
  t.deepEqual(named.sort(), Object.entries(OPTIONS).filter(([, shown]) => shown).map(([k]) => k).sort());
});

test('the README\'s environment table names every variable the emitter reads', (t) => {
  const documented = [...configuration.matchAll(/^\| `(CLAUDESCOPE_[A-Z_]+)` \|/gm)].map((m) => m[1]!);
  const emitterDir = join(root, 'src', 'emitter');
  const warningCodes = new Set<string>(Object.values(WARNING_CODES));
  const read = new Set(readdirSync(emitterDir).flatMap((f) => [...readFileSync(join(emitterDir, f), 'utf8').matchAll(/'(CLAUDESCOPE_[A-Z_]+)'/g)].map((m) => m[1]!)).filter((name) => !warningCodes.has(name)));
  t.deepEqual([...documented].sort(), [...read].sort());
});

test('each numeric variable of the README sets the setting of the same name', (t) => {
  const rows = [...configuration.matchAll(/^\| `CLAUDESCOPE_((?:MAX|FLUSH|STATS)_[A-Z_]+)` \|/gm)].map((m) => m[1]!);
  t.true(rows.length >= 6);
  for (const name of rows) {
    const key = name.toLowerCase().replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    t.is((emitterOptionsFromEnv({ [`CLAUDESCOPE_${name}`]: '12345' }).options as Record<string, unknown>)[key], 12345, name);
  }
});
