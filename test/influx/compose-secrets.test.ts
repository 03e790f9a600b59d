/**
 * The compose file's services get their credentials from the secrets the compose header says to
 * create, never from a password written into the repository.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { tempDir } from '../helpers/events.js';

interface Service {
  entrypoint?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
}
const compose = parse(readFileSync('docker/docker-compose.yml', 'utf8')) as { services: Record<string, Service> };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? (name === 'secrets' ? [] : filesUnder(p)) : [p];
  });
}

test('no file under docker/ holds a password: each is read from a secret', (t) => {
  const offenders = filesUnder('docker').filter((f) => /"password"\s*:\s*"[^"]+"|password:[ \t]*(?!\$__file\{)[^\s$]/i.test(readFileSync(f, 'utf8')));
  t.deepEqual(offenders, []);
});

test('Chronograf connects to InfluxDB as the v1 user with the password of the influxdb_v1_password secret, read when it starts', (t) => {
  const c = compose.services['chronograf'];
  if (!c?.entrypoint) throw new Error('the chronograf service has no entrypoint');
  t.deepEqual(c.secrets, ['influxdb_v1_password']);
  t.is(c.environment?.['INFLUXDB_URL'], 'http://influxdb:8086');
  t.is(c.environment?.['INFLUXDB_USERNAME'], compose.services['influxdb']?.environment?.['INFLUXDB_V1_USER']);
  // Run the entrypoint as the container would (compose turns `$$` into `$`), with a stand-in
  // `chronograf` that prints what it was given, and the secret at a path of this test's.
  const dir = tempDir(t);
  const secret = join(dir, 'influxdb_v1_password');
  writeFileSync(secret, 'p4ss w0rd');
  const fake = join(dir, 'chronograf');
  writeFileSync(fake, '#!/bin/sh\nprintf "%s|%s|%s" "$INFLUXDB_URL" "$INFLUXDB_PASSWORD" "$*"\n');
  chmodSync(fake, 0o755);
  const [shell, ...args] = c.entrypoint.map((a) => a.replaceAll('$$', '$').replaceAll('/run/secrets/influxdb_v1_password', secret));
  const r = spawnSync(shell!, args, { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, ...c.environment } });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'http://influxdb:8086|p4ss w0rd|--resources-path=/usr/share/chronograf/resources');
});
