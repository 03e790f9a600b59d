/**
 * The settings the daemon refuses at start, checked without starting it: the pricing block, the
 * rule files, the notifiers and the influxdb block (nothing is opened or sent). For commands
 * that must fail on them before doing anything else (`daemon --print-config`, `demo`), with the
 * message the daemon's start would give.
 */
import type { DaemonConfig } from './config.js';

/** @throws the ConfigError, RuleFileError or NotifierConfigError the daemon's start would throw */
export async function checkDaemonSettings(config: DaemonConfig, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [{ createDaemonPricer }, { prepareAlerting }, { daemonInfluxSettings }] = await Promise.all([
    import('./pricer-loader.js'), import('./alerting.js'), import('./influx-settings.js'),
  ]);
  createDaemonPricer(config);
  await prepareAlerting(config, env);
  daemonInfluxSettings(config, env);
}
