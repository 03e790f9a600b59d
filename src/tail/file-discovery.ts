/**
 * Finds the event files. Listing the folder is the truth; chokidar events are only hints to
 * look sooner, because chokidar can miss appends made through an open descriptor (which is how
 * the emitter writes).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export const EVENT_FILE_SUFFIX = '.ndjson';

/** Paths of the `*.ndjson` files directly in `dir` (none when it does not exist yet). */
export async function listEventFiles(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names.filter((n) => n.endsWith(EVENT_FILE_SUFFIX)).sort().map((n) => join(dir, n));
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export type DiscoveryHint = { kind: 'added' | 'changed' | 'removed'; path: string };

/** Watches `dir` for hints; a watcher failure (e.g. out of inotify watches) only loses hints. */
export function watchHints(dir: string, onHint: (h: DiscoveryHint) => void): { close(): Promise<void> } {
  let w: FSWatcher | undefined;
  try {
    w = watch(dir, { depth: 0, ignoreInitial: true, persistent: false });
    w.on('add', (path) => onHint({ kind: 'added', path }));
    w.on('change', (path) => onHint({ kind: 'changed', path }));
    w.on('unlink', (path) => onHint({ kind: 'removed', path }));
    w.on('error', () => {
      // Hints only: the periodic scan still finds everything.
    });
  } catch {
    w = undefined;
  }
  return { close: async () => { await w?.close(); } };
}
