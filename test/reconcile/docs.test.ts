/**
 * The `reconcile:` example of docs/reconcile.md is the block people copy: it must load as the
 * daemon loads it, show every key the block accepts, and say truly where the Admin API's
 * address comes from.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { RECONCILE_SCHEMA } from '../../src/reconcile/settings.js';
import { tempHome } from '../helpers/event-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function documentedBlock(): string {
  const doc = readFileSync(join(root, 'docs', 'reconcile.md'), 'utf8');
  const m = /```yaml\n(reconcile:\n[\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/reconcile.md lost its reconcile: example');
  return m[1]!;
}

test('the reconcile: example of docs/reconcile.md shows every key of the block', (t) => {
  if (RECONCILE_SCHEMA.kind !== 'object') throw new Error('the reconcile: schema is not a mapping');
  // A key commented out (admin_key, better kept in the environment) is shown all the same.
  const shown = new Set([...documentedBlock().matchAll(/^ {2}(?:# )?([a-z_]+):/gm)].map((m) => m[1]!));
  t.deepEqual(Object.keys(RECONCILE_SCHEMA.fields).filter((k) => !shown.has(k)), []);
});

test('the reconcile: example loads as documented, base_url first, then ANTHROPIC_ADMIN_BASE_URL, then the public API', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const file = join(h.home, 'config.yaml');
  const block = documentedBlock();
  const baseUrl = /^ {2}base_url: (\S+)/m.exec(block)?.[1];
  t.is(baseUrl, 'https://api.anthropic.com');
  const load = (text: string, env: NodeJS.ProcessEnv = {}) => {
    writeFileSync(file, text);
    return loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: h.home, ...env } }).reconcile;
  };
  const elsewhere = 'http://127.0.0.1:8123';
  t.like(load(block, { ANTHROPIC_ADMIN_BASE_URL: elsewhere }), {
    schedule: '17 6 * * *', api: 'analytics', tolerance: 0.02, lookbackDays: 3, bucket: '1d', split: ['workspace'], apiKeys: { checkout: 'apikey_01AbCd' }, baseUrl,
  });
  const without = block.replace(/^ {2}base_url: .*\n/m, '');
  t.not(without, block);
  t.is(load(without, { ANTHROPIC_ADMIN_BASE_URL: elsewhere })?.baseUrl, elsewhere);
  t.is(load(without)?.baseUrl, 'https://api.anthropic.com');
});
