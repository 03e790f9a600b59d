#!/usr/bin/env node
/**
 * The `claudescope` command line. Each command lives in `commands/<name>.ts` as a yargs
 * CommandModule and is imported only when it runs, so `claudescope --help` stays fast and
 * loads neither SQLite nor the SDK. This file is the only place that exits the process.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { Argv, CommandModule } from 'yargs';
import { ownPackage } from '../package-info.js';
import { valuesRequired } from './values-required.js';

interface LazyCommand {
  command: string;
  describe: string;
  load: () => Promise<{ default: CommandModule<object, any> }>;
}

/** Registry of commands: name and one-line description here, the rest loaded on use. */
const commands: LazyCommand[] = [
  { command: 'daemon', describe: 'Ingest event files into the local store and serve the dashboard, its API, /metrics and /healthz', load: () => import('./commands/daemon.js') },
  { command: 'report', describe: 'Cost, calls, errors, tokens and latency percentiles by model, feature or day', load: () => import('./commands/report.js') },
  { command: 'demo', describe: 'Drive a mixed workload through the fake Claude API and show every number move (no API key)', load: () => import('./commands/demo.js') },
  { command: 'rules <action> [files..]', describe: 'Check, unit-test (rules test FILE) or evaluate once (rules eval) the alert rules', load: () => import('./commands/rules.js') },
  { command: 'alerts', describe: 'List pending and firing alerts', load: () => import('./commands/alerts.js') },
  { command: 'silence <action> [args..]', describe: 'Silence alerts: silence add MATCHER… --duration 2h | silence list | silence expire ID', load: () => import('./commands/silence.js') },
  { command: 'fake-api', describe: 'Run the fake Claude API (for tests and demos, no key needed)', load: () => import('./commands/fake-api.js') },
  { command: 'pricing', describe: 'List the price catalog; `pricing explain` prices one call event part by part', load: () => import('./commands/pricing.js') },
  { command: 'reprice', describe: 'Recompute stored costs with the current prices and overrides (through the daemon when it runs)', load: () => import('./commands/reprice.js') },
  { command: 'reconcile', describe: "Compare recorded usage and cost with Anthropic's Admin usage and cost reports, and name the differences", load: () => import('./commands/reconcile.js') },
];

function register(cli: Argv, entry: LazyCommand): Argv {
  return cli.command({
    command: entry.command,
    describe: entry.describe,
    builder: async (y: Argv) => {
      const mod = await entry.load();
      const builder = mod.default.builder;
      if (typeof builder === 'function') return valuesRequired((await builder(y)) as Argv);
      if (builder) return valuesRequired(y.options(builder as Record<string, never>));
      return y;
    },
    handler: async (argv: Record<string, unknown>) => {
      const mod = await entry.load();
      await mod.default.handler(argv as never);
    },
  });
}

/**
 * A reader that stops reading early (`claudescope pricing | head -1`) closes the pipe: the next
 * write to stdout fails with EPIPE, which without a listener is an uncaught error (a stack trace,
 * exit 1). The reader has all it wanted, so that is no failure: the rest of the output is
 * discarded (the stream is destroyed, later writes are dropped) and the command finishes as it
 * would, releasing its locks and closing its store, and exits 0 unless it failed otherwise. It
 * is not ended on the spot: a command's output comes after its work, and ending it there would
 * skip that cleanup. A shell's SIGPIPE would give 141, which `set -o pipefail` scripts read as a
 * failure of the command. Only stdout and only EPIPE: any other write error stays uncaught as
 * before, and the daemon, which never writes to stdout while it serves (its log is on stderr),
 * keeps its own error handling.
 */
function discardOutputOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    throw err;
  });
}

async function main(): Promise<void> {
  discardOutputOnClosedPipe();
  let cli = yargs(hideBin(process.argv))
    .scriptName('claudescope')
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'Name a command.')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    // Its own version: yargs' default reads the nearest package.json, which is the app's when
    // claudescope is installed in one.
    .version(ownPackage()?.version ?? 'unknown')
    .wrap(Math.min(110, process.stdout.columns || 100));
  for (const entry of commands) cli = register(cli, entry);
  await cli
    .fail((msg, err, y) => {
      if (err) {
        process.stderr.write(`claudescope: ${err.message}\n`);
        // A usage error yargs raised itself (a nested command's option without its value).
        if (err.name === 'YError') process.stderr.write(`Run 'claudescope --help' for usage.\n`);
      } else {
        // No command at all: the list of commands, then what went wrong.
        if (process.argv.length <= 2) y.showHelp((s: string) => process.stderr.write(`${s}\n`));
        process.stderr.write(`claudescope: ${msg}\n`);
        process.stderr.write(`Run 'claudescope --help' for usage.\n`);
      }
      process.exit(2);
    })
    .parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`claudescope: ${err instanceof Error ? err.message : String(err)}\n`);
  // A usage error yargs raised while a command's own options were parsed (an option given
  // without its value) skips the handler above: a usage error all the same.
  if ((err as { name?: unknown } | null)?.name === 'YError') {
    process.stderr.write(`Run 'claudescope --help' for usage.\n`);
    process.exit(2);
  }
  process.exit(1);
});
