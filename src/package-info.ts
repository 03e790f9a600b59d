/** Where claudescope's own package is (from src/ or dist/src/, in a clone or under node_modules). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OwnPackage {
  /** The folder holding claudescope's package.json. */
  root: string;
  version: string;
}

let cached: OwnPackage | null | undefined;

/** claudescope's package.json, found by walking up from this file; null when none is found. */
export function ownPackage(): OwnPackage | null {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'claudescope') return (cached = { root: dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' });
    } catch {
      // no (readable) package.json here: keep walking
    }
    const up = dirname(dir);
    if (up === dir) return (cached = null);
    dir = up;
  }
}
