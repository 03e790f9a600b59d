/** `claudescope alerts`: the pending and firing alerts from the daemon's alert state. */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { defaultHome } from '../../daemon/config.js';
import { alertStatePath } from '../../rules/paths.js';
import { StateDb } from '../../rules/state-db.js';
import { silencedBy } from '../../rules/silences.js';
import { formatDuration } from '../../rules/duration.js';
import { readableNumber } from '../../rules/template.js';

interface AlertsArgs { home?: string; state?: string; json: boolean }

const command: CommandModule<object, AlertsArgs> = {
  command: 'alerts',
  describe: 'List pending and firing alerts',
  builder: (y: Argv) =>
    y.option('home', { type: 'string', describe: 'Folder with data/alerts.db (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .option('state', { type: 'string', describe: 'alert state file (default <home>/data/alerts.db)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the alerts as JSON (an empty list when there are none)' }) as unknown as Argv<AlertsArgs>,
  handler: (argv) => {
    const path = argv.state ?? alertStatePath(argv.home ?? defaultHome());
    if (!existsSync(path)) {
      // A --state or --home whose folder is not there is a mistyped path, not a quiet host.
      const named = argv.state !== undefined ? '--state' : argv.home !== undefined ? '--home' : null;
      if (named !== null && !existsSync(dirname(path))) {
        throw new Error(`${named}: no folder ${dirname(path)}, where the alert state would be: pass the --home the daemon runs with (its state is <home>/data/alerts.db)`);
      }
      // No state yet is no alert: with --json, still JSON (an empty list), as a script reads it.
      process.stdout.write(argv.json ? '[]\n' : 'no alerts (no alert state yet)\n');
      return;
    }
    const db = StateDb.open(path, { readonly: true });
    try {
      const now = Date.now();
      const silences = db.silences();
      const alerts = db.loadAlerts().filter((a) => a.state !== 'resolved').map((a) => ({ ...a, silencedBy: silencedBy(silences, a.labels, now) }));
      if (argv.json) {
        // The exact numbers, as before: the text is for reading.
        process.stdout.write(`${JSON.stringify(alerts.map(({ valueText: _text, ...a }) => a), null, 2)}\n`);
        return;
      }
      if (alerts.length === 0) process.stdout.write('no pending or firing alerts\n');
      for (const a of alerts.sort((x, y) => x.state.localeCompare(y.state) || x.rule.localeCompare(y.rule))) {
        const labels = Object.entries(a.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(',');
        const since = a.state === 'firing' ? (a.firedAt ?? a.activeAt) : a.activeAt;
        // As the rule's kind gave it when the daemon recorded it (0.0315%, 800ms), as notifications
        // and rules eval give it; a value recorded without its text, rounded but never to 0.
        const value = a.valueText ?? (a.value === null ? 'unknown' : readableNumber(a.value));
        process.stdout.write(`${a.state.toUpperCase().padEnd(8)} ${a.rule} {${labels}} value=${value} for ${formatDuration(now - since)}${a.silencedBy ? ` silenced by ${a.silencedBy.slice(0, 8)}` : ''}\n`);
        const summary = a.annotations['summary'];
        if (summary) process.stdout.write(`         ${summary}\n`);
      }
    } finally {
      db.close();
    }
  },
};

export default command;
