/**
 * Which store a command reads when the daemon's configuration ships to InfluxDB: a daemon with
 * `influxdb.embedded_store: false` keeps no SQLite store, so `report` and `rules eval` read
 * InfluxDB (InfluxQL) instead, as the daemon's dashboard and rules do; `rules eval` also reads
 * it with `rules.store: influxdb` (a fleet's rules instance), like the daemon's rules. Both
 * refuse what the daemon refuses at start, with its message.
 */
import type { DaemonConfig } from '../daemon/config.js';
import { daemonInfluxSettings } from '../daemon/influx-settings.js';
import type { InfluxQueryApi } from '../store/influx-query.js';

/**
 * The InfluxDB query interface the command should read, or null for the embedded store.
 * @param rules true for `rules eval` (honours `rules.store`), false for `report`.
 */
export async function influxQueryFor(config: DaemonConfig, rules: boolean): Promise<InfluxQueryApi | null> {
  // Settings the daemon refuses at start are refused here with its message (file, line, field).
  const settings = daemonInfluxSettings(config);
  if (settings === null) return null;
  const store = rules ? config.rules.store : null;
  if (store === 'embedded') return null;
  if (store !== 'influxdb' && settings.embeddedStore) return null;
  const { InfluxQueryApi } = await import('../store/influx-query.js');
  return new InfluxQueryApi({ connection: settings.connection });
}
