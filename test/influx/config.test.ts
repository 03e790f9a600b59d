import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/events.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { daemonInfluxSettings } from '../../src/daemon/influx-settings.js';
import { parseInfluxSettings } from '../../src/store/influx-config.js';

test('the influxdb block is validated with file, line and field; a typo is refused', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'influxdb:\n  url: http://127.0.0.1:8086\n  api: v3\n  bukcet: x\n');
  const err = t.throws(() => loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: dir } }));
  t.regex(err.message, /config\.yaml:3: influxdb\.api: expected one of v2, v1/);
  t.regex(err.message, /config\.yaml:4: influxdb\.bukcet: unknown field/);
});

test('settings: v2 by default with the SQLite store kept, token from a file next to the config, secrets never in the URL', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'tok'), 'secret-token\n');
  const s = parseInfluxSettings({ url: 'http://influx:8086/', org: 'o', bucket: 'b', token_file: 'tok' }, join(dir, 'config.yaml'), {});
  t.like(s, { embeddedStore: true, connection: { url: 'http://influx:8086', api: 'v2', org: 'o', bucket: 'b', database: 'b', token: 'secret-token' } });
  t.is(parseInfluxSettings(null), null);
  t.throws(() => parseInfluxSettings({ url: 'http://u:p@influx:8086' }, null, {}), { message: /influxdb\.url: put credentials/ });
  t.throws(() => parseInfluxSettings({ url: 'http://x', token: 'a', username: 'u' }, null, {}), { message: /influxdb\.username/ });
  t.like(parseInfluxSettings({ url: 'http://x', api: 'v1', database: 'db', username: 'u' }, null, { CLAUDESCOPE_INFLUXDB_PASSWORD: 'pw' }), { connection: { api: 'v1', database: 'db', username: 'u', password: 'pw', token: null } });
});

test('CLAUDESCOPE_INFLUXDB_TOKEN and _PASSWORD replace the secrets written in the config file; a secret and its file together are refused', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(join(dir, 'tok'), 'file-token\n');
  writeFileSync(join(dir, 'pw'), 'file-password\n');
  const settingsWith = (block: string, env: NodeJS.ProcessEnv) => {
    writeFileSync(file, `influxdb:\n  url: http://127.0.0.1:8086\n${block}`);
    const config = loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: dir, ...env } });
    return daemonInfluxSettings(config, env)!.connection;
  };
  // The environment ranks above the file, for the field and for its *_file alike.
  t.is(settingsWith('  token: in-file\n', {}).token, 'in-file');
  t.is(settingsWith('  token: in-file\n', { CLAUDESCOPE_INFLUXDB_TOKEN: 'from-env' }).token, 'from-env');
  t.is(settingsWith('  token_file: tok\n', {}).token, 'file-token');
  t.is(settingsWith('  token_file: tok\n', { CLAUDESCOPE_INFLUXDB_TOKEN: 'from-env' }).token, 'from-env');
  const v1 = '  api: v1\n  database: db\n  username: u\n';
  t.is(settingsWith(`${v1}  password: in-file\n`, {}).password, 'in-file');
  t.is(settingsWith(`${v1}  password: in-file\n`, { CLAUDESCOPE_INFLUXDB_PASSWORD: 'from-env' }).password, 'from-env');
  t.is(settingsWith(`${v1}  password_file: pw\n`, {}).password, 'file-password');
  t.is(settingsWith(`${v1}  password_file: pw\n`, { CLAUDESCOPE_INFLUXDB_PASSWORD: 'from-env' }).password, 'from-env');
  // An empty variable is unset, as for the daemon's other variables.
  t.is(settingsWith('  token: in-file\n', { CLAUDESCOPE_INFLUXDB_TOKEN: '' }).token, 'in-file');
  // Both forms at the same level are refused, with the file's line, whatever the environment says.
  const both = t.throws(() => settingsWith(`${v1}  password: in-file\n  password_file: pw\n`, { CLAUDESCOPE_INFLUXDB_PASSWORD: 'from-env' }));
  t.is(both.message, `invalid configuration:\n  ${file}:7: influxdb.password_file: set password or password_file, not both`);
  const tokens = t.throws(() => settingsWith('  token: in-file\n  token_file: tok\n', {}));
  t.is(tokens.message, `invalid configuration:\n  ${file}:4: influxdb.token_file: set token or token_file, not both`);
});

