/** Where rules and alert state live by default. */
import { join } from 'node:path';
import { ownPackage } from '../package-info.js';

/** The `rules/` folder shipped in the package (next to its package.json). */
export function defaultRulesDir(): string {
  return join(ownPackage()?.root ?? process.cwd(), 'rules');
}

/** `<home>/data/alerts.db`: alerts, notification log, silences. */
export function alertStatePath(home: string): string {
  return join(home, 'data', 'alerts.db');
}
