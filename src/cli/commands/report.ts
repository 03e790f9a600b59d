/**
 * `claudescope report`: cost, calls, errors, tokens by type and latency / TTFT percentiles,
 * by model, feature or UTC day, over a window; a table (default), `--json` or `--csv` on
 * stdout. Opens the SQLite store read-only, so it runs while the daemon writes; a daemon with
 * InfluxDB alone (`influxdb.embedded_store: false`) is reported from InfluxDB.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { defaultHome, loadDaemonConfig } from '../../daemon/config.js';
import type { QueryApi } from '../../store/types.js';
import { influxQueryFor } from '../influx-store.js';
import { REPORT_BY, buildReport, formatCsv, formatTable, parseTime, type ReportBy } from '../../daemon/report.js';

interface ReportArgs {
  home?: string | undefined;
  by: ReportBy;
  since: string;
  until: string;
  json?: boolean | undefined;
  csv?: boolean | undefined;
}

const command: CommandModule<object, ReportArgs> = {
  command: 'report',
  describe: 'Cost, calls, errors, tokens and latency percentiles by model, feature or day',
  builder: (y: Argv) =>
    y
      .option('home', { type: 'string', describe: 'Folder with data/ (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('by', { choices: REPORT_BY, default: 'model' as ReportBy, describe: 'Group rows by' })
      .option('since', { type: 'string', default: '24h', describe: 'Start of the window: a duration back from now (30m, 24h, 7d, 2w) or an ISO time' })
      .option('until', { type: 'string', default: 'now', describe: 'End of the window (same forms)' })
      .option('json', { type: 'boolean', describe: 'Print JSON' })
      .option('csv', { type: 'boolean', describe: 'Print CSV' })
      .conflicts('json', 'csv')
      .example('$0 report --since 7d --by day', 'a week, a row per UTC day')
      .example('$0 report --by feature --json', 'the last 24 h by feature tag, as JSON') as unknown as Argv<ReportArgs>,
  handler: async (argv) => {
    const now = Date.now();
    const start = parseTime(argv.since, now, '--since');
    const until = parseTime(argv.until, now, '--until');
    // An empty window (`--since 0h`) is refused, not answered with an empty table.
    if (!(start < until)) throw new Error(`--since (${new Date(start).toISOString()}) must be before --until (${new Date(until).toISOString()})`);
    // Until now: the call of this very millisecond too.
    const end = until + (argv.until === 'now' ? 1 : 0);
    const home = argv.home ? resolve(argv.home) : defaultHome(process.env);
    const dbPath = join(home, 'data', 'claudescope.db');
    let store: QueryApi & { close(): void };
    if (existsSync(dbPath)) {
      const { SqliteStore } = await import('../../store/sqlite-store.js');
      store = SqliteStore.open({ path: dbPath, readonly: true });
    } else {
      // A daemon with InfluxDB alone (influxdb.embedded_store: false) keeps no SQLite store: read InfluxDB.
      const influx = await influxQueryFor(loadDaemonConfig({ flags: { home }, env: process.env }), false);
      // Not "run 'claudescope demo'": the demo keeps its store in a home of its own (the one it prints), never this one.
      if (influx === null) throw new Error(`no store at ${dbPath}: run 'claudescope daemon' first, or pass --home (for the demo's numbers, the home 'claudescope demo' printed)`);
      store = Object.assign(influx, { close: () => {} });
    }
    const started = Date.now();
    const tty = process.stderr.isTTY === true;
    let shown = false;
    try {
      const rep = await buildReport(store, argv.by, { start, end }, (done, total, what) => {
        // Progress only when it is worth it: on a terminal, or after 2 s on a long run.
        if (!tty && Date.now() - started < 2000) return;
        shown = true;
        process.stderr.write(`${tty ? '\r' : ''}report: ${what} ${done}/${total}${tty ? '   ' : '\n'}`);
      });
      if (shown && tty) process.stderr.write('\r\x1b[K');
      if (argv.json) process.stdout.write(`${JSON.stringify(rep, null, 2)}\n`);
      else if (argv.csv) process.stdout.write(formatCsv(rep));
      else process.stdout.write(formatTable(rep));
    } finally {
      store.close();
    }
  },
};

export default command;
