/**
 * docs/fake-api.md names the script fields, the headers every reply carries and the models of
 * the fake's bill: they must be the fake's own.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeApi } from '../../src/testing/index.js';
import { validateScript } from '../../src/testing/script-validate.js';
import { DEFAULT_BILLING_PRICES } from '../../src/testing/billing-ledger.js';
import { hello } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const page = readFileSync(join(root, 'docs', 'fake-api.md'), 'utf8');

/** The fields the validator knows at `path`, as its message for an unknown one lists them. */
function knownFields(wrap: (probe: Record<string, unknown>) => unknown): string[] {
  try {
    validateScript(wrap({ no_such_field: 1 }));
  } catch (err: unknown) {
    const known = /unknown field \(known: ([^)]*)\)/.exec((err as Error).message)?.[1];
    if (known !== undefined) return known.split(', ').sort();
  }
  throw new Error('the script validator took an unknown field');
}

/** The row of the script table for `field`. */
function row(field: string): string {
  const r = page.split('\n').find((l) => l.startsWith(`| \`${field}\``));
  if (!r) throw new Error(`docs/fake-api.md has no row for ${field}`);
  return r;
}

/** Names in backquotes (`name`, or `name: …` for a nested object). */
const names = (text: string): string[] => [...new Set([...text.matchAll(/`([A-Za-z_0-9-]+)(?:`|:)/g)].map((m) => m[1]!))];

test('the script table of docs/fake-api.md names every field of a script, and no other', (t) => {
  const rows = page.split('\n').filter((l) => /^\| `[a-zA-Z]+`/.test(l));
  const documented = rows.flatMap((l) => names(l.split(' | ')[0]!)).sort();
  t.deepEqual(documented, knownFields((p) => p));
});

test('the usage and stream rows of docs/fake-api.md name every field they take', (t) => {
  const usageRow = row('usage').split(' | ')[1]!;
  const usage = names(usageRow).filter((n) => !/^ephemeral_/.test(n));
  t.deepEqual(usage.sort(), knownFields((p) => ({ usage: p })));
  const streamRow = row('stream').split(' | ')[1]!;
  // `stream: true`, `event: error` and the values of deltaUsage are not fields.
  const stream = names(streamRow).filter((n) => !['stream', 'event', 'minimal', 'full', 'auto'].includes(n));
  t.deepEqual(stream.sort(), knownFields((p) => ({ stream: p })));
});

test('the bill of docs/fake-api.md lists the models the fake prices', (t) => {
  const paragraph = page.slice(page.indexOf('## Its bill'));
  const listed = /It\s+lists ([\s\S]*?), and bills every other model/.exec(paragraph)?.[1];
  if (!listed) throw new Error('docs/fake-api.md no longer lists the bill\'s models');
  t.deepEqual(names(listed).sort(), Object.keys(DEFAULT_BILLING_PRICES).sort());
});

test('the headers of each reply are as docs/fake-api.md says', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const post = (script?: string) => fetch(`${api.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'test', 'anthropic-version': '2023-06-01', ...(script ? { 'x-fake-script': script } : {}) },
    body: JSON.stringify(hello),
  });
  const identity = ['anthropic-organization-id', 'anthropic-workspace-id'];
  const has = (r: Response, names: string[]) => names.every((n) => r.headers.has(n));
  const limits = (r: Response) => [...r.headers.keys()].some((k) => k.startsWith('anthropic-ratelimit-'));

  const ok = await post();
  t.is(ok.status, 200);
  t.true(has(ok, ['request-id', ...identity]) && limits(ok));
  // The header example of the page.
  const example = /'x-fake-script': '(\{[^']*\})'/.exec(page)?.[1];
  t.is(example, '{"status":529}');
  const overloaded = await post(example);
  t.is(overloaded.status, 529);
  t.true(has(overloaded, ['request-id', ...identity]));
  t.false(limits(overloaded));
  const limited = await post('{"status":429}');
  t.true(has(limited, ['request-id', ...identity]) && limits(limited));
  for (const status of [401, 413]) {
    const r = await post(JSON.stringify({ status }));
    t.is(r.status, status);
    t.true(r.headers.has('request-id'));
    t.false(identity.some((n) => r.headers.has(n)) || limits(r));
  }
});
