/**
 * The JSON examples of docs/dashboard.md have the fields the daemon's API answers with, no
 * more and no less, and the page's files are the ones the page lists.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSeededDaemon, spreadWorkload } from './harness.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const page = readFileSync(join(root, 'docs', 'dashboard.md'), 'utf8');

/** The example under a `### ` heading: its fenced JSON block, else its first inline JSON. */
function example(heading: string): unknown {
  const start = page.indexOf(`\n### \`${heading}`);
  if (start < 0) throw new Error(`docs/dashboard.md lost its section ${heading}`);
  const text = page.slice(start, page.indexOf('\n#', start + 1));
  const json = /```json\n([\s\S]*?)```/.exec(text)?.[1] ?? /`(\{".*\})`/.exec(text)?.[1];
  if (json === undefined) throw new Error(`docs/dashboard.md has no example under ${heading}`);
  return JSON.parse(json) as unknown;
}

/** Maps whose keys are values (model names, features), not fields. */
const FREE_KEYS = new Set(['series', 'per_feature']);

/** Every field path of a JSON value (a list by its first item); `nulls` gets the paths that hold null. */
function paths(v: unknown, prefix: string, out: Set<string>, nulls: Set<string>): Set<string> {
  if (v === null) nulls.add(prefix);
  else if (Array.isArray(v)) {
    if (v.length > 0) paths(v[0], `${prefix}[]`, out, nulls);
  } else if (typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = prefix === '' ? k : `${prefix}.${k}`;
      out.add(p);
      if (!FREE_KEYS.has(k)) paths(child, p, out, nulls);
    }
  }
  return out;
}

/** The fields one side has and the other lacks, leaving out those under a value null on either side. */
function differences(documented: unknown, served: unknown): { undocumented: string[]; notServed: string[] } {
  const nulls = new Set<string>();
  const doc = paths(documented, '', new Set(), nulls);
  const real = paths(served, '', new Set(), nulls);
  const underNull = (p: string) => [...nulls].some((n) => p.startsWith(`${n}.`) || p.startsWith(`${n}[]`));
  return {
    undocumented: [...real].filter((p) => !doc.has(p) && !underNull(p)),
    notServed: [...doc].filter((p) => !real.has(p) && !underNull(p)),
  };
}

test('the JSON examples of docs/dashboard.md have the fields the API answers with', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload(), { budgets: { dailyUsd: 50, monthlyUsd: 1000, perFeature: { search: { dailyUsd: 10, monthlyUsd: null } } } });
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${daemon.url}${path}`);
    t.is(res.status, 200, path);
    return res.json();
  };
  for (const [heading, path] of [
    ['GET /api/config', '/api/config'],
    ['GET /api/summary', '/api/summary'],
    ['GET /api/timeseries', '/api/timeseries?from=now-1h&step=30m'],
  ] as const) {
    t.deepEqual(differences(example(heading), await get(path)), { undocumented: [], notServed: [] }, heading);
  }
  // The calls' fields, listed in prose.
  const listed = /Each call: `([^`]+)`/.exec(page)?.[1];
  if (!listed) throw new Error('docs/dashboard.md no longer lists a call\'s fields');
  const calls = (await get('/api/calls?limit=1')) as { calls: Record<string, unknown>[] };
  t.deepEqual(Object.keys(calls.calls[0]!), listed.split(/,\s+/));
  const detail = (await get(`/api/calls/${String(calls.calls[0]!['event_id'])}`)) as Record<string, unknown>;
  t.deepEqual(Object.keys(detail), ['call', 'attempts', 'price', 'event']);
});

test('the page is the static files docs/dashboard.md names', (t) => {
  const sentence = /The page is (\w+)\s+static files shipped in the package \(`src\/daemon\/web\/`: ([^)]*)\)/.exec(page);
  if (!sentence) throw new Error('docs/dashboard.md no longer lists the page\'s files');
  const listed = [...sentence[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).sort();
  t.deepEqual(listed, readdirSync(join(root, 'src', 'daemon', 'web')).sort());
  t.is(sentence[1], ['zero', 'one', 'two', 'three', 'four', 'five', 'six'][listed.length]);
});
