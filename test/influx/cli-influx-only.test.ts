/**
 * `report` and `rules eval` on a home whose daemon keeps its calls in InfluxDB alone
 * (`influxdb.embedded_store: false`, no SQLite store): they read InfluxDB, as the daemon's
 * dashboard and rules do, instead of failing with "no store … run the daemon first".
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testWith } from '../helpers/external.js';
import { call, tempHome } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';
import { InfluxSink } from '../../src/store/influx-sink.js';
import { connection, priced } from './harness.js';

const it = testWith('influxd');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cli(args: string[], home: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('report and rules eval read InfluxDB when the daemon keeps no embedded store', async (t) => {
  t.timeout(90_000);
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const now = Date.now();
  const events = Array.from({ length: 40 }, (_, i) => call({
    ts: now - 60_000 + i * 100, status: i % 4 === 0 ? 'error' : 'ok', error_type: i % 4 === 0 ? 'overloaded_error' : null, http_status: i % 4 === 0 ? 529 : 200,
  }));
  const sink = new InfluxSink({ connection: connection(influx.url, 'fleet'), deadLetterPath: '/dev/null' });
  await sink.writeCalls(priced(events));
  await sink.close();

  const h = tempHome();
  t.teardown(h.cleanup);
  writeFileSync(join(h.home, 'config.yaml'), `influxdb:\n  url: ${influx.url}\n  api: v1\n  database: fleet\n  embedded_store: false\n`);

  const report = cli(['report', '--json', '--since', '1h'], h.home);
  t.is(report.code, 0, report.stderr);
  const rep = JSON.parse(report.stdout) as { rows: { calls: number; errors: number }[] } & Record<string, unknown>;
  const text = JSON.stringify(rep);
  t.regex(text, /"calls":40\b/, text.slice(0, 600));
  t.regex(text, /"errors":10\b/, text.slice(0, 600));

  const ev = cli(['rules', 'eval', '--json'], h.home);
  t.is(ev.code, 0, ev.stderr);
  const res = JSON.parse(ev.stdout) as { rules: { rule: string; samples: { value: number | null; calls: number }[] }[] };
  const err = res.rules.find((r) => r.rule === 'ClaudeHighErrorRate');
  t.is(err?.samples[0]?.value, 0.25);
  t.is(err?.samples[0]?.calls, 40);
});
