import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/events.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
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
