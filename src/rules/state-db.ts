/**
 * Durable alert state: the alerts (pending, firing, recently resolved), the notification log
 * (what each notifier was last told about each group) and silences, in one SQLite file
 * (`<home>/data/alerts.db`). A restart reloads all three, so it neither forgets a firing
 * alert nor notifies it again.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../store/sqlite-driver.js';

export type AlertStateName = 'pending' | 'firing' | 'resolved';

export interface AlertRecord {
  fingerprint: string;
  rule: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: AlertStateName;
  value: number | null;
  /**
   * `value` as its rule's kind read it when the engine recorded it (`0.0315%`, `800ms`), for
   * what shows the state without the rules; null when the value is, or the row was written
   * by a release that did not keep it.
   */
  valueText: string | null;
  /** When the condition became true (start of pending). */
  activeAt: number;
  /** When it started firing. */
  firedAt: number | null;
  /** Last evaluation at which the condition was true (for keep_firing_for). */
  lastActiveAt: number;
  resolvedAt: number | null;
  /** Repeat interval of the rule, when it overrides the notifier's. */
  repeatIntervalMs: number | null;
}

/** What one notifier was last told about one group. */
export interface LogEntry {
  receiver: string;
  groupKey: string;
  sentAt: number;
  /** The alerts notified as firing, by fingerprint. */
  firing: Record<string, { labels: Record<string, string>; annotations: Record<string, string>; startsAt: number }>;
}

export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

