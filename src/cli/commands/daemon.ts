/**
 * `claudescope daemon`: tails `$CLAUDESCOPE_HOME/events` into the SQLite store under
 * `$CLAUDESCOPE_HOME/data` and serves `/metrics` and `/healthz` (127.0.0.1:9471 by default)
 * until SIGTERM or SIGINT, when it drains, writes the final checkpoint and returns.
 *
 * Flags have no yargs defaults on purpose: a default there would hide the environment and the
 * config file (precedence is flags > environment > file > defaults); the help shows them.
 */
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_HOST, DEFAULT_MAX_OPEN_FILES, DEFAULT_POLL_INTERVAL_MS, DEFAULT_PORT, describeConfig, loadDaemonConfig, type DaemonFlags } from '../../daemon/config.js';
import { untilSignal } from '../signals.js';

export interface DaemonArgs extends DaemonFlags {
  printConfig?: boolean;
}

/** The flags every command that runs a daemon shares (daemon, demo). */
export function daemonOptions<T>(y: Argv<T>): Argv<T & DaemonArgs> {
  return y
    .option('home', { type: 'string', describe: 'Folder with events/ and data/ (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
    .option('config', { type: 'string', describe: 'YAML config file (env CLAUDESCOPE_CONFIG)', defaultDescription: '$CLAUDESCOPE_HOME/config.yaml if present' })
    .option('host', { type: 'string', describe: 'Address to listen on; beyond loopback a bearer token is required (env CLAUDESCOPE_LISTEN_HOST)', defaultDescription: DEFAULT_HOST })
    .option('port', { type: 'string', describe: 'Port to listen on (env CLAUDESCOPE_LISTEN_PORT)', defaultDescription: String(DEFAULT_PORT) })
    .option('token-file', { type: 'string', describe: 'File holding the bearer token (env CLAUDESCOPE_TOKEN_FILE, or the token itself in CLAUDESCOPE_TOKEN)', defaultDescription: 'none' })
    .option('require-token', { type: 'boolean', describe: 'Require the token even on loopback', defaultDescription: 'false (true beyond loopback)' })
    .option('poll-interval-ms', { type: 'string', describe: 'How often the events folder is scanned (env CLAUDESCOPE_POLL_INTERVAL_MS)', defaultDescription: String(DEFAULT_POLL_INTERVAL_MS) })
    .option('max-open-files', { type: 'string', describe: 'Most event files held open at once; the longest idle are closed past it (env CLAUDESCOPE_MAX_OPEN_FILES)', defaultDescription: String(DEFAULT_MAX_OPEN_FILES) })
    .option('retention-rows-days', { type: 'string', describe: 'Delete call rows older than this (env CLAUDESCOPE_RETENTION_ROWS_DAYS)', defaultDescription: 'keep' })
    .option('retention-rollups-days', { type: 'string', describe: 'Delete rollups (every level) older than this (env CLAUDESCOPE_RETENTION_ROLLUPS_DAYS)', defaultDescription: 'keep' })
    .option('sealed-files', { type: 'string', choices: ['delete', 'archive', 'keep'], describe: 'What to do with fully ingested sealed event files (env CLAUDESCOPE_SEALED_FILES)', defaultDescription: 'delete' })
    .option('feature-labels', { type: 'string', describe: 'Comma-separated feature tags allowed as the metrics\' feature label (env CLAUDESCOPE_FEATURE_LABELS)', defaultDescription: 'none' }) as unknown as Argv<T & DaemonArgs>;
}

/** The flags yargs parsed, as {@link DaemonFlags} (absent ones left out). */
export function flagsOf(argv: DaemonArgs): DaemonFlags {
  const f: DaemonFlags = {};
  const keys: (keyof DaemonFlags)[] = ['home', 'config', 'host', 'port', 'tokenFile', 'pollIntervalMs', 'maxOpenFiles', 'retentionRowsDays', 'retentionRollupsDays', 'sealedFiles', 'featureLabels', 'requireToken'];
  for (const k of keys) if (argv[k] !== undefined) (f as Record<string, unknown>)[k] = argv[k];
  return f;
}

const command: CommandModule<object, DaemonArgs> = {
  command: 'daemon',
  describe: 'Ingest event files into the local store and serve /metrics and /healthz',
  builder: (y: Argv) =>
    daemonOptions(y)
      .option('print-config', { type: 'boolean', describe: 'Print the merged configuration in the config file\'s form (secrets masked) and exit (non-zero on pricing, rules, notifier or InfluxDB settings the daemon would refuse)' })
      .example('$0 daemon', `serve on http://${DEFAULT_HOST}:${DEFAULT_PORT}/metrics`)
      .example('CLAUDESCOPE_TOKEN=… $0 daemon --host 0.0.0.0', 'serve beyond loopback; every request needs the bearer token')
      .example('$0 daemon --config /etc/claudescope/config.yaml', 'read settings from a file') as unknown as Argv<DaemonArgs>,
  handler: async (argv) => {
    const config = loadDaemonConfig({ flags: flagsOf(argv), env: process.env });
    if (argv.printConfig) {
      // Settings the daemon would refuse at start are refused here too, with the same message.
      const { checkDaemonSettings } = await import('../../daemon/settings-check.js');
      await checkDaemonSettings(config, process.env);
      process.stdout.write(`${JSON.stringify(describeConfig(config), null, 2)}\n`);
      return;
    }
    // An old generation that grows by at most 20 % past what a full collection kept, rather than
    // by up to several times: the daemon's heap peaks lower (docs/daemon.md, memory). V8 reads
    // the factor at each collection, so it can be set now; node rejects it in NODE_OPTIONS.
    setFlagsFromString(DAEMON_V8_FLAGS);
    const { Daemon, stderrLog } = await import('../../daemon/daemon.js');
    const elsewhere = emitterEventsDirElsewhere(config.home, process.env);
    if (elsewhere !== null) {
      stderrLog('warn', `CLAUDESCOPE_EVENTS_DIR is ${elsewhere}, an emitter's setting: this daemon reads ${join(config.home, 'events')} alone, so calls written to ${elsewhere} are not counted; give the apps and the daemon the same CLAUDESCOPE_HOME (or --home) instead`);
    }
    // Listen before starting: a SIGTERM that arrives while the daemon starts (systemd stopping
    // it early) must drain it, not kill it with the default handler.
    const signalled = untilSignal();
    const daemon = await Daemon.start({ config });
    const signal = await signalled;
    process.stderr.write(`claudescope: ${signal}: draining\n`);
    await daemon.stop();
  },
};

/**
 * The events folder CLAUDESCOPE_EVENTS_DIR names when it is not the daemon's `<home>/events`, else
 * null. The emitter reads that variable and the daemon does not: set in a shell both run from,
 * it sends the apps' events where the daemon never looks, which nothing else would say.
 */
function emitterEventsDirElsewhere(home: string, env: NodeJS.ProcessEnv): string | null {
  const dir = env['CLAUDESCOPE_EVENTS_DIR'];
  if (dir === undefined || dir === '') return null;
  return resolve(dir) === join(home, 'events') ? null : resolve(dir);
}

/** V8 flags the daemon sets for itself when it starts. */
const DAEMON_V8_FLAGS = '--heap-growing-percent=20';

export default command;
