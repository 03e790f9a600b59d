/**
 * The compose file's Prometheus configuration, checked by `promtool check config` as the
 * container would see it: the compose file's mounts (the rules folder, the token secret) laid
 * out in a temporary folder and the configuration's absolute paths pointed there.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
