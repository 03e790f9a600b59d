/**
 * The daemon's name in a fleet: the `host` tag of its `claudescope_pipeline` points in
 * InfluxDB. `influxdb.instance` when set; otherwise the name kept in `<home>/data/instance`,
 * the OS host name at the data folder's first start.
 *
 * Kept with the data folder because the folder, not the machine, is the pipeline: a container
 * re-created over the same volume gets a new host name but resumes the same files from the
 * same checkpoints. Tagged by the new host name it would be a second host to the fleet's
 * queries, the old name's last lag summed with its own until that point left their window.
 *
 * @example
 * const name = instanceName(settings.instance, '/home/me/.claudescope/data'); // e.g. "web-1"
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The file in the data folder that keeps the name. */
export const INSTANCE_FILE = 'instance';

/**
 * @param configured `influxdb.instance`, or null.
 * @param dataDir the daemon's data folder (its lock held, so no other daemon writes the file).
 * @param log told when the name cannot be kept (the host name is used for this run).
 */
export function instanceName(configured: string | null, dataDir: string, log?: (msg: string, fields: Record<string, unknown>) => void, host = hostname()): string {
  if (configured !== null) return configured;
  const path = join(dataDir, INSTANCE_FILE);
  try {
    const kept = readFileSync(path, 'utf8').split('\n')[0]!.trim();
    if (kept !== '') return kept;
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      log?.('could not read the kept instance name; using the host name for this run', { path, err: String(err) });
      return host;
    }
  }
  try {
    // Renamed into place: a crash mid-write never leaves an empty or partial name.
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, `${host}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err: unknown) {
    log?.('could not keep the instance name in the data folder; a host name change would make this daemon a new host to the fleet', { path, err: String(err) });
  }
  return host;
}
