/**
 * The compose file's Prometheus configuration, checked by `promtool check config` as the
 * container would see it: the compose file's mounts (the rules folder, the token secret) laid
 * out in a temporary folder and the configuration's absolute paths pointed there. And its
 * arguments: the data it keeps covers the month the dashboard's spend panel adds up.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import plainTest from 'ava';
import { parse } from 'yaml';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';

const test = testWith('promtool');

/** `host:container` volume mounts of one compose service (the simple list form used by the file). */
function mounts(compose: string, service: string): [string, string][] {
  const m = new RegExp(`\\n  ${service}:\\n([\\s\\S]*?)(?=\\n  \\S|\\n\\S|$)`).exec(compose);
  const block = m?.[1] ?? '';
  const vols = /\n    volumes:\n((?:      - .*\n?)+)/.exec(`\n${block}`)?.[1] ?? '';
  return vols.split('\n').map((l) => l.replace(/^\s*-\s*/, '').trim()).filter(Boolean).map((l) => {
    const [host, container] = l.split(':');
    return [host!, container!];
  });
}

test('the compose file\'s prometheus.yml passes promtool check config with the mounted rules folder (no test files loaded as rules)', (t) => {
  const dir = tempDir(t);
  const compose = readFileSync('docker/docker-compose.yml', 'utf8');
  let cfg = '';
  const rewrites: [string, string][] = [];
  for (const [host, container] of mounts(compose, 'prometheus')) {
    if (container === '/etc/prometheus/prometheus.yml') cfg = readFileSync(join('docker', host), 'utf8');
    else if (host.startsWith('.')) {
      const local = join(dir, container.replace(/\//g, '_'));
      cpSync(join('docker', host), local, { recursive: true });
      rewrites.push([container, local]);
    }
  }
  t.not(cfg, '', 'the compose file mounts docker/prometheus/prometheus.yml');
  const token = join(dir, 'claudescope_token');
  writeFileSync(token, 'secret');
  rewrites.push(['/run/secrets/claudescope_token', token]);
  for (const [from, to] of rewrites) cfg = cfg.split(from).join(to);
  writeFileSync(join(dir, 'prometheus.yml'), cfg);
  const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout + r.stderr, /SUCCESS: \d+ rules found/);
});

const DAY_MS = 86_400_000;

/** A Prometheus duration (`45d`, `6w`, `1y2w`) in ms, or null when it is not one. */
function promDurationMs(v: string): number | null {
  const m = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(v);
  if (!m || v === '') return null;
  const units = [365 * DAY_MS, 7 * DAY_MS, DAY_MS, 3_600_000, 60_000, 1000, 1];
  return units.reduce((a, u, i) => a + Number(m[i + 1] ?? 0) * u, 0);
}

plainTest('the compose file\'s Prometheus keeps at least 31 days (its default 15 cannot hold a month\'s spend), with the image\'s config file and data folder still passed', (t) => {
  const compose = parse(readFileSync('docker/docker-compose.yml', 'utf8')) as { services: Record<string, { command?: unknown; volumes?: string[] }> };
  const prom = compose.services['prometheus'];
  // A command replaces the image's arguments: the config file and the data folder must be named again.
  const args = prom?.command;
  t.true(Array.isArray(args) && args.every((a) => typeof a === 'string'), `command: ${JSON.stringify(args)}`);
  const flags = new Map((args as string[]).map((a) => {
    const eq = a.indexOf('=');
    return eq < 0 ? [a, ''] : [a.slice(0, eq), a.slice(eq + 1)];
  }));
  const mountedAt = (prom?.volumes ?? []).map((v) => v.split(':')[1]);
  t.true(mountedAt.includes(flags.get('--config.file')), `--config.file=${flags.get('--config.file')} is not where prometheus.yml is mounted (${mountedAt.join(', ')})`);
  t.true(mountedAt.includes(flags.get('--storage.tsdb.path')), `--storage.tsdb.path=${flags.get('--storage.tsdb.path')} is not the data volume (${mountedAt.join(', ')})`);
  const retention = promDurationMs(flags.get('--storage.tsdb.retention.time') ?? '');
  t.not(retention, null, `--storage.tsdb.retention.time: ${flags.get('--storage.tsdb.retention.time')}`);
  t.true((retention ?? 0) >= 31 * DAY_MS, `Prometheus keeps ${(retention ?? 0) / DAY_MS} days`);
  // A size limit would cut the data before the time does.
  t.false(flags.has('--storage.tsdb.retention.size'));
});
