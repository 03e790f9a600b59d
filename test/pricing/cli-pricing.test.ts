import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cli(args: string[], input?: string, env?: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root, encoding: 'utf8', ...(input === undefined ? {} : { input }), ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes `files` (name → text) to a temporary folder, removed when the test ends; their paths by name. */
async function scratchFiles<K extends string>(t: ExecutionContext, files: Record<K, string>): Promise<Record<K, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-pricing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const paths = {} as Record<K, string>;
  for (const name of Object.keys(files) as K[]) {
    paths[name] = join(dir, name);
    await writeFile(paths[name], files[name]);
  }
  return paths;
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
  t.regex(table.stdout, /claude-sonnet-5-5\s+standard\s+2026-09-29\s+2026-10-07\*\s+2\s+2\.5\s+4\s+0\.2\s+10/);
  t.regex(table.stdout, /claude-sonnet-5-5\s+standard\s+2026-10-07\*\s+…\s+2\s+2\.5\s+4\s+0\.1\*\s+10/);
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

test('claudescope pricing and pricing explain read the configuration the daemon reads: $CLAUDESCOPE_CONFIG, else $CLAUDESCOPE_HOME/config.yaml', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'cs-pricing-home-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  await writeFile(join(home, 'config.yaml'), 'pricing:\n  models:\n    claude-fable-7-1:\n      - { input: 7, output: 70 }\n');
  const other = join(home, 'other.yaml');
  await writeFile(other, 'pricing:\n  models:\n    claude-fable-7-1:\n      - { input: 8, output: 80 }\n');
  const row = /claude-fable-7-1\s+standard\s+…\s+…\s+(\d+)\s+\?\s+\?\s+\?\s+(\d+)\s+override$/m;

  const inHome = cli(['pricing', '--model', 'claude-fable-7-1'], undefined, { CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' });
  t.is(inHome.code, 0, inHome.stderr);
  t.deepEqual(row.exec(inHome.stdout)?.slice(1), ['7', '70'], inHome.stdout);

  const fromEnv = cli(['pricing', '--model', 'claude-fable-7-1', '--json'], undefined, { CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: other });
  t.is(fromEnv.code, 0, fromEnv.stderr);
  t.like((JSON.parse(fromEnv.stdout) as { rows: unknown[] }).rows[0], { model: 'claude-fable-7-1', input: 8, output: 80, layer: 'override' });

  // --config still wins over both.
  const flag = cli(['pricing', '--model', 'claude-fable-7-1', '--config', other], undefined, { CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: join(home, 'config.yaml') });
  t.deepEqual(row.exec(flag.stdout)?.slice(1), ['8', '80'], flag.stdout);

  const call = join(home, 'call.json');
  await writeFile(call, JSON.stringify({ ...event, model: 'claude-fable-7-1', usage: { input_tokens: 1_000_000, output_tokens: 0 } }));
  const explained = cli(['pricing', 'explain', '--event', call, '--json'], undefined, { CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' });
  t.is(explained.code, 0, explained.stderr);
  t.is((JSON.parse(explained.stdout) as { cost_nanousd: number | null }).cost_nanousd, 7_000_000_000);
});

test('claudescope pricing explain refuses a header, stats or footer line (the last line of a sealed file) instead of explaining it as an unpriced call', (t) => {
  const footer = JSON.stringify({ t: 'footer', v: 1, file_id: 'f1', lines: 4, sealed_at: '2026-11-28T09:26:54.583Z' });
  const r = cli(['pricing', 'explain', '--event', '-'], `${footer}\n`);
  t.not(r.code, 0);
  t.is(r.stdout, '');
  t.is(r.stderr, 'claudescope: stdin: a "footer" line, not a call event (give a line whose "t" is "call")\n');
  // A call line, or a hand-written event without "t", is explained as before.
  const ok = cli(['pricing', 'explain', '--event', '-'], `${JSON.stringify(event)}\n`);
  t.is(ok.code, 0, ok.stderr);
  const { t: _t, ...bare } = event;
  t.is(cli(['pricing', 'explain', '--event', '-'], JSON.stringify(bare)).code, 0);
});

test('claudescope pricing and pricing explain name the file and line of a bad pricing: block or a YAML error, as the daemon does', async (t) => {
  const { 'bad.yaml': bad, 'broken.yaml': broken, 'call.json': eventFile } = await scratchFiles(t, {
    'bad.yaml': 'listen:\n  port: 9471\npricing:\n  models:\n    claude-x-1:\n      - from: 2026-01-01\n        input: lots\n',
    'broken.yaml': 'pricing: [\n',
    'call.json': JSON.stringify(event),
  });
  for (const args of [['pricing'], ['pricing', 'explain', '--event', eventFile]]) {
    const r = cli([...args, '--config', bad]);
    t.not(r.code, 0, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr, `claudescope: invalid configuration:\n  ${bad}:7: pricing.models["claude-x-1"][0].input: expected a price in USD per million tokens (a number ≥ 0 with at most 6 decimals), got "lots"\n`, args.join(' '));
    const y = cli([...args, '--config', broken]);
    t.not(y.code, 0, args.join(' '));
    t.regex(y.stderr, new RegExp(`^claudescope: invalid configuration:\\n {2}${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: \\(syntax\\): [^\\n]+\\n$`), args.join(' '));
  }
});

test('claudescope pricing and pricing explain refuse a misspelt field of the configuration, as the daemon does, rather than show the catalog as its prices', async (t) => {
  const { 'misspelt.yaml': misspelt, 'call.json': eventFile } = await scratchFiles(t, {
    'misspelt.yaml': 'listen:\n  port: 9471\npricng:\n  providers:\n    anthropic:\n      multiplier: 0.85\n',
    'call.json': JSON.stringify(event),
  });
  for (const args of [['pricing', '--model', 'claude-haiku-5-5'], ['pricing', 'explain', '--event', eventFile]]) {
    const r = cli([...args, '--config', misspelt]);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr, `claudescope: invalid configuration:\n  ${misspelt}:3: pricng: unknown field (known: listen, auth, retention, tail, budgets, metrics, pricing, rules, influxdb, notifiers, reconcile)\n`, args.join(' '));
  }
  // The same fields spelt right: the prices are the catalog's with overrides (+o.).
  await writeFile(misspelt, 'listen:\n  port: 9471\npricing:\n  providers:\n    anthropic:\n      multiplier: 0.85\n');
  const ok = cli(['pricing', '--model', 'claude-haiku-5-5', '--config', misspelt]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^Prices \S+\+o\.\w+, checked/);
});

test('claudescope pricing names a configured provider multiplier (a negotiated discount), which the table\'s list prices are before, where it showed nowhere', async (t) => {
  const { 'config.yaml': file } = await scratchFiles(t, { 'config.yaml': 'pricing:\n  providers:\n    anthropic:\n      multiplier: 0.85\n    bedrock:\n      multiplier: 1\n' });
  const r = cli(['pricing', '--model', 'claude-haiku-5-5', '--config', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /\nModifiers: .*; web search \$0\.01\/request; anthropic calls ×0\.85 \(pricing\.providers\.anthropic\.multiplier\)\.\n/);
  t.notRegex(r.stdout, /bedrock calls/, 'a multiplier of 1 changes nothing');
  const json = cli(['pricing', '--json', '--model', 'claude-haiku-5-5', '--config', file]);
  t.deepEqual((JSON.parse(json.stdout) as { provider_multipliers: unknown }).provider_multipliers, { anthropic: 0.85 });
  const none = cli(['pricing', '--model', 'claude-haiku-5-5', '--config', '/dev/null']);
  t.regex(none.stdout, /\nModifiers: .*; web search \$0\.01\/request\.\n/);
});

test('claudescope pricing marks the modifiers whose sources leave part uncertain, and says which part: the us-geo start date and models, the Bedrock premium\'s models', (t) => {
  const r = cli(['pricing', '--model', 'claude-haiku-5-5', '--config', '/dev/null']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /\nModifiers: batch ×0\.5; inference_geo us ×1\.1 \(Opus 4\.6, Sonnet 4\.6 and later\)\*; Bedrock regional endpoints ×1\.1 \(Sonnet 4\.5, Haiku 4\.5 and later\)\*; web search \$0\.01\/request\.\n/);
  t.regex(r.stdout, /\nUnverified \(\*\): inference_geo us: its start date, which models \(derived from 'Opus 4\.6, Sonnet 4\.6 and later'\); Bedrock regional: which models after Sonnet 4\.5 \/ Haiku 4\.5 \(derived from 'and later'\); calls they apply to are priced all the same\.\n/);
  const json = JSON.parse(cli(['pricing', '--json', '--model', 'claude-haiku-5-5', '--config', '/dev/null']).stdout) as { unverified_modifiers: Record<string, string[]> };
  t.deepEqual(json.unverified_modifiers.inference_geo, ['from', "inference_geo_us (derived from 'Opus 4.6, Sonnet 4.6 and later')"]);
  t.is(json.unverified_modifiers.bedrock_vertex_regional_premium?.length, 1);
});

test('claudescope pricing explain and pricing --config say which file they cannot read, and why in words', async (t) => {
  const { 'call.json': eventFile } = await scratchFiles(t, { 'call.json': JSON.stringify(event) });
  const missing = join(dirname(eventFile), 'nope.json');
  const r = cli(['pricing', 'explain', '--event', missing]);
  t.is(r.code, 2);
  t.is(r.stderr, `claudescope: --event: cannot read ${missing}: no such file or folder (ENOENT)\n`);
  const folder = cli(['pricing', 'explain', '--event', dirname(eventFile)]);
  t.is(folder.stderr, `claudescope: --event: cannot read ${dirname(eventFile)}: a folder, where a file was expected (EISDIR)\n`);
  const config = cli(['pricing', '--config', missing]);
  t.is(config.code, 2);
  t.is(config.stderr, `claudescope: cannot read configuration ${missing}: no such file or folder (ENOENT)\n`);
});

test('claudescope pricing --home lists the prices with the overrides of that home\'s config.yaml, as pricing explain --home and every other command take it', async (t) => {
  const { 'config.yaml': file } = await scratchFiles(t, { 'config.yaml': 'pricing:\n  models:\n    claude-x-1:\n      - { input: 1, output: 5 }\n' });
  const env = { CLAUDESCOPE_HOME: join(dirname(file), 'elsewhere'), CLAUDESCOPE_CONFIG: '' };
  const r = cli(['pricing', '--home', dirname(file), '--model', 'claude-x-1'], undefined, env);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /claude-x-1\s+standard\s+…\s+…\s+1\s+\?\s+\?\s+\?\s+5\s+override/);
  const without = cli(['pricing', '--model', 'claude-x-1'], undefined, env);
  t.is(without.code, 2, 'the default home has no such model');
});

test('claudescope pricing --model refuses a model no price names, rather than "No prices match." and exit 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-pricing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_CONFIG: '' };
  const r = cli(['pricing', '--model', 'claude-sonet-5-5'], undefined, env);
  t.not(r.code, 0);
  t.is(r.stdout, '');
  t.is(r.stderr, `claudescope: --model: no prices for "claude-sonet-5-5" in the catalog: its calls are stored unpriced (add it under pricing.models; 'claudescope pricing' lists the models)\n`);
  // A model of the configuration's pricing: block is known.
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'pricing:\n  models:\n    claude-sonet-5-5:\n      - { from: 2026-11-01, input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1 }\n');
  const ok = cli(['pricing', '--model', 'claude-sonet-5-5'], undefined, env);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /claude-sonet-5-5\s+standard\s+2026-11-01/);
});

test('claudescope pricing explain neither lists nor takes the listing\'s --at and --model, which it would ignore', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-pricing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'call.json');
  await writeFile(file, JSON.stringify(event));
  const help = cli(['pricing', 'explain', '--help']);
  t.is(help.code, 0, help.stderr);
  t.notRegex(help.stdout, /--at\b|--model\b/);
  t.regex(cli(['pricing', '--help']).stdout, /--at\b[\s\S]*--model\b/);
  for (const extra of [['--at', '2020-01-01'], ['--model', 'claude-opus-5-5']]) {
    const r = cli(['pricing', 'explain', '--event', file, ...extra]);
    t.not(r.code, 0, extra.join(' '));
    t.is(r.stdout, '');
    t.regex(r.stderr, new RegExp(`^claudescope: Unknown argument: ${extra[0]!.slice(2)}\\n`));
  }
});
