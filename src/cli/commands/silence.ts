/**
 * `claudescope silence add alertname=X model=~"claude-.*" --duration 2h --comment deploy`,
 * `claudescope silence list`, `claudescope silence expire ID`. Silences are written to the
 * alert state file, which the running daemon reads at every evaluation.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { defaultHome } from '../../daemon/config.js';
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
}

const command: CommandModule<object, SilenceArgs> = {
  command: 'silence <action> [args..]',
  describe: 'Add, list or expire silences of alerts',
  builder: (y: Argv) =>
    y.positional('action', { choices: ['add', 'list', 'expire'] as const })
      .positional('args', { type: 'string', array: true, default: [] as string[], describe: 'add: matchers (name=value, name!=value, name=~regex); expire: silence id' })
      .option('duration', { type: 'string', default: '1h', describe: 'add: how long (e.g. 30m, 2h, 1d)' })
      .option('comment', { type: 'string', default: '', describe: 'add: why' })
      .option('author', { type: 'string', describe: 'add: who (default the user name)' })
      .option('home', { type: 'string', describe: 'CLAUDESCOPE_HOME (default ~/.claudescope)' })
      .option('state', { type: 'string', describe: 'alert state file (default <home>/data/alerts.db)' })
      .option('all', { type: 'boolean', default: false, describe: 'list: include expired silences' })
      .example('$0 silence add alertname=ClaudeHighErrorRate model=claude-opus-4-5 --duration 2h --comment "incident 42"', '') as unknown as Argv<SilenceArgs>,
  handler: (argv) => {
    const path = argv.state ?? alertStatePath(argv.home ?? defaultHome());
    mkdirSync(dirname(path), { recursive: true });
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
          return;
        }
        case 'list': {
          const list = db.silences().filter((s) => argv.all || s.endsAt > now);
          if (list.length === 0) process.stdout.write('no active silences\n');
          for (const s of list) {
            const left = s.endsAt > now ? `ends in ${formatDuration(s.endsAt - now)}` : 'expired';
            process.stdout.write(`${s.id} ${s.matchers.map(formatMatcher).join(' ')} ${left} by ${s.createdBy}${s.comment ? ` — ${s.comment}` : ''}\n`);
          }
          return;
        }
        case 'expire': {
          const id = argv.args[0];
          if (id === undefined) throw new Error('silence expire: give the silence id');
          if (!db.expireSilence(id, now)) throw new Error(`no silence ${id}`);
          process.stdout.write(`expired ${id}\n`);
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
