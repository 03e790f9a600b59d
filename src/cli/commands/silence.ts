/**
 * `claudescope silence add alertname=X model=~"claude-.*" --duration 2h --comment deploy`,
 * `claudescope silence list`, `claudescope silence expire ID`. When the daemon runs, the
 * command goes through its HTTP API (`/api/silences`, with the configured token); when it
 * does not answer, silences are written to the alert state file, which the daemon reads at
 * every evaluation.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDirsSync } from '../../make-dirs.js';
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { defaultHome, loadDaemonConfig } from '../../daemon/config.js';
import { alertStatePath } from '../../rules/paths.js';
import { StateDb } from '../../rules/state-db.js';
import { formatMatcher, parseMatcher } from '../../rules/silences.js';
import { formatDuration, parseDuration } from '../../rules/duration.js';

interface SilenceArgs {
  action: 'add' | 'list' | 'expire';
  args: string[];
  duration: string;
  comment: string;
  author?: string;
  home?: string;
  state?: string;
  all: boolean;
  config?: string;
}

interface SilenceRecord { id: string; matchers: { name: string; op: '=' | '!=' | '=~' | '!~'; value: string }[]; startsAt: number; endsAt: number; createdBy: string; comment: string }

/** The running daemon's base URL and token from its configuration, or null when it cannot be read. */
function daemonTarget(argv: SilenceArgs): { url: string; token: string | null; home: string } | null {
  try {
    const c = loadDaemonConfig({ flags: { ...(argv.home !== undefined ? { home: argv.home } : {}), ...(argv.config !== undefined ? { config: argv.config } : {}) }, env: process.env });
    const host = c.listen.host === '0.0.0.0' || c.listen.host === '::' ? '127.0.0.1' : c.listen.host;
    return { url: `http://${host.includes(':') ? `[${host}]` : host}:${c.listen.port}`, token: c.auth.token, home: c.home };
  } catch {
    return null;
  }
}

/**
 * The names of the configuration's Alertmanager notifiers: claudescope's silences do not hold
 * alerts back from them (an Alertmanager silences on its own side), which `silence add` says.
 */
function alertmanagerNotifiers(argv: SilenceArgs): string[] {
  try {
    const c = loadDaemonConfig({ flags: { ...(argv.home !== undefined ? { home: argv.home } : {}), ...(argv.config !== undefined ? { config: argv.config } : {}) }, env: process.env });
    return c.notifiers.filter((n) => n['type'] === 'alertmanager').map((n) => String(n['name'] ?? 'alertmanager'));
  } catch {
    return [];
  }
}

/** On stderr, so that stdout stays the new silence's id alone. */
function noteAlertmanager(argv: SilenceArgs): void {
  const names = alertmanagerNotifiers(argv);
  if (names.length === 0) return;
  process.stderr.write(`note: this silence mutes the email, webhook and Slack notifiers; the Alertmanager notifier${names.length > 1 ? 's' : ''} ${names.join(', ')} still get${names.length > 1 ? '' : 's'} the alerts it matches: silence them in the Alertmanager too (amtool silence add ${argv.args.map((a) => formatMatcher(parseMatcher(a))).join(' ')})\n`);
}

/**
 * Sends one request to the daemon; null when no daemon answers (connection refused), so the
 * caller falls back to the state file. Any answer other than success is an error.
 */
