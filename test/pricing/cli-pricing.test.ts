import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cli(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const event = {
  t: 'call',
  event_id: 'evt_cli',
  ts: Date.parse('2026-10-10T10:00:00Z'),
  provider: 'anthropic',
  model: 'claude-haiku-5-5',
  usage: { input_tokens: 90000, cache_read_input_tokens: 20000, output_tokens: 1000, service_tier: 'batch', inference_geo: 'us' },
};

test('claudescope pricing lists the catalog as a table and as JSON', (t) => {
  const table = cli(['pricing', '--model', 'claude-sonnet-5-5']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /claude-sonnet-5-5\s+standard\s+2026-10-07\s+…\s+2\s+2\.5\s+4\s+0\.1\*\s+10/);
  const json = cli(['pricing', '--json', '--at', '2026-10-08']);
  t.is(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { pricing_version: string; as_of: string; rows: { model: string; cache_read: number | null }[] };
  t.is(parsed.as_of, '2026-11-26');
  t.is(parsed.rows.find((r) => r.model === 'claude-sonnet-5-5')?.cache_read, 0.1);
});

test('claudescope pricing explain prices an event file or stdin part by part, with overrides from --config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-pricing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'call.json');
  await writeFile(file, JSON.stringify(event));
  const text = cli(['pricing', 'explain', '--event', file]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /total, rounded\s+0\.026675000 USD/);
  t.regex(text.stdout, /tier:prompt_over_100k/);
  const json = cli(['pricing', 'explain', '--event', '-', '--json'], JSON.stringify({ event }));
  t.is(json.code, 0, json.stderr);
  t.is((JSON.parse(json.stdout) as { cost_nanousd: number }).cost_nanousd, 26_675_000);
  const config = join(dir, 'claudescope.yaml');
  await writeFile(config, 'pricing:\n  providers:\n    anthropic:\n      multiplier: 0.5\n');
  const discounted = cli(['pricing', 'explain', '--event', file, '--json', '--config', config]);
  t.is((JSON.parse(discounted.stdout) as { cost_nanousd: number }).cost_nanousd, 13_337_500);
  await writeFile(config, 'pricing:\n  providers:\n    anthropic:\n      multiplier: cheap\n');
  const bad = cli(['pricing', '--config', config]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /pricing\.providers\.anthropic\.multiplier/);
});
