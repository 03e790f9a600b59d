/**
 * The `influxdb:` block as the daemon takes it at start, refused as every other configuration
 * problem is: a {@link ConfigError} naming the file, line and field
 * (`config.yaml:3: influxdb.url: required (e.g. http://127.0.0.1:8086)`), for the daemon and
 * for `claudescope daemon --print-config` alike. Reads the token and password files; opens
 * no connection.
 */
import { InfluxConfigError, parseInfluxSettings, type InfluxSettings } from '../store/influx-config.js';
import { ConfigError, fileLocator, type DaemonConfig } from './config.js';

/**
 * The sink's settings, or null without an `influxdb:` block.
 * @throws ConfigError on a block the sink cannot use, or `rules.store: influxdb` without one
 */
export function daemonInfluxSettings(config: Pick<DaemonConfig, 'influxdb' | 'configFile' | 'rules'>, env: NodeJS.ProcessEnv = process.env): InfluxSettings | null {
  const locate = fileLocator(config.configFile);
  const where = (field: string): string => locate(field) ?? 'configuration';
  let settings: InfluxSettings | null;
  try {
    settings = parseInfluxSettings(config.influxdb, config.configFile, env);
  } catch (err: unknown) {
    if (!(err instanceof InfluxConfigError)) throw err;
    const field = `influxdb.${err.field}`;
    throw new ConfigError([{ where: where(field), field, message: err.message.slice(field.length + 2) }]);
  }
  if (settings === null && config.rules.store === 'influxdb') {
    throw new ConfigError([{ where: where('rules.store'), field: 'rules.store', message: 'influxdb needs an influxdb: block (the sink the rules read)' }]);
  }
  return settings;
}
