import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { tempDir } from '../helpers/events.js';
import { ADMIN_KEY, runWorkload } from './helpers.js';

const run = promisify(execFile);
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: unknown) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('claudescope reconcile prints the table, JSON and CSV, stores each run, and never prints the admin key', async (t) => {
  const w = await runWorkload(t);
  const env = { ANTHROPIC_ADMIN_KEY: ADMIN_KEY, CLAUDESCOPE_HOME: w.home };
  const base = ['reconcile', '--since', '1d', '--base-url', w.api.url, '--no-prices'];

  const table = await cli([...base, '--api', 'legacy'], env);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /claude-sonnet-5-5 .* !/);
  t.regex(table.stdout, /likely: calls from processes without the emitter/);
  t.regex(table.stdout, /likely: batch results not yet read/);
  // Without local rates the stale price is still named: tokens agree, money does not.
  t.regex(table.stdout, /likely: prices out of date: tokens agree but the local cost is/);
  t.regex(table.stderr, /results stored as run /);

  const json = await cli([...base, '--json', '--tolerance', '2%'], env);
  t.is(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout) as { api: string; flagged_cells: number; cells: { model: string; causes: { code: string }[] }[] };
  t.is(r.api, 'analytics');
  t.is(r.flagged_cells, 3);

  const csv = await cli([...base, '--csv', '--no-store'], env);
  t.is(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  t.true(lines[0]!.startsWith('bucket_start,bucket_end,model,workspace,api_key,local_uncached_input_tokens,billed_uncached_input_tokens'));
  t.true(lines.slice(1).some((l) => l.includes('claude-haiku-5-5') && l.includes('batch results not yet read')));

  for (const out of [table, json, csv]) {
    t.false(out.stdout.includes(ADMIN_KEY));
    t.false(out.stderr.includes(ADMIN_KEY));
  }
  // Two runs stored (the CSV one was not).
  await w.pipeline.stop();
  const store = SqliteStore.open({ path: join(w.home, 'data', 'claudescope.db'), readonly: true });
  t.teardown(() => store.close());
  t.is((store.db.prepare('SELECT COUNT(*) AS n FROM reconciliation_runs').get() as { n: number }).n, 2);
  t.is((await store.reconciliationCapture()).length, 3);
});

test('claudescope reconcile without an admin key fails with a message that says where to set it', async (t) => {
  const w = await runWorkload(t);
  const r = await cli(['reconcile', '--base-url', w.api.url], { CLAUDESCOPE_HOME: w.home, ANTHROPIC_ADMIN_KEY: '' });
  t.not(r.code, 0);
  t.regex(r.stderr, /ANTHROPIC_ADMIN_KEY/);
});

test('a wrong key is refused with the status and a hint, and the key is not echoed', async (t) => {
  const w = await runWorkload(t);
  const wrong = 'sk-ant-api03-NOTANADMINKEY-abcdefghijklmnop';
  const r = await cli(['reconcile', '--base-url', w.api.url, '--api', 'legacy'], { CLAUDESCOPE_HOME: w.home, ANTHROPIC_ADMIN_KEY: wrong });
  t.not(r.code, 0);
  t.regex(r.stderr, /HTTP 401/);
  t.false(r.stderr.includes(wrong));
});

test('a base URL that is not an http(s) URL is refused before any request, named by the flag, variable or file line it came from', async (t) => {
  const home = tempDir(t);
  const env = { CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '', ANTHROPIC_ADMIN_KEY: ADMIN_KEY, ANTHROPIC_ADMIN_BASE_URL: '' };
  const flag = await cli(['reconcile', '--no-store', '--base-url', 'api.anthropic.com'], env);
  t.not(flag.code, 0);
  t.is(flag.stderr, 'claudescope: --base-url: expected an http(s) URL such as https://api.anthropic.com, got "api.anthropic.com"\n');
  const fromEnv = await cli(['reconcile', '--no-store'], { ...env, ANTHROPIC_ADMIN_BASE_URL: 'nope' });
  t.not(fromEnv.code, 0);
  t.is(fromEnv.stderr, 'claudescope: ANTHROPIC_ADMIN_BASE_URL: expected an http(s) URL such as https://api.anthropic.com, got "nope"\n');
  const config = join(home, 'config.yaml');
  writeFileSync(config, 'reconcile:\n  base_url: nope\n');
  const fromFile = await cli(['reconcile', '--no-store'], env);
  t.not(fromFile.code, 0);
  t.is(fromFile.stderr, `claudescope: invalid configuration:\n  ${config}:2: reconcile.base_url: expected an http(s) URL such as https://api.anthropic.com, got "nope"\n`);
  t.false([flag, fromEnv, fromFile].some((r) => r.stderr.includes(ADMIN_KEY)));
});
