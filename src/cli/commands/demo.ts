/**
 * `claudescope demo`: a new user sees every number move without an API key. Starts the fake
 * Claude API on a free loopback port, drives a mixed workload through the real SDK with the
 * emitter into a home folder (a fresh temporary one unless `--home`), runs the daemon on it,
 * and prints the numbers and where to look. `--once` exits after; otherwise the daemon keeps
 * serving until Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { Counter } from 'prom-client';
import { DEFAULT_PORT, loadDaemonConfig } from '../../daemon/config.js';
import { formatUsd } from '../../pricing/money.js';
import { numberOption } from '../options.js';
import { untilSignal } from '../signals.js';
import { acquireLock, DataDirLockedError } from '../../tail/lock-file.js';

interface DemoArgs {
  home?: string | undefined;
  port?: string | undefined;
  /** As typed (checked by {@link numberOption}), or the default. */
  calls: string | number;
  duration: string | number;
  once: boolean;
}

const command: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Drive a mixed workload through the fake Claude API and show every number move (no API key)',
  builder: (y: Argv) =>
    y
      .option('home', { type: 'string', describe: 'Folder for the demo\'s events/ and data/ (kept afterwards)', defaultDescription: 'a new temporary folder' })
      .option('port', { type: 'string', describe: 'Port of the demo daemon (a free one if taken)', defaultDescription: String(DEFAULT_PORT) })
      .option('calls', { type: 'string', default: 60, requiresArg: true, describe: 'API calls to make' })
      .option('duration', { type: 'string', default: 15, requiresArg: true, describe: 'Stop starting calls after this many seconds' })
      .option('once', { type: 'boolean', default: false, describe: 'Exit after printing the numbers instead of serving until Ctrl-C' })
      .example('$0 demo', 'about 15 s of calls, then the daemon serves the numbers until Ctrl-C')
      .example('$0 demo --once --calls 24', 'a short run that exits') as unknown as Argv<DemoArgs>,
  handler: async (argv) => {
    const calls = numberOption('--calls', argv.calls, { integer: true, min: 1, expected: 'a whole number of calls ≥ 1' });
    const duration = numberOption('--duration', argv.duration, { above: 0, expected: 'a number of seconds above 0' });
    const home = argv.home ? resolve(argv.home) : mkdtempSync(join(tmpdir(), 'claudescope-demo-'));
    const [{ startFakeApi }, { runDemoWorkload }, { Daemon }, { checkDaemonSettings }] = await Promise.all([
      import('../../testing/fake-api.js'), import('../../daemon/demo-workload.js'), import('../../daemon/daemon.js'), import('../../daemon/settings-check.js'),
    ]);
    const err = (s: string): boolean => process.stderr.write(s);
    let config: ReturnType<typeof loadDaemonConfig>;
    try {
      // The demo's own settings: only --home and --port, so a user's config file or
      // environment for their real daemon never points the demo at real data.
      config = loadDaemonConfig({ flags: { home, ...(argv.port !== undefined ? { port: argv.port } : {}), pollIntervalMs: 100 }, env: {} });
      // Settings the demo's daemon would refuse (a home's notifier naming an unset variable, a
      // malformed rule file) are refused before any call, not after the whole workload.
      await checkDaemonSettings(config);
      // A home a running daemon owns is refused before any call: the demo's daemon would find
      // it locked only after the workload.
      refuseLockedHome(home);
    } catch (e: unknown) {
      // Refused before anything was written: a folder of its own making is not left behind.
      if (!argv.home) rmSync(home, { recursive: true, force: true });
      throw e;
    }
    const api = await startFakeApi({ rateLimits: {} });
    err(`demo: fake Claude API on ${api.url}; events go to ${join(home, 'events')}\n`);
    let work;
    try {
      work = await runDemoWorkload({
        api, eventsDir: join(home, 'events'), calls, durationMs: duration * 1000,
        onCall: (done, total) => {
          if (done % 12 === 0 || done === total) err(`demo: ${done}/${total} calls\n`);
        },
      });
    } finally {
      await api.close();
    }
    const log = (level: string, msg: string): void => {
      if (level !== 'info' || msg.startsWith('started')) err(`claudescope: ${level === 'info' ? '' : `${level}: `}${msg}\n`);
    };
    // The port is checked before the daemon starts: one that started, ingested the calls and
    // only then found its port taken (a daemon already running, as the README suggests) would
    // leave a second one nothing to count.
    let listen = config.listen;
    if (!(await portFree(listen.host, listen.port))) {
      err(`demo: port ${listen.port} is in use; taking a free one\n`);
      listen = { ...listen, port: 0 };
    }
    const daemon = await Daemon.start({ config: { ...config, listen }, log });
    try {
      const deadline = Date.now() + 30_000;
      while (daemon.healthz().events_committed !== work.calls) {
        if (Date.now() > deadline) throw new Error(`the daemon stored ${daemon.healthz().events_committed} of ${work.calls} calls in 30 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const values = async (name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> =>
        ((await (daemon.metrics.registry.getSingleMetric(name) as Counter | undefined)?.get())?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
      const sum = async (name: string, f: (l: Record<string, string | number>) => boolean = () => true): Promise<number> =>
        (await values(name)).filter((v) => f(v.labels)).reduce((a, v) => a + v.value, 0);
      const cost = await sum('claude_cost_usd_total');
      const unpriced = await sum('claude_unpriced_requests_total');
      const byStatus = async (s: string): Promise<number> => sum('claude_requests_total', (l) => l['status'] === s);
      const kinds = ['rate_limit', 'overloaded', 'other'];
      const errs = await Promise.all(kinds.map((k) => sum('claude_errors_total', (l) => l['kind'] === k)));
      const tokens = await Promise.all(['input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h'].map(async (d) => `${d} ${await sum('claude_tokens_total', (l) => l['direction'] === d)}`));
      const self = howInvoked();
      const out = [
        '',
        `calls      ${work.calls} (ok ${await byStatus('ok')}, error ${await byStatus('error')}, aborted ${await byStatus('aborted')}); HTTP attempts ${await sum('claude_attempts_total')}, retries ${await sum('claude_retries_total')}`,
        `cost       ${formatUsd(cost)} priced${unpriced > 0 ? `; ${unpriced} call(s) unpriced (a model without a known price: unknown, not $0)` : ''}`,
        `failed attempts (retried ones included)  ${kinds.map((k, i) => `${k} ${errs[i]}`).join(', ')}`,
        `tokens     ${tokens.join(', ')}`,
        '',
        // With --once the daemon stops now: its addresses would lead nowhere.
        ...(argv.once
          ? [`browse     CLAUDESCOPE_HOME=${shown(home)} ${self} daemon   (then its dashboard; its /metrics counts what it ingests from its start)`]
          : [`dashboard  ${daemon.url}/`, `metrics    ${daemon.url}/metrics`, `health     ${daemon.url}/healthz`]),
        `report     ${self} report --home ${shown(home)} --by model   (or --by feature, --by day, --json, --csv)`,
        `home       ${home}`,
        '',
      ];
      process.stdout.write(`${out.join('\n')}\n`);
      if (!argv.once) {
        err('demo: the daemon keeps serving; Ctrl-C to stop\n');
        await untilSignal();
      }
    } finally {
      await daemon.stop();
    }
  },
};

/**
 * How to run this CLI again, as the user did: `claudescope` when it runs as an installed bin,
 * else `node <path to it>` (in a clone, `npm run demo` runs the file, which is not on the PATH).
 */
function howInvoked(): string {
  const script = process.argv[1] ?? '';
  // npx runs it from its own cache, off the PATH.
  if (/[\\/]_npx[\\/]/.test(script)) return 'npx claudescope';
  if (script === '' || /[\\/]node_modules[\\/]/.test(script) || basename(script) === 'claudescope') return 'claudescope';
  const rel = relative(process.cwd(), script);
  return `node ${shown(rel.startsWith('..') ? script : rel)}`;
}

/** A path as a shell command may hold it: quoted when it has spaces. */
function shown(path: string): string {
  return /\s/.test(path) ? JSON.stringify(path) : path;
}

/** Whether `host:port` can be listened on now. */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const probe = createServer();
    probe.once('error', () => resolvePort(false));
    probe.listen(port, host, () => probe.close(() => resolvePort(true)));
  });
}

export default command;

/** Throws when a running daemon owns `home`'s data folder (one that does not exist is nobody's). */
function refuseLockedHome(home: string): void {
  let lock;
  try {
    lock = acquireLock(join(home, 'data', 'daemon.lock'));
  } catch (e: unknown) {
    if (e instanceof DataDirLockedError) throw new Error(`demo: a claudescope daemon (pid ${e.ownerPid}) is running on ${home}; give the demo another --home (or none, for a fresh one), or stop that daemon`);
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  lock.release();
}
