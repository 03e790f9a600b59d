/** Scripted calls in a real SQLite store, and small builders for rule tests. */
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { CallEvent } from '../../src/event/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { parseRuleFile } from '../../src/rules/rule-schema.js';
import type { Rule } from '../../src/rules/rule-types.js';
import { call } from '../helpers/event-files.js';
import { tempDir } from '../helpers/events.js';
import { testPricer } from '../helpers/test-pricer.js';

/** 2026-03-10T12:00:00Z: a fixed "now" for scripted times. */
export const T0 = Date.UTC(2026, 2, 10, 12, 0, 0);
export const MIN = 60_000;

export function openStore(t: ExecutionContext): SqliteStore {
  const dir = tempDir(t, 'claudescope-rules-');
  const store = SqliteStore.open({ path: join(dir, 'claudescope.db') });
  t.teardown(() => store.close());
  return store;
}

const pricer = testPricer();

/** Commits calls built from `over` (each a partial CallEvent) through the store's write API. */
export function commit(store: SqliteStore, events: Partial<CallEvent>[]): void {
  const calls = events.map((o) => {
    const e = call(o);
    return { event: e, raw: JSON.stringify(e), price: pricer.price(e) };
  });
  store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
}

/** `n` calls spread over `[from, to)`. */
export function spread(n: number, from: number, to: number, over: Partial<CallEvent> = {}): Partial<CallEvent>[] {
  return Array.from({ length: n }, (_, i) => ({ ...over, ts: Math.floor(from + ((to - from) * i) / n) }));
}

export function rulesFrom(yaml: string): Rule[] {
  return parseRuleFile(yaml, 'test.yaml');
}

export function errorCall(errorType = 'overloaded_error', over: Partial<CallEvent> = {}): Partial<CallEvent> {
  return { status: 'error', http_status: 529, error_type: errorType, stop_reason: null, usage: null, ...over };
}
