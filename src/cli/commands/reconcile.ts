/**
 * `claudescope reconcile`: compares what claudescope recorded with Anthropic's usage and cost
 * reports (Admin API key from `ANTHROPIC_ADMIN_KEY` or `reconcile.admin_key`, never a flag
 * and never printed), per UTC day (or hour) and model; a table (default), `--json` or `--csv`
 * on stdout, progress on stderr. Results are stored in the store's `reconciliation` tables
 * (unless `--no-store`), where the daemon's metric and rules read them.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { loadDaemonConfig } from '../../daemon/config.js';
import { parseTime } from '../../daemon/report.js';

interface ReconcileArgs {
  home?: string | undefined;
  config?: string | undefined;
  since?: string | undefined;
  until: string;
  bucket?: '1d' | '1h' | undefined;
  api?: 'analytics' | 'legacy' | undefined;
  tolerance?: string | undefined;
  by?: string[] | undefined;
  apiKey?: string[] | undefined;
  baseUrl?: string | undefined;
  store: boolean;
  prices: boolean;
  json?: boolean | undefined;
  csv?: boolean | undefined;
}

const command: CommandModule<object, ReconcileArgs> = {
  command: 'reconcile',
  describe: "Compare recorded usage and cost with Anthropic's Admin usage and cost reports",
  builder: (y: Argv) =>
    y
      .option('home', { type: 'string', describe: 'Folder with data/ (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('config', { type: 'string', describe: 'Config file (its reconcile: block; env CLAUDESCOPE_CONFIG)', defaultDescription: '<home>/config.yaml if present' })
      .option('since', { type: 'string', describe: 'Start: a duration back from now (7d, 48h) or an ISO date', defaultDescription: 'reconcile.lookback_days (3d)' })
      .option('until', { type: 'string', default: 'now', describe: 'End (same forms)' })
      .option('bucket', { choices: ['1d', '1h'] as const, describe: 'Compare per UTC day or hour', defaultDescription: '1d' })
      .option('api', { choices: ['analytics', 'legacy'] as const, describe: 'analytics: /v1/organizations/analytics/{usage,cost} (beta); legacy: usage_report + cost_report', defaultDescription: 'analytics' })
      .option('tolerance', { type: 'string', describe: 'Flag cells differing by more than this (2% or 0.02)', defaultDescription: '2%' })
      .option('by', { type: 'array', string: true, choices: ['workspace', 'api_key'], describe: 'Also split cells by workspace and/or API key' })
      .option('api-key', { type: 'array', string: true, describe: 'Map an emitter API key alias to its billed id: ALIAS=apikey_… (repeatable)' })
      .option('base-url', { type: 'string', describe: 'Admin API base URL (env ANTHROPIC_ADMIN_BASE_URL)', defaultDescription: 'https://api.anthropic.com' })
      .option('store', { type: 'boolean', default: true, describe: 'Store the results (--no-store: only print)' })
      .option('prices', { type: 'boolean', default: true, describe: 'Use the local price table to name stale prices per token type' })
      .option('json', { type: 'boolean', describe: 'Print JSON' })
      .option('csv', { type: 'boolean', describe: 'Print CSV' })
      .conflicts('json', 'csv')
      .example('ANTHROPIC_ADMIN_KEY=sk-ant-admin01-… $0 reconcile --since 7d', 'the last week, per day and model')
      .example('$0 reconcile --api legacy --by workspace --csv', 'through the older reports, per workspace, as CSV') as unknown as Argv<ReconcileArgs>,
  handler: async (argv) => {
    const { reconcileSettings, parseTolerance, isHttpUrl } = await import('../../reconcile/settings.js');
    const cfg = loadDaemonConfig({ flags: { home: argv.home, config: argv.config }, env: process.env });
    const base = cfg.reconcile ?? reconcileSettings(null, process.env);
    const apiKeys = { ...base.apiKeys };
    for (const m of argv.apiKey ?? []) {
      const [alias, id] = m.split('=');
      if (!alias || !id) throw new Error(`--api-key: expected ALIAS=apikey_…, got ${JSON.stringify(m)}`);
      apiKeys[alias] = id;
    }
    const settings = {
      ...base,
      ...(argv.api ? { api: argv.api } : {}),
      ...(argv.bucket ? { bucket: argv.bucket } : {}),
      ...(argv.tolerance !== undefined ? { tolerance: parseTolerance(argv.tolerance) } : {}),
      ...(argv.by ? { split: argv.by as ('workspace' | 'api_key')[] } : {}),
      ...(argv.baseUrl ? { baseUrl: argv.baseUrl } : {}),
      apiKeys,
    };
    // Named here, by where it came from (a config file's base_url is checked, located, with the rest of the file):
    // the client would only say "Invalid URL" at its first request.
    if (!isHttpUrl(settings.baseUrl)) {
      throw new Error(`${argv.baseUrl ? '--base-url' : 'ANTHROPIC_ADMIN_BASE_URL'}: expected an http(s) URL such as https://api.anthropic.com, got ${JSON.stringify(settings.baseUrl)}`);
    }
    const now = Date.now();
    const start = argv.since !== undefined ? parseTime(argv.since, now, '--since') : now - settings.lookbackDays * 86_400_000;
    const end = parseTime(argv.until, now, '--until');
    if (!(start < end)) throw new Error(`--since (${new Date(start).toISOString()}) must be before --until (${new Date(end).toISOString()})`);

    const home = argv.home ? resolve(argv.home) : cfg.home;
    const dbPath = join(home, 'data', 'claudescope.db');
    if (!existsSync(dbPath)) throw new Error(`no store at ${dbPath}: run 'claudescope daemon' first, or pass --home`);
    const { SqliteStore } = await import('../../store/sqlite-store.js');
    // Writable only for the results tables (one short transaction); the calls are only read.
    const store = SqliteStore.open({ path: dbPath, readonly: !argv.store });
    // The prices name stale ones (unless --no-prices); model ids are spelled as the store spells them either way.
    const catalog = (await import('../../daemon/pricer-loader.js')).createDaemonPricer(cfg);
    const pricer = argv.prices ? catalog : null;
    const { canonicalModelOf, runReconciliation } = await import('../../reconcile/job.js');
    const { formatCsv, formatJson, formatTable } = await import('../../reconcile/format.js');
    const tty = process.stderr.isTTY === true;
    const started = Date.now();
    let shown = false;
    try {
      const result = await runReconciliation({
        settings,
        query: store,
        range: { start, end },
        ...(argv.store ? { resultsStore: store } : {}),
        ...(pricer ? { pricer } : {}),
        canonicalModel: canonicalModelOf(catalog),
        onProgress: (p) => {
          // Progress when it is worth it: on a terminal, or once a run takes more than 2 s.
          if (!tty && Date.now() - started < 2000) return;
          shown = true;
          process.stderr.write(`${tty ? '\r' : ''}reconcile: ${p.done}/${p.total} requests (${p.what})${tty ? '\x1b[K' : '\n'}`);
        },
        onRetry: (r) => {
          process.stderr.write(`${shown && tty ? '\n' : ''}reconcile: ${r.status === 429 ? 'rate limited' : `HTTP ${r.status ?? 'network error'}`} on ${r.what}; retrying in ${(r.waitMs / 1000).toFixed(1)} s (attempt ${r.attempt + 1})\n`);
        },
      });
      if (shown && tty) process.stderr.write('\r\x1b[K');
      if (argv.json) process.stdout.write(formatJson(result));
      else if (argv.csv) process.stdout.write(formatCsv(result));
      else process.stdout.write(formatTable(result));
      if (argv.store) process.stderr.write(`reconcile: results stored as run ${result.run_id}\n`);
    } finally {
      store.close();
    }
  },
};

export default command;
