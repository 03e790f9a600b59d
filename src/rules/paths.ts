/** Where rules and alert state live by default. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `rules/` folder shipped in the package (found by walking up to its package.json). */
export function defaultRulesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'claudescope') return join(dir, 'rules');
      } catch {
        // keep walking
      }
    }
    dir = dirname(dir);
  }
  return join(process.cwd(), 'rules');
}

/** `<home>/data/alerts.db`: alerts, notification log, silences. */
export function alertStatePath(home: string): string {
  return join(home, 'data', 'alerts.db');
}
