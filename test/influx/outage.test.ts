/**
 * InfluxDB goes away while 20,000 events flow through a real daemon process and comes back:
 * every event id is in InfluxDB exactly once, and the daemon's memory stays flat meanwhile
 * (the files are the buffer: it stops reading).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { call, header, line, tempHome, waitFor } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';

const it = testWith('influxd');
const TOTAL = 20_000;
const CHUNK = 500;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

it('InfluxDB stopped and restarted while 20,000 events flow: every event id lands exactly once, memory stays flat', async (t) => {
  t.timeout(110_000);
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const h = tempHome();
  t.teardown(h.cleanup);
  const cfg = join(h.home, 'config.yaml');
  // Port 0: the daemon takes a free one and names it in its started line (a port found free
  // here could be taken by a concurrent test's server before the daemon binds it).
  writeFileSync(cfg, `listen: { host: 127.0.0.1, port: 0 }
tail: { poll_interval_ms: 100 }
retention: { sealed_files: keep }
rules: { dirs: [] }
influxdb:
  url: ${influx.url}
  api: v1
  database: fleet
  embedded_store: false
  min_retry_delay_ms: 50
  max_retry_delay_ms: 400
  health_interval_ms: 1000
`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'daemon', '--home', h.home, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLAUDESCOPE_HOME: h.home } });
  let log = '';
  child.stdout.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-20_000); });
  child.stderr.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-20_000); });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await waitFor(() => log.includes('started on') || child.exitCode !== null, 'daemon started', 30_000);
  t.is(child.exitCode, null, log);
  const daemonUrl = /started on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1] ?? '';
  t.not(daemonUrl, '', log);

  const count = async (): Promise<number> => {
    try {
      return Number((await influx.values('SELECT COUNT("event_id") FROM claude_call', 'fleet'))[0]?.[1] ?? 0);
    } catch {
      return -1;
    }
  };
  const hd = header();
  const path = join(h.events, `app-${hd.host}-${hd.pid}-1-0.ndjson`);
  writeFileSync(path, line(hd), { mode: 0o600 });
  const ids: string[] = [];
  let seq = 0;
  const writeChunk = (): void => {
    let text = '';
    const now = Date.now();
    for (let i = 0; i < CHUNK; i++) {
      const e = call({ seq: ++seq, ts: now - CHUNK + i, tags: { feature: `f${i % 5}` } });
      ids.push(e.event_id);
      text += line(e);
    }
    appendFileSync(path, text);
  };

  // Phase 1: InfluxDB up.
  while (ids.length < 5000) {
    writeChunk();
    await new Promise((r) => setTimeout(r, 30));
  }
  await waitFor(async () => (await count()) >= 2000, 'some events in InfluxDB', 30_000);

  // Phase 2: InfluxDB down while the rest is written.
  await influx.stop();
  await new Promise((r) => setTimeout(r, 1500)); // the daemon fills its batches in flight and stops reading
  const baseline = rssKb(child.pid!);
  const samples: number[] = [];
  while (ids.length < TOTAL) {
    writeChunk();
    samples.push(rssKb(child.pid!));
    await new Promise((r) => setTimeout(r, 60));
  }
  for (let i = 0; i < 10; i++) {
    samples.push(rssKb(child.pid!));
    await new Promise((r) => setTimeout(r, 100));
  }
  const backlogBytes = readFileSync(path).length;
  const healthz = (await (await fetch(`${daemonUrl}/healthz`)).json()) as { lag_bytes: number };
  t.true(healthz.lag_bytes > backlogBytes / 2, `the backlog stays in the file (lag ${healthz.lag_bytes} of ${backlogBytes} bytes)`);

  // Phase 3: InfluxDB back; the backlog drains.
  await influx.restart();
  await waitFor(async () => (await count()) === TOTAL, `all ${TOTAL} events in InfluxDB`, 60_000);
  const [row] = await influx.values('SELECT COUNT("event_id"), COUNT(DISTINCT("event_id")) FROM claude_call', 'fleet');
  t.deepEqual(row?.slice(1), [TOTAL, TOTAL]);
  const stored = new Set((await influx.values('SELECT "event_id" FROM claude_call', 'fleet')).map((v) => v[1]));
  t.is(stored.size, TOTAL);
  t.true(ids.every((id) => stored.has(id)));

  const growthMb = (Math.max(...samples) - baseline) / 1024;
  t.log(`RSS at outage start ${(baseline / 1024).toFixed(1)} MB, max during outage ${(Math.max(...samples) / 1024).toFixed(1)} MB (+${growthMb.toFixed(1)} MB) while ${(backlogBytes / 1e6).toFixed(1)} MB of events waited in the file`);
  t.true(growthMb < 24, `memory grew ${growthMb.toFixed(1)} MB during the outage`);
  const metrics = await (await fetch(`${daemonUrl}/metrics`)).text();
  t.regex(metrics, /claudescope_influx_retries_total [1-9]/);
  t.regex(metrics, /claudescope_influx_points_written_total 20000/);
  // A file that only grew is never taken for a truncated one (that would re-deliver it).
  t.regex(metrics, /claudescope_truncations_total 0/);

  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  t.is(child.exitCode, 0, log);
});
