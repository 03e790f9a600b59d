/**
 * `claudescope reprice --since DATE [--until DATE] [--dry-run] [--json]`: prices the stored
 * calls of a window again with the current catalog and the config's `pricing:` block, rewrites
 * the rows and per-minute rollups whose price changed, and prints how the totals moved.
 *
 * While the daemon runs it owns the store (the data-folder lock): the command asks it through
 * `POST /api/reprice` (with the bearer token when one is configured). When no live process
 * holds the lock, the command takes it itself and works on the store directly. The lock, not
 * the port, decides: whatever else listens on the configured port is never asked to reprice.
 *
 * With an `influxdb:` block, the calls' InfluxDB points are rewritten too (see
 * store/influx-reprice.ts). When InfluxDB cannot be brought up to date, the store is repriced
 * all the same, the summary says InfluxDB was not updated, and the command exits 1: running
 * the same reprice again once InfluxDB answers completes it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { loadDaemonConfig, type DaemonConfig } from '../../daemon/config.js';
import { formatRepriceSummary, parseRepriceTime, type RepriceSummary } from '../../daemon/reprice.js';

interface RepriceArgs {
  since: string;
  until?: string | undefined;
  dryRun: boolean;
  json: boolean;
  home?: string | undefined;
  config?: string | undefined;
}

/** The running daemon's base URL (from the configuration it was started with). */
function daemonUrl(c: DaemonConfig): string {
  const host = c.listen.host === '0.0.0.0' || c.listen.host === '::' ? '127.0.0.1' : c.listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${c.listen.port}`;
}

/** The pid of the live process holding the data folder's lock, or null when none does. */
async function lockOwner(lockPath: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath, 'utf8').trim());
  } catch {
    return null;
  }
  const { pidAlive } = await import('../../tail/lock-file.js');
  return pidAlive(pid) ? pid : null;
}

/** Asks the running daemon; null when none answers (connection refused). */
async function viaDaemon(c: DaemonConfig, body: Record<string, unknown>): Promise<RepriceSummary | null> {
  const url = daemonUrl(c);
  let res: Response;
  try {
    res = await fetch(`${url}/api/reprice`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(c.auth.token ? { authorization: `Bearer ${c.auth.token}` } : {}) },
      body: JSON.stringify(body),
    });
  } catch {
    return null;
  }
  const json = (await res.json().catch(() => ({}))) as { message?: string; error?: string };
  if (!res.ok) {
    const why = res.status === 404 ? 'this daemon has no /api/reprice (an older version): stop it, then run reprice again' : json.message ?? json.error ?? `HTTP ${res.status}`;
    throw new Error(`daemon at ${url}: ${why}`);
  }
  return json as unknown as RepriceSummary;
}

const command: CommandModule<object, RepriceArgs> = {
  command: 'reprice',
  describe: 'Recompute stored costs with the current prices and overrides; print how the totals changed',
  builder: (y: Argv) =>
    y
      .option('since', { type: 'string', demandOption: true, nargs: 1, describe: 'First day (YYYY-MM-DD, UTC) or ISO time to reprice' })
      .option('until', { type: 'string', nargs: 1, describe: 'End (exclusive), YYYY-MM-DD or ISO time', defaultDescription: 'now' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Compute and print the change; store nothing' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON' })
      .option('home', { type: 'string', describe: 'Folder with data/ and config.yaml (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('config', { type: 'string', describe: "The daemon's config file, for its pricing: block and its API (env CLAUDESCOPE_CONFIG; default $CLAUDESCOPE_HOME/config.yaml if present)" })
      .example('$0 reprice --since 2026-11-01 --dry-run', 'what the current prices would change')
      .example('$0 reprice --since 2026-11-01 --until 2026-12-01', 'reprice November') as unknown as Argv<RepriceArgs>,
  handler: async (argv) => {
    const since = parseRepriceTime('--since', argv.since);
    const until = argv.until === undefined ? Infinity : parseRepriceTime('--until', argv.until);
    if (!(since < until)) throw new Error(`--since (${new Date(since).toISOString()}) must be before --until (${new Date(until).toISOString()})`);
    const config = loadDaemonConfig({ flags: { ...(argv.home !== undefined ? { home: argv.home } : {}), ...(argv.config !== undefined ? { config: argv.config } : {}) }, env: process.env });
    const { createDaemonPricer } = await import('../../daemon/pricer-loader.js');
    // The prices as the configuration gives them now (a bad pricing: block stops here, located).
    const pricer = createDaemonPricer(config);
    const print = (s: RepriceSummary): void => {
      process.stdout.write(argv.json ? `${JSON.stringify(s, null, 2)}\n` : formatRepriceSummary(s));
      const err = s.influxdb?.error;
      if (err !== undefined && err !== null && !s.dry_run) {
        // The store has the new costs, InfluxDB (partly) the old ones: not a success.
        process.stderr.write(`claudescope: the store is repriced, but InfluxDB was not updated (${err}): run the same reprice again once InfluxDB answers\n`);
        process.exitCode = 1;
      }
    };

    const dataDir = join(config.home, 'data');
    const lockPath = join(dataDir, 'daemon.lock');
    const owner = await lockOwner(lockPath);
    if (owner !== null) {
      const remote = await viaDaemon(config, { since: argv.since, ...(argv.until !== undefined ? { until: argv.until } : {}), dry_run: argv.dryRun });
      if (!remote) throw new Error(`a daemon (pid ${owner}) owns ${dataDir} but does not answer at ${daemonUrl(config)}: pass the --config it runs with (a daemon started with --port or --host: set CLAUDESCOPE_LISTEN_PORT or CLAUDESCOPE_LISTEN_HOST to the same), or stop it and run reprice again`);
      print(remote);
      if (remote.pricing_version !== pricer.version) {
        process.stderr.write(`claudescope: the running daemon prices with ${remote.pricing_version}, but the configuration now gives ${pricer.version}: restart the daemon to apply the changed pricing: block, then reprice again\n`);
        // The calls have the daemon's prices, not the file's the user asked for: not a success.
        if (!argv.dryRun) process.exitCode = 1;
      }
      return;
    }

    // The InfluxDB connection as the daemon would have it (read only here: through a running
    // daemon, its own credentials are used, which this user may not be able to read).
    const { parseInfluxSettings } = await import('../../store/influx-config.js');
    const influx = parseInfluxSettings(config.influxdb, config.configFile);
    if (influx !== null && !influx.embeddedStore) throw new Error('repricing works on the embedded store; this configuration keeps none (influxdb.embedded_store: false)');
    const dbPath = join(dataDir, 'claudescope.db');
    if (!existsSync(dbPath)) throw new Error(`no store at ${dbPath}: nothing to reprice (pass --home or --config?)`);
    const [{ acquireLock }, { SqliteStore }, { repriceStore, RepriceStoppedError }] = await Promise.all([
      import('../../tail/lock-file.js'), import('../../store/sqlite-store.js'), import('../../daemon/reprice.js'),
    ]);
    let lock;
    try {
      lock = acquireLock(lockPath);
    } catch (err: unknown) {
      if ((err as { code?: string }).code !== 'E_DATA_DIR_LOCKED') throw err;
      const pid = (err as { ownerPid?: number }).ownerPid;
      throw new Error(`a daemon (pid ${pid ?? '?'}) started and owns ${dataDir}: run reprice again (it will go through the daemon)`, { cause: err });
    }
    try {
      const store = SqliteStore.open({ path: dbPath, ...(argv.dryRun ? { readonly: true } : {}) });
      let influxRepricer;
      if (influx !== null) {
        const { InfluxRepricer } = await import('../../store/influx-reprice.js');
        influxRepricer = new InfluxRepricer({ connection: influx.connection, dryRun: argv.dryRun });
      }
      // Ctrl-C (or SIGTERM) ends the run between two chunks, each committed whole, and says what was done.
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      process.stderr.write(`repricing the stored calls of ${dbPath}${argv.dryRun ? ' (dry run)' : ''}; Ctrl-C stops between two chunks, each done whole\n`);
      try {
        print(await repriceStore(store, pricer, { since, until, dryRun: argv.dryRun, signal: stop.signal }, influxRepricer));
      } catch (err: unknown) {
        if (!(err instanceof RepriceStoppedError)) throw err;
        print(err.summary);
        process.stderr.write(`claudescope: stopped: ${err.message}\n`);
        process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        store.close();
        await influxRepricer?.close();
      }
    } finally {
      lock.release();
    }
  },
};

export default command;