/**
 * Versioned migrations of the state file, applied in order; the applied version is SQLite's
 * `PRAGMA user_version`. Files written before versioning are at 0 and hold version 1's tables
 * already (hence its IF NOT EXISTS). Never edit a released migration: append a new one.
 */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE IF NOT EXISTS alerts (
        fingerprint TEXT PRIMARY KEY, rule TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,
        state TEXT NOT NULL, value REAL, active_at INTEGER NOT NULL, fired_at INTEGER, last_active_at INTEGER NOT NULL,
        resolved_at INTEGER, repeat_interval_ms INTEGER
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS notification_log (
        receiver TEXT NOT NULL, group_key TEXT NOT NULL, sent_at INTEGER NOT NULL, firing TEXT NOT NULL,
        PRIMARY KEY (receiver, group_key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS silences (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,
        created_by TEXT NOT NULL, comment TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    // Each alert's value as its rule's kind reads it, from the evaluation that recorded it:
    // what reads the state alone (`claudescope alerts`) may not know the daemon's rules. A
    // table of its own, not a column of `alerts`: earlier releases write `alerts` rows by
    // position, and a column more would fail their every write after a downgrade. A text is
    // kept with the value it was made from, so one that such a release left behind its
    // alert's value is not read.
    version: 2,
    sql: 'CREATE TABLE alert_value_texts (fingerprint TEXT PRIMARY KEY, value REAL, text TEXT NOT NULL) WITHOUT ROWID',
  },
];

const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies pending migrations, each in its own IMMEDIATE transaction that reads the version
 * again: the daemon and `claudescope silence` may open an older file at the same time, and
 * the second must not apply a migration the first has just applied.
 */
function migrate(db: Database.Database): void {
  checkVersion(db);
  for (const m of MIGRATIONS) {
    db.transaction(() => {
      if ((db.pragma('user_version', { simple: true }) as number) >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

/** Refuses a file a newer release has migrated: its rows may not mean what this one reads. */
function checkVersion(db: Database.Database): void {
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v > LATEST_VERSION) throw new Error(`alert state schema version ${v} is newer than this release knows (${LATEST_VERSION})`);
}

interface AlertRow {
  fingerprint: string; rule: string; labels: string; annotations: string; state: AlertStateName; value: number | null;
  active_at: number; fired_at: number | null; last_active_at: number; resolved_at: number | null; repeat_interval_ms: number | null;
  value_text: string | null;
}

export class StateDb {
  private constructor(readonly db: Database.Database, private readonly hasValueTexts: boolean) {}

  /** Opens (creating) the state file; `:memory:` for a throwaway state (CLI eval, rule tests). */
  static open(path: string, opts: { readonly?: boolean } = {}): StateDb {
    const ro = opts.readonly ?? false;
    const db = openDatabase(path, ro ? { readonly: true, fileMustExist: true } : {});
    db.pragma('busy_timeout = 5000');
    if (ro) {
      checkVersion(db);
    } else {
      if (path !== ':memory:') db.pragma('journal_mode = WAL');
      migrate(db);
    }
    // Read-only, a file the daemon has not migrated yet has no texts.
    const hasValueTexts = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_value_texts'").get() !== undefined;
    return new StateDb(db, hasValueTexts);
  }

  loadAlerts(): AlertRecord[] {
    const sql = this.hasValueTexts
      ? 'SELECT a.*, t.text AS value_text FROM alerts a LEFT JOIN alert_value_texts t ON t.fingerprint = a.fingerprint AND t.value IS a.value'
      : 'SELECT *, NULL AS value_text FROM alerts';
    return (this.db.prepare(sql).all() as AlertRow[]).map((r) => ({
      fingerprint: r.fingerprint, rule: r.rule, labels: JSON.parse(r.labels) as Record<string, string>,
      annotations: JSON.parse(r.annotations) as Record<string, string>, state: r.state, value: r.value, valueText: r.value_text, activeAt: r.active_at,
      firedAt: r.fired_at, lastActiveAt: r.last_active_at, resolvedAt: r.resolved_at, repeatIntervalMs: r.repeat_interval_ms,
    }));
  }

  /** Writes changed alerts and deletes dropped ones in one transaction. */
  saveAlerts(upserts: AlertRecord[], deletes: string[]): void {
    const up = this.db.prepare(`INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const del = this.db.prepare('DELETE FROM alerts WHERE fingerprint = ?');
    const upText = this.db.prepare('INSERT OR REPLACE INTO alert_value_texts VALUES (?, ?, ?)');
    const delText = this.db.prepare('DELETE FROM alert_value_texts WHERE fingerprint = ?');
    this.db.transaction(() => {
      for (const a of upserts) {
        up.run(a.fingerprint, a.rule, JSON.stringify(a.labels), JSON.stringify(a.annotations), a.state, a.value, a.activeAt,
          a.firedAt, a.lastActiveAt, a.resolvedAt, a.repeatIntervalMs);
        if (a.valueText === null) delText.run(a.fingerprint);
        else upText.run(a.fingerprint, a.value, a.valueText);
      }
      for (const f of deletes) {
        del.run(f);
        delText.run(f);
      }
    })();
  }

  loadLog(): LogEntry[] {
    return (this.db.prepare('SELECT * FROM notification_log').all() as { receiver: string; group_key: string; sent_at: number; firing: string }[])
      .map((r) => ({ receiver: r.receiver, groupKey: r.group_key, sentAt: r.sent_at, firing: JSON.parse(r.firing) as LogEntry['firing'] }));
  }

  /** Records a delivered notification; an entry with nothing firing is removed. */
  saveLog(e: LogEntry): void {
    if (Object.keys(e.firing).length === 0) {
      this.db.prepare('DELETE FROM notification_log WHERE receiver = ? AND group_key = ?').run(e.receiver, e.groupKey);
    } else {
      this.db.prepare('INSERT OR REPLACE INTO notification_log VALUES (?, ?, ?, ?)').run(e.receiver, e.groupKey, e.sentAt, JSON.stringify(e.firing));
    }
  }

  addSilence(s: Silence): void {
    this.db.prepare('INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?)').run(s.id, JSON.stringify(s.matchers), s.startsAt, s.endsAt, s.createdBy, s.comment);
  }

  /**
   * The full id of the silence `id` names: its own id, or a prefix of it that names no other
   * active one (as `silence list` shows ids); null when none or several match.
   */
  silenceIdFor(id: string, now: number): string | null {
    if (id === '') return null;
    if (this.db.prepare('SELECT 1 FROM silences WHERE id = ?').get(id) !== undefined) return id;
    // A prefix names one of the active silences (the expired ones, kept a while, do not count).
    const matches = this.db.prepare('SELECT id FROM silences WHERE substr(id, 1, ?) = ? AND ends_at > ?').pluck().all(id.length, id, now) as string[];
    return matches.length === 1 ? matches[0]! : null;
  }

  /**
   * Ends a silence now, named by its id or by a prefix of it that names no other active one
   * ({@link silenceIdFor}); false when none or several match.
   */
  expireSilence(id: string, now: number): boolean {
    const target = this.silenceIdFor(id, now);
    if (target === null) return false;
    return this.db.prepare('UPDATE silences SET ends_at = MIN(ends_at, ?) WHERE id = ?').run(now, target).changes > 0;
  }

  silences(): Silence[] {
    return (this.db.prepare('SELECT * FROM silences ORDER BY starts_at').all() as { id: string; matchers: string; starts_at: number; ends_at: number; created_by: string; comment: string }[])
      .map((r) => ({ id: r.id, matchers: JSON.parse(r.matchers) as Matcher[], startsAt: r.starts_at, endsAt: r.ends_at, createdBy: r.created_by, comment: r.comment }));
  }

  /** Drops silences that ended more than `keepMs` ago. */
  pruneSilences(now: number, keepMs: number): void {
    this.db.prepare('DELETE FROM silences WHERE ends_at < ?').run(now - keepMs);
  }

  close(): void {
    this.db.close();
  }
}
