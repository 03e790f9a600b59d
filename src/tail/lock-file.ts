/**
 * One daemon owns a data folder: a lock file holding the owner's pid, created whole and
 * exclusively (see {@link acquireLock}).
 *
 * A lock left by a dead process (SIGKILL, power loss) is stale: it is taken over, so a crash
 * never needs manual cleanup. A live owner makes a second daemon fail with a clear error.
 */
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

export class DataDirLockedError extends Error {
  readonly code = 'E_DATA_DIR_LOCKED';
  constructor(readonly lockPath: string, readonly ownerPid: number) {
    super(`another claudescope daemon (pid ${ownerPid}) owns this data folder (lock ${lockPath}); stop it first`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How old a lock file holding no pid must be to count as stale (a writer of one fills it at once). */
const UNREADABLE_STALE_MS = 5000;

/** The pid a lock file holds; NaN when it is gone or holds none. */
function ownerOf(path: string): number {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : NaN;
  } catch {
    return NaN;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Takes the lock or throws {@link DataDirLockedError}.
 *
 * The lock file appears whole: the pid is written to a file of this process first, which is
 * then hard-linked to the lock's name (failing if that exists), so no other daemon ever reads
 * it empty (which would pass for a dead owner). A stale lock is moved aside by a rename (one
 * daemon gets it) and removed only if what moved is still the dead owner's; a lock a live
 * daemon took meanwhile is put back, and this one fails.
 */
export function acquireLock(path: string): DataDirLock {
  const mine = `${path}.${process.pid}.new`;
  writeFileSync(mine, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(mine, path);
        return held(path);
      } catch (err: unknown) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = ownerOf(path);
      if (owner === process.pid || pidAlive(owner)) throw new DataDirLockedError(path, owner);
      // No pid in it: an older daemon writing it now, or one that died before it could.
      if (Number.isNaN(owner) && ageMs(path) < UNREADABLE_STALE_MS) throw new DataDirLockedError(path, owner);
      const aside = `${path}.${process.pid}.stale`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // another daemon moved it first
      }
      const moved = ownerOf(aside);
      if (moved !== owner && pidAlive(moved)) {
        // A live daemon took the lock between our read and the rename: give it back.
        try {
          linkSync(aside, path);
        } catch {
          // a third daemon holds the name now; the live one keeps running on its own
        }
        unlinkSync(aside);
        throw new DataDirLockedError(path, moved);
      }
      unlinkSync(aside);
    }
    throw new DataDirLockedError(path, ownerOf(path));
  } finally {
    try {
      unlinkSync(mine);
    } catch {
      // already gone
    }
  }
}

function held(path: string): DataDirLock {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        if (ownerOf(path) === process.pid) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
