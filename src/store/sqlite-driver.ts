/**
 * better-sqlite3, loaded when a store or the alert state is first opened, not when a module is
 * imported. It is an optional dependency: a native module, it needs a prebuilt binary (from
 * GitHub) or a C++ toolchain to install, and an app that only uses the emitter must install
 * anywhere. Where it did not install, only what opens a SQLite file fails, with how to fix it.
 */
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

type DatabaseConstructor = typeof Database;

let loaded: DatabaseConstructor | undefined;

/** Why the driver cannot be used, as the user should read it. */
export class SqliteDriverMissingError extends Error {
  readonly code = 'E_SQLITE_DRIVER_MISSING';
  constructor(cause: unknown) {
    super(
      'the embedded store needs the better-sqlite3 package, whose native module is not installed here ' +
        '(an optional dependency: npm leaves it out when its build fails). Where a C++ toolchain (make, g++, python3) ' +
        'or its prebuilt binaries on GitHub are reachable, run `npm install better-sqlite3@12` (or `npm rebuild better-sqlite3` ' +
        'if it is there); an npm that runs only approved install scripts (npm 12) needs `npm approve-scripts better-sqlite3` first. ' +
        'The emitter does not need it.',
      { cause },
    );
    this.name = 'SqliteDriverMissingError';
  }
}

/** Whether `err` says the package or its native binary is missing (not some other failure). */
export function isMissingDriver(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  return (e?.code === 'MODULE_NOT_FOUND' && message.includes('better-sqlite3')) || /Could not locate the bindings file|better_sqlite3\.node/.test(message);
}

/** The driver's `Database` class, loaded once (through `load`, which tests give; then nothing is kept). */
export function sqliteDriver(load?: (id: string) => unknown): DatabaseConstructor {
  if (load === undefined && loaded !== undefined) return loaded;
  let driver: DatabaseConstructor;
  try {
    driver = (load ?? createRequire(import.meta.url))('better-sqlite3') as DatabaseConstructor;
  } catch (err: unknown) {
    throw isMissingDriver(err) ? new SqliteDriverMissingError(err) : err;
  }
  if (load === undefined) loaded = driver;
  return driver;
}

/**
 * `new Database(path, options)`, through {@link sqliteDriver}: a missing native binary is only found when a file is opened.
 * SQLite reads the file's header only at the first statement, so a file that is not a SQLite
 * database (or is damaged) is found here by reading its schema version, and named:
 * `/home/u/.claudescope/data/claudescope.db: file is not a database` rather than the bare message.
 */
export function openDatabase(path: string, options?: Database.Options): Database.Database {
  const Driver = sqliteDriver();
  let db: Database.Database;
  try {
    db = new Driver(path, options);
  } catch (err: unknown) {
    throw isMissingDriver(err) ? new SqliteDriverMissingError(err) : err;
  }
  try {
    db.pragma('schema_version', { simple: true });
  } catch (err: unknown) {
    db.close();
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      throw Object.assign(new Error(`${path}: ${(err as Error).message}`, { cause: err }), { code });
    }
    throw err;
  }
  return db;
}