async function viaDaemon(argv: SilenceArgs, method: string, path: string, body?: unknown): Promise<unknown> {
  if (argv.state !== undefined) return null; // an explicit state file: work on it directly
  const target = daemonTarget(argv);
  if (!target) return null;
  const auth: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
  let res: Response;
  try {
    // Only the daemon of this home: another one on the same port owns other alert state.
    const h = await fetch(`${target.url}/healthz`, { headers: auth, signal: AbortSignal.timeout(5000) });
    const health = (await h.json().catch(() => ({}))) as { events_dir?: string };
    if (health.events_dir !== join(target.home, 'events')) return null;
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: { ...(target.token ? { authorization: `Bearer ${target.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    });
  } catch {
    return null; // not running
  }
  const json = (await res.json().catch(() => ({}))) as { message?: string; error?: string };
  if (res.status === 404 && json.error === 'not_found' && json.message === undefined) return null; // a daemon without the API
  if (!res.ok) throw new Error(`daemon at ${target.url}: ${json.message ?? json.error ?? `HTTP ${res.status}`}`);
  return json;
}

function printSilences(list: SilenceRecord[], now: number): void {
  if (list.length === 0) process.stdout.write('no active silences\n');
  for (const s of list) {
    const left = s.endsAt > now ? `ends in ${formatDuration(s.endsAt - now)}` : 'expired';
    process.stdout.write(`${s.id} ${s.matchers.map(formatMatcher).join(' ')} ${left} by ${s.createdBy}${s.comment ? ` — ${s.comment}` : ''}\n`);
  }
}

const command: CommandModule<object, SilenceArgs> = {
  command: 'silence <action> [args..]',
  describe: 'Add, list or expire silences of alerts',
  builder: (y: Argv) =>
    y.positional('action', { choices: ['add', 'list', 'expire'] as const })
      .positional('args', { type: 'string', array: true, default: [] as string[], describe: 'add: matchers (name=value, name!=value, name=~regex, name!~regex); expire: silence id, or a prefix naming one active silence' })
      .option('duration', { type: 'string', default: '1h', requiresArg: true, describe: 'add: how long (e.g. 30m, 2h, 1d)' })
      .option('comment', { type: 'string', default: '', describe: 'add: why' })
      .option('author', { type: 'string', describe: 'add: who (default the user name)' })
      .option('home', { type: 'string', describe: 'Folder with data/alerts.db and config.yaml (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('state', { type: 'string', describe: 'alert state file (default <home>/data/alerts.db)' })
      .option('all', { type: 'boolean', default: false, describe: 'list: include expired silences' })
      .option('config', { type: 'string', describe: 'the daemon\'s config file, to reach its API (env CLAUDESCOPE_CONFIG; default $CLAUDESCOPE_HOME/config.yaml if present)' })
      .example('$0 silence add alertname=ClaudeHighErrorRate model=claude-opus-4-5 --duration 2h --comment "incident 42"', '') as unknown as Argv<SilenceArgs>,
  handler: async (argv) => {
    // Commands that change state go through the daemon when it runs (it owns the state file).
    const now0 = Date.now();
    switch (argv.action) {
      case 'add': {
        if (argv.args.length === 0) throw new Error('silence add: give at least one matcher, e.g. alertname=ClaudeHighErrorRate');
        argv.args.forEach(parseMatcher);
        const r = (await viaDaemon(argv, 'POST', '/api/silences', {
          matchers: argv.args, duration: argv.duration, comment: argv.comment, created_by: argv.author ?? userInfo().username,
        })) as { silence: SilenceRecord } | null;
        if (r) {
          process.stdout.write(`${r.silence.id}\n`);
          noteAlertmanager(argv);
          return;
        }
        break;
      }
      case 'list': {
        const r = (await viaDaemon(argv, 'GET', `/api/silences${argv.all ? '?all=true' : ''}`)) as { silences: SilenceRecord[] } | null;
        if (r) {
          printSilences(r.silences, now0);
          return;
        }
        break;
      }
      case 'expire': {
        const id = argv.args[0];
        if (id === undefined) throw new Error('silence expire: give the silence id');
        // An id or a prefix of one (as `silence list` shows ids): the daemon, or without one the
        // state file below, resolves it and says the full id it expired.
        const r = (await viaDaemon(argv, 'DELETE', `/api/silences/${encodeURIComponent(id)}`)) as { expired?: string } | null;
        if (r) {
          process.stdout.write(`expired ${r.expired ?? id}\n`);
          return;
        }
        break;
      }
      default:
        break;
    }
    const path = argv.state ?? alertStatePath(argv.home ?? defaultHome());
    // Only `add` creates the state: listing or expiring in a mistyped --home must neither leave a
    // new data folder behind nor read its empty state as "no silences".
    if (argv.action !== 'add' && !existsSync(path)) {
      if (argv.action === 'expire') throw new Error(`no silence ${argv.args[0] ?? ''}: no alert state at ${path}`);
      process.stdout.write(`no active silences (no alert state yet at ${path})\n`);
      return;
    }
    makeDirsSync(dirname(path));
    const db = StateDb.open(path);
    try {
      const now = Date.now();
      switch (argv.action) {
        case 'add': {
          if (argv.args.length === 0) throw new Error('silence add: give at least one matcher, e.g. alertname=ClaudeHighErrorRate');
          const ms = parseDuration(argv.duration);
          if (ms === null || ms <= 0) throw new Error(`--duration: not a duration: ${argv.duration}`);
          const id = randomUUID();
          db.addSilence({ id, matchers: argv.args.map(parseMatcher), startsAt: now, endsAt: now + ms, createdBy: argv.author ?? userInfo().username, comment: argv.comment });
          process.stdout.write(`${id}\n`);
          noteAlertmanager(argv);
          return;
        }
        case 'list': {
          printSilences(db.silences().filter((s) => argv.all || s.endsAt > now), now);
          return;
        }
        case 'expire': {
          const id = argv.args[0];
          if (id === undefined) throw new Error('silence expire: give the silence id');
          const full = db.silenceIdFor(id, now);
          if (full === null || !db.expireSilence(full, now)) throw new Error(`no silence ${id} (or several start with it: give more of the id)`);
          process.stdout.write(`expired ${full}\n`);
          return;
        }
        default: {
          const never: never = argv.action;
          throw new Error(`unknown action ${String(never)}`);
        }
      }
    } finally {
      db.close();
    }
  },
};

export default command;