test('api v2 refuses retention_policy (its writes cannot name one); a database/retention_policy bucket gives the queries that retention policy', (t) => {
  const err = t.throws(() => parseInfluxSettings({ url: 'http://x', api: 'v2', bucket: 'claudescope', retention_policy: 'short' }, null, {}));
  t.regex(err.message, /^influxdb\.retention_policy: not with api: v2.*bucket: claudescope\/short/);
  t.like(parseInfluxSettings({ url: 'http://x', api: 'v1', database: 'db', retention_policy: 'short' }, null, {}), { connection: { database: 'db', retentionPolicy: 'short' } });
  t.like(parseInfluxSettings({ url: 'http://x', bucket: 'claudescope/short' }, null, {}), { connection: { bucket: 'claudescope/short', database: 'claudescope', retentionPolicy: 'short' } });
  t.like(parseInfluxSettings({ url: 'http://x', bucket: 'claudescope/' }, null, {}), { connection: { database: 'claudescope', retentionPolicy: null } });
  // A database of its own is a DBRP mapping of its own (InfluxDB 2.x), read at its default.
  t.like(parseInfluxSettings({ url: 'http://x', bucket: 'b/short', database: 'mapped' }, null, {}), { connection: { database: 'mapped', retentionPolicy: null } });
  t.like(parseInfluxSettings({ url: 'http://x', bucket: 'b' }, null, {}), { connection: { database: 'b', retentionPolicy: null } });
  t.throws(() => parseInfluxSettings({ url: 'http://x', bucket: '/short' }, null, {}), { message: /^influxdb\.bucket: / });
});

test('api v2 with a database other than the bucket\'s (an InfluxDB 2.x DBRP mapping) keeps its retention_policy for the queries, as it always did', (t) => {
  // InfluxDB 2.x: writes reach the bucket; InfluxQL reads the mapping claudescope/short → claudescope-short.
  t.like(parseInfluxSettings({ url: 'http://x', api: 'v2', bucket: 'claudescope-short', database: 'claudescope', retention_policy: 'short' }, null, {}), {
    connection: { bucket: 'claudescope-short', database: 'claudescope', retentionPolicy: 'short' },
  });
  t.like(parseInfluxSettings({ url: 'http://x', bucket: 'b/short', database: 'mapped', retention_policy: 'kept' }, null, {}), { connection: { database: 'mapped', retentionPolicy: 'kept' } });
  // The bucket's own database named explicitly is no mapping: refused as without it.
  t.throws(() => parseInfluxSettings({ url: 'http://x', bucket: 'claudescope', database: 'claudescope', retention_policy: 'short' }, null, {}), { message: /^influxdb\.retention_policy: not with api: v2/ });
  t.throws(() => parseInfluxSettings({ url: 'http://x', bucket: 'claudescope/x', database: 'claudescope', retention_policy: 'short' }, null, {}), { message: /^influxdb\.retention_policy: / });
});

test('influxdb.instance names this daemon\'s health points; unset, the data folder keeps the name', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'influxdb:\n  url: http://127.0.0.1:8086\n  instance: web-1\n');
  const c = loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: dir } });
  t.is(parseInfluxSettings(c.influxdb, file, {})?.instance, 'web-1');
  t.is(parseInfluxSettings({ url: 'http://x' }, null, {})?.instance, null);
  writeFileSync(file, 'influxdb:\n  url: http://127.0.0.1:8086\n  instance: ""\n');
  t.throws(() => loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: dir } }), { message: /config\.yaml:3: influxdb\.instance/ });
});
