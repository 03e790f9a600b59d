import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempHome } from './event-files.js';

/** A new store in a temporary home, closed and removed when the test ends. */
export function openStore(t: { teardown(fn: () => void): void }): { store: SqliteStore; path: string } {
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.data, 'claudescope.db');
  const store = SqliteStore.open({ path });
  t.teardown(() => store.db.open && store.close());
  return { store, path };
}
