import type Database from 'better-sqlite3';
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

/** Makes the insert of `eventId`'s row fail, once; returns how many times that insert was tried since. */
export function failInsertOnce(db: Database.Database, eventId: string): () => number {
  let tries = 0;
  db.function('claudescope_test_fail_once', () => (tries++ === 0 ? 1 : 0));
  db.exec(`CREATE TEMP TRIGGER fail_once BEFORE INSERT ON calls WHEN NEW.event_id = '${eventId}' AND claudescope_test_fail_once() = 1
    BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`);
  return () => tries;
}
